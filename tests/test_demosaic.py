import colour_demosaicing as cd
import numpy as np
import pytest
import torch

from ispsim.errors import ShapeError
from ispsim.stages import cfa, demosaic

from .conftest import PATTERNS

REFERENCE = {"bilinear": cd.demosaicing_CFA_Bayer_bilinear, "malvar2004": cd.demosaicing_CFA_Bayer_Malvar2004}
BORDER = {"bilinear": 1, "malvar2004": 2}


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", demosaic.METHODS)
def test_interior_matches_colour_demosaicing(rng, pattern, method):
    raw = rng.random((1, 24, 30)).astype(np.float32)
    ours = demosaic.demosaic(raw, pattern, method)
    ref = REFERENCE[method](raw[0].astype(np.float64), pattern).transpose(2, 0, 1)
    b = BORDER[method]
    np.testing.assert_allclose(ours[:, b:-b, b:-b], ref[:, b:-b, b:-b], atol=2e-7)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", demosaic.METHODS)
def test_backends_agree(rng, pattern, method):
    raw = rng.random((2, 1, 16, 22)).astype(np.float32)
    a = demosaic.demosaic(raw, pattern, method)
    b = demosaic.demosaic(torch.from_numpy(raw), pattern, method).numpy()
    assert a.shape == (2, 3, 16, 22) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=5e-7)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("method", demosaic.METHODS)
def test_borders_keep_flat_fields_flat(pattern, method):
    # A grey card must demosaic to grey everywhere, corners included.
    raw = np.full((1, 10, 14), 0.37, np.float32)
    out = demosaic.demosaic(raw, pattern, method)
    np.testing.assert_allclose(out, 0.37, atol=1e-6)
    # And a per-colour flat field to that colour.
    rgb = np.stack([np.full((10, 14), v, np.float32) for v in (0.2, 0.5, 0.8)])
    out = demosaic.demosaic(cfa.mosaic(rgb, pattern), pattern, method)
    np.testing.assert_allclose(out, rgb, atol=1e-6)


@pytest.mark.parametrize("method", demosaic.METHODS)
def test_remosaic_is_exact_left_inverse(rng, method):
    raw = rng.random((1, 12, 12)).astype(np.float32)
    np.testing.assert_array_equal(demosaic.remosaic(demosaic.demosaic(raw, "GBRG", method), "GBRG"), raw)


@pytest.mark.parametrize("method", demosaic.METHODS)
def test_gradcheck(method):
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: demosaic.demosaic(v, "RGGB", method), (x,))


def test_hdr_values_survive():
    raw = np.full((1, 8, 8), 3.5, np.float32)
    assert demosaic.demosaic(raw, "RGGB", "malvar2004").max() == pytest.approx(3.5)


def test_unknown_method():
    with pytest.raises(ValueError, match="bilinear, malvar2004"):
        demosaic.demosaic(np.zeros((1, 4, 4), np.float32), "RGGB", "ahd")
    with pytest.raises(ShapeError):
        demosaic.demosaic(np.zeros((3, 4, 4), np.float32), "RGGB")
