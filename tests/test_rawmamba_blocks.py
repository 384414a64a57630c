"""LTA-Mamba's blocks: the bidirectional Mamba on both scans, scan orders, the Eq. (15) block."""

import numpy as np
import pytest
import torch

from ispsim.methods.rawmamba import blocks
from ispsim.methods.rawmamba.ssm import selective_scan_sequential


def _sequential(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    return selective_scan_sequential(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


def test_bimamba_fast_scan_equals_the_sequential_recurrence_forward_and_backward(monkeypatch):
    torch.manual_seed(0)
    m = blocks.BiMamba(8, d_state=4).double()
    x = torch.randn(2, 37, 8, dtype=torch.float64, requires_grad=True)
    fast = m(x)
    (gx_fast,) = torch.autograd.grad(fast.square().sum(), x)
    monkeypatch.setattr(blocks, "scan", _sequential)
    slow = m(x)
    (gx_slow,) = torch.autograd.grad(slow.square().sum(), x)
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(gx_fast, gx_slow, rtol=1e-9, atol=1e-10)


def test_bimamba_sees_both_directions():
    torch.manual_seed(0)
    m = blocks.BiMamba(8, d_state=4)
    x = torch.randn(1, 20, 8, requires_grad=True)
    y = m(x)
    (first,) = torch.autograd.grad(y[0, 0].sum(), x, retain_graph=True)
    (last,) = torch.autograd.grad(y[0, -1].sum(), x)
    assert first[0, -1].abs().sum() > 0 and last[0, 0].abs().sum() > 0  # a one-way scan has one of these zero


@pytest.mark.parametrize("shape", [(1, 6, 10), (3, 5, 7), (4, 8, 8)])
def test_local_order_is_a_bijection_of_any_grid(shape):
    order = blocks.local_order(shape)
    assert sorted(order.tolist()) == list(range(int(np.prod(shape))))


def test_local_order_keeps_hilbert_neighbours_on_power_of_two_grids():
    order = blocks.local_order((2, 8, 8))
    coords = np.stack(np.unravel_index(order, (2, 8, 8)), axis=1)
    assert (np.abs(np.diff(coords, axis=0)).sum(axis=1) == 1).all()


def test_scan_block_is_eq15_on_the_reordered_sequence():
    torch.manual_seed(0)
    block = blocks.ScanBlock(8, "hilbert", d_state=4).double()
    f = torch.randn(2, 8, 2, 4, 6, dtype=torch.float64)
    order = torch.from_numpy(blocks.local_order((2, 4, 6)))
    seq = f.flatten(2)[:, :, order].transpose(1, 2)
    seq = seq + block.ssm(block.norm1(seq))
    f1 = seq.transpose(1, 2)[:, :, torch.argsort(order)].reshape(f.shape)
    expected = f1 + block.dwc(block.norm2(f1.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3))
    torch.testing.assert_close(block(f), expected)


def test_lta_mamba_and_decoder_shapes_and_gradients():
    torch.manual_seed(0)
    net = torch.nn.Sequential(blocks.LTAMamba(8, d_state=4), blocks.Decoder3D(8, 3, ups=2))
    f = torch.randn(1, 8, 3, 5, 6, requires_grad=True)
    out = net(f)
    assert out.shape == (1, 3, 3, 20, 24)
    out.mean().backward()
    assert torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
    ablated = blocks.LTAMamba(8, local=False, global_=False)
    torch.testing.assert_close(ablated(f), f)
