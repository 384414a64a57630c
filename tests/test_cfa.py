import colour_demosaicing as cd
import numpy as np
import pytest
import torch

from ispsim.errors import ShapeError
from ispsim.stages import cfa

from .conftest import PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
def test_mosaic_matches_colour_demosaicing(rng, pattern):
    rgb = rng.random((3, 12, 18)).astype(np.float32)
    ref = cd.mosaicing_CFA_Bayer(rgb.transpose(1, 2, 0), pattern)
    np.testing.assert_array_equal(cfa.mosaic(rgb, pattern)[0], ref.astype(np.float32))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_masks_match_colour_demosaicing(pattern):
    ours = cfa.masks(pattern, 6, 8)
    ref = cd.masks_CFA_Bayer((6, 8), pattern)
    for c in range(3):
        np.testing.assert_array_equal(ours[c], ref[c])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pack_is_canonical_order(pattern):
    # Paint each colour with its own value; greens by row parity of the red row.
    rgb = np.stack([np.full((4, 6), v, np.float32) for v in (1.0, 2.0, 3.0)])
    packed = cfa.pack(cfa.mosaic(rgb, pattern), pattern)
    assert packed.shape == (4, 2, 3)
    np.testing.assert_array_equal(packed[:, 0, 0], [1.0, 2.0, 2.0, 3.0])
    ry, rx = cfa.packed_offsets(pattern)[0]
    gy, gx = cfa.packed_offsets(pattern)[1]
    assert gy == ry and gx != rx  # Gr shares the red row


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pack_unpack_round_trip_both_backends(rng, pattern):
    raw = rng.random((2, 5, 1, 8, 10)).astype(np.float32)
    np.testing.assert_array_equal(cfa.unpack(cfa.pack(raw, pattern), pattern), raw)
    t = torch.from_numpy(raw)
    np.testing.assert_array_equal(cfa.pack(t, pattern).numpy(), cfa.pack(raw, pattern))
    np.testing.assert_array_equal(cfa.unpack(cfa.pack(t, pattern), pattern).numpy(), raw)
    rgb = rng.random((3, 3, 8, 10)).astype(np.float32)
    np.testing.assert_array_equal(cfa.mosaic(torch.from_numpy(rgb), pattern).numpy(), cfa.mosaic(rgb, pattern))


def test_bad_input():
    with pytest.raises(ShapeError, match="RGGB, BGGR, GRBG, GBRG"):
        cfa.mosaic(np.zeros((3, 4, 4), np.float32), "RGBG")
    with pytest.raises(ShapeError, match="even height and width"):
        cfa.pack(np.zeros((1, 5, 4), np.float32), "RGGB")
    with pytest.raises(ShapeError, match=r"1 channels.*\(2, 4, 4\)"):
        cfa.pack(np.zeros((2, 4, 4), np.float32), "RGGB")
    with pytest.raises(ShapeError, match="floating-point"):
        cfa.pack(np.zeros((1, 4, 4), np.uint16), "RGGB")


def test_gradient_flows_through_pack():
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: cfa.pack(v, "GRBG"), (x,))
    rgb = torch.rand(3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: cfa.mosaic(v, "BGGR"), (rgb,))
