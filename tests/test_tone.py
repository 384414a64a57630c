import colour
import numpy as np
import pytest
import torch

from ispsim.errors import ShapeError
from ispsim.stages import tone


def both(f, x, *args, **kw):
    a = f(x, *args, **kw)
    b = f(torch.from_numpy(x), *args, **kw).numpy()
    return a, b


def test_srgb_matches_colour_science(rng):
    x = np.concatenate([np.linspace(-0.1, 1.2, 2001), rng.random(1000)]).astype(np.float32)[None, None]
    a, b = both(tone.encode_srgb, x)
    ref = colour.models.eotf_inverse_sRGB(x.astype(np.float64))
    np.testing.assert_allclose(a, ref, atol=2e-6)
    np.testing.assert_allclose(b, ref, atol=2e-6)
    y = a.clip(0, 1)
    ref = colour.models.eotf_sRGB(y.astype(np.float64))
    for out in both(tone.decode_srgb, y):
        np.testing.assert_allclose(out, ref, atol=2e-6)


def test_gamma_with_eps_is_rddm_eq10():
    x = np.array([[[0.0, 1e-12, 0.25, 1.0]]], np.float32)
    a, b = both(tone.encode_gamma, x)
    expected = np.maximum(x.astype(np.float64), 1e-8) ** (1 / 2.2)
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    np.testing.assert_allclose(b, expected, rtol=1e-6)


@pytest.mark.parametrize("s", [0.0, 0.3, 0.85, 1.0])
def test_curve_inverse(rng, s):
    x = rng.random((3, 16, 16)).astype(np.float32)
    for backend in (np.asarray, torch.from_numpy):
        y = tone.apply_curve(backend(x), s)
        back = np.asarray(tone.invert_curve(y, s))
        # Slope 0 at the ends when s = 1 costs float32 precision there.
        np.testing.assert_allclose(back, x, atol=2e-4 if s == 1 else 2e-6)


def test_curve_closed_form():
    x = np.array([[[0.0, 0.25, 0.5, 1.0]]], np.float32)
    np.testing.assert_allclose(tone.apply_curve(x, 1.0), [[[0.0, 0.15625, 0.5, 1.0]]], atol=1e-7)


def test_local_tone_backends_and_inverse(rng):
    x = (rng.random((2, 3, 40, 56)) ** 2 * 1.5).astype(np.float32)
    a, b = both(tone.apply_local, x, 0.5, radius=6)
    np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)
    assert np.abs(a - x).max() > 0.1  # it does something
    for backend in (np.asarray, torch.from_numpy):
        back = np.asarray(tone.invert_local(backend(a), 0.5, radius=6))
        np.testing.assert_allclose(back, x, rtol=2e-5, atol=2e-6)


def test_local_tone_compresses_dynamic_range():
    # A dark half and a bright half: the ratio shrinks, flat regions stay flat.
    x = np.ones((3, 32, 64), np.float32) * 0.02
    x[..., 32:] = 0.8
    y = tone.apply_local(x, 0.5, radius=8)
    assert y[0, 16, 50] / y[0, 16, 10] < 0.8 / 0.02
    assert np.ptp(y[:, 8:24, 50:62]) < 1e-5  # beyond the filter's reach (2r) from the edge


def test_box_filter_against_scipy(rng):
    from scipy.ndimage import uniform_filter

    from ispsim.stages.tone import _numba

    img = rng.random((1, 30, 41))
    ours = _numba._box(img, 3)
    ones = _numba._box(np.ones_like(img), 3)
    # uniform_filter with zero padding, divided by the window's count inside the image.
    ref = uniform_filter(img, size=(1, 7, 7), mode="constant") / uniform_filter(np.ones_like(img), size=(1, 7, 7), mode="constant")
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    np.testing.assert_allclose(ones, 1.0)


@pytest.mark.parametrize("f,kw", [
    (tone.encode_srgb, {}), (tone.decode_srgb, {}), (tone.encode_gamma, {}), (tone.decode_gamma, {}),
    (tone.apply_curve, {"strength": 0.7}), (tone.invert_curve, {"strength": 0.7}),
])
def test_gradcheck_and_finite_gradients_at_thresholds(f, kw):
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64) * 0.8 + 0.1
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: f(v, **kw), (x,))
    # 0, the sRGB knees and 1: gradients stay finite.
    edge = torch.tensor([[[0.0, 0.0031308, 0.04045, 1.0]]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(edge, **kw).sum(), edge)
    assert torch.isfinite(g).all()


def test_gradcheck_local_tone():
    x = (torch.rand(3, 10, 12, dtype=torch.float64) * 0.8 + 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: tone.apply_local(v, 0.4, radius=2), (x,))


def test_bad_strength():
    with pytest.raises(ShapeError, match="strength"):
        tone.apply_curve(np.zeros((3, 2, 2), np.float32), 1.5)
    with pytest.raises(ShapeError, match="radius"):
        tone.apply_local(np.zeros((3, 4, 4), np.float32), 0.3, radius=0)
