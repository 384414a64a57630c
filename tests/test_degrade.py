import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from ispsim.errors import ShapeError
from ispsim.stages import degrade


def test_gaussian_kernel_matches_scipy(rng):
    x = rng.random((1, 40, 40))
    k = degrade.gaussian_kernel(21, 1.7)
    ours = degrade.blur(x, k)
    ref = gaussian_filter(x[0], 1.7, mode="mirror", truncate=10 / 1.7)
    np.testing.assert_allclose(ours[0], ref, atol=1e-4)  # scipy samples the same Gaussian, renormalised


def test_anisotropic_kernel_rotates():
    k = degrade.gaussian_kernel(11, 3.0, 0.5, 0.0)
    assert k[5, :].sum() > k[:, 5].sum()
    np.testing.assert_allclose(degrade.gaussian_kernel(11, 3.0, 0.5, np.pi / 2), k.T, atol=1e-12)


@pytest.mark.parametrize("method", degrade.RESIZE_METHODS)
def test_resize_backends_agree_and_match_torch(rng, method):
    x = rng.random((2, 3, 24, 36)).astype(np.float32)
    a = degrade.resize(x, (16, 20), method)
    b = degrade.resize(torch.from_numpy(x), (16, 20), method).numpy()
    np.testing.assert_allclose(a, b, atol=2e-6)
    if method == "bilinear":
        ref = F.interpolate(torch.from_numpy(x), size=(16, 20), mode="bilinear", align_corners=False).numpy()
        np.testing.assert_allclose(a, ref, atol=2e-6)
    if method == "area":
        ref = F.interpolate(torch.from_numpy(x), size=(12, 18), mode="area").numpy()
        np.testing.assert_allclose(degrade.resize(x, (12, 18), "area"), ref, atol=2e-6)
    if method == "bicubic":
        up = degrade.resize(x, (48, 72), "bicubic")
        ref = F.interpolate(torch.from_numpy(x), size=(48, 72), mode="bicubic", align_corners=False).numpy()
        np.testing.assert_allclose(up[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=2e-6)


def test_blur_backends_and_gradcheck(rng):
    x = rng.random((3, 16, 16)).astype(np.float32)
    k = degrade.gaussian_kernel(7, 1.2, 0.6, 0.3)
    np.testing.assert_allclose(degrade.blur(x, k), degrade.blur(torch.from_numpy(x), k).numpy(), atol=1e-6)
    xt = torch.rand(1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: degrade.blur(v, degrade.gaussian_kernel(3, 0.8)), (xt,))
    assert torch.autograd.gradcheck(lambda v: degrade.resize(v, (5, 6), "bicubic"), (xt,))


def test_bad_input():
    with pytest.raises(ShapeError, match="odd"):
        degrade.gaussian_kernel(4, 1.0)
    with pytest.raises(ShapeError, match="too large"):
        degrade.blur(np.zeros((1, 4, 4), np.float32), degrade.gaussian_kernel(21, 1.0))
    with pytest.raises(ValueError, match="bilinear, area, bicubic"):
        degrade.resize(np.zeros((1, 4, 4), np.float32), (2, 2), "lanczos")
