"""UME's embedding blocks: GEB against its closed form, LEB's flow warping, the weighted sum."""

import math

import pytest
import torch

from ispsim.methods.rawmamba.ume import GlobalEmbedding, LocalEmbedding, MetadataEmbedding, position_encoding


def test_position_encoding_closed_form():
    pe = position_encoding(8, 5, 7)
    freq = [math.exp(-math.log(10000.0) * k / 2) for k in range(2)]
    assert pe[0, 3, 4] == pytest.approx(math.sin(3 * freq[0]))
    assert pe[3, 3, 4] == pytest.approx(math.cos(3 * freq[1]))
    assert pe[5, 3, 4] == pytest.approx(math.sin(4 * freq[1]))
    assert pe[6, 3, 4] == pytest.approx(math.cos(4 * freq[0]))


def test_geb_is_softmax_affinity_over_the_stored_reference_positions():
    torch.manual_seed(0)
    f, f_ref, r_ref = torch.randn(1, 4, 6), torch.randn(1, 4, 9), torch.randn(1, 3, 9)
    valid = torch.tensor([[True, False, True, True, False, False, True, True, False]])
    out = GlobalEmbedding()(f, f_ref, r_ref, valid)
    for n in range(6):
        logits = torch.tensor([float(f[0, :, n] @ f_ref[0, :, m]) for m in range(9)])
        w = torch.where(valid[0], logits.exp(), torch.zeros(9))
        torch.testing.assert_close(out[0, :, n], (r_ref[0] * (w / w.sum())).sum(1), rtol=1e-5, atol=1e-6)
    moved = r_ref.clone()
    moved[:, :, ~valid[0]] += 100  # what the camera did not store cannot matter
    torch.testing.assert_close(GlobalEmbedding()(f, f_ref, moved, valid), out)


def test_leb_follows_the_flow_to_a_moved_reference():
    """A reference that is the query moved by (dx, dy), with that flow, reads what an aligned
    reference reads without flow (away from the borders, where nothing is clamped)."""
    torch.manual_seed(0)
    leb = LocalEmbedding(8, heads=2, points=3)
    f = torch.randn(1, 8, 16, 16)
    r = torch.randn(1, 8, 16, 16)
    dx, dy = 3, -2
    shift = lambda t: torch.roll(t, shifts=(dy, dx), dims=(2, 3))  # noqa: E731  ref(p + d) = t(p)
    flow = torch.tensor([dx, dy], dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, 16, 16)
    aligned = leb(f, f, r)
    moved = leb(f, shift(f), shift(r), flow)
    torch.testing.assert_close(moved[..., 4:-4, 4:-4], aligned[..., 4:-4, 4:-4], rtol=1e-4, atol=1e-5)
    assert (leb(f, shift(f), shift(r))[..., 4:-4, 4:-4] - aligned[..., 4:-4, 4:-4]).abs().max() > 1e-2


def test_leb_offsets_learn():
    torch.manual_seed(0)
    leb = LocalEmbedding(8, heads=2, points=3)
    f = torch.randn(2, 8, 8, 8)
    leb(f, torch.randn_like(f), torch.randn_like(f)).square().mean().backward()
    assert leb.offsets.weight.grad.abs().sum() > 0 and leb.bias.weight.grad.abs().sum() > 0


def test_metadata_embedding_branches():
    torch.manual_seed(0)
    f = torch.randn(1, 8, 6, 6)
    valid = torch.rand(1, 6, 6) > 0.5
    both = MetadataEmbedding(8, heads=2, points=2)(f, f, f, valid)
    assert both.shape == f.shape and torch.isfinite(both).all()
    only_geb = MetadataEmbedding(8, leb=False)
    torch.testing.assert_close(only_geb(f, f, f, valid), GlobalEmbedding()(f.flatten(2), f.flatten(2), f.flatten(2),
                                                                         valid.flatten(1)).view_as(f))
    with pytest.raises(ValueError, match="at least one"):
        MetadataEmbedding(8, geb=False, leb=False)
