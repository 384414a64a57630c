import pytest
import torch

from ispsim.methods.rawmamba.ssm import mamba_kernels, scan, selective_scan, selective_scan_sequential


def inputs(b=2, d=5, n=4, length=150, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)  # noqa: E731
    return dict(u=r(b, d, length), delta=r(b, d, length), A=-torch.exp(r(d, n)), B=r(b, n, length),
                C=r(b, n, length), D=r(d), z=r(b, d, length), delta_bias=r(d), delta_softplus=True)


@pytest.mark.parametrize("chunk", [1, 2, 7, 16, 400])
def test_chunked_scan_equals_sequential_forward_and_backward(chunk):
    x = inputs()
    for v in x.values():
        if torch.is_tensor(v):
            v.requires_grad_(True)
    fast, h_fast = selective_scan(**x, chunk=chunk, return_last_state=True)
    slow, h_slow = selective_scan_sequential(**x, return_last_state=True)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h_fast, h_slow, rtol=1e-10, atol=1e-10)
    w = torch.randn_like(fast)
    tensors = [v for v in x.values() if torch.is_tensor(v)]
    g_fast = torch.autograd.grad((fast * w).sum(), tensors)
    g_slow = torch.autograd.grad((slow * w).sum(), tensors)
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


def test_gradcheck_small():
    x = inputs(b=1, d=2, n=3, length=9)
    for key in ("u", "delta", "B", "C"):
        x[key].requires_grad_(True)
    f = lambda u, delta, B, C: selective_scan(u, delta, x["A"], B, C, x["D"], x["z"], x["delta_bias"], True, chunk=4)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x["u"], x["delta"], x["B"], x["C"]))


def test_strong_decay_stays_finite():
    x = inputs(length=200)
    x["A"] = -torch.full_like(x["A"], 50.0)
    x["delta"] = torch.full_like(x["delta"], 5.0)
    y = selective_scan(**x)
    assert torch.isfinite(y).all()


def test_dispatch_on_cpu_uses_the_pytorch_scan():
    x = inputs(dtype=torch.float32, length=20)
    torch.testing.assert_close(scan(**x), selective_scan(**x))


@pytest.mark.skipif(mamba_kernels() is None, reason="mamba-ssm's kernels are not installed (GPU extra)")
def test_against_mamba_ssm_reference():
    from mamba_ssm.ops.selective_scan_interface import selective_scan_ref

    x = inputs(dtype=torch.float32, length=64)
    torch.testing.assert_close(selective_scan(**x), selective_scan_ref(**x), rtol=1e-4, atol=1e-4)


def test_three_levels_of_segments_equal_sequential():
    """1000 steps in segments of 4: the boundary states recurse three levels deep."""
    x = inputs(b=1, d=3, n=2, length=1000, seed=3)
    fast, h_fast = selective_scan(**x, chunk=4, return_last_state=True)
    slow, h_slow = selective_scan_sequential(**x, return_last_state=True)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(h_fast, h_slow, rtol=1e-10, atol=1e-10)
