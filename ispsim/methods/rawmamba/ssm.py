"""The selective scan (S6) of Mamba, in PyTorch, fast on the CPU.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,    y_t = C_t . h_t + D * u_t

:func:`selective_scan` is a parallel (Hillis-Steele) scan of the associative pairs
``(decay, drive)`` inside chunks of the sequence, ``log2(chunk)`` elementwise steps each; decays
lie in (0, 1], so their products never overflow; chunks pass their last state on, which bounds the
memory autograd keeps. No Python loop over tokens.
:func:`selective_scan_sequential` is the reference: the recurrence step by step. Where mamba-ssm's
CUDA kernels import and the tensors live on a GPU, :func:`scan` uses them instead.

Shapes follow mamba-ssm: ``u, delta (B, D, L)``, ``A (D, N)``, ``B, C (B, N, L)``, ``D (D,)``,
``z (B, D, L)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _prepare(u, delta, A, B, delta_bias, delta_softplus):
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    log_decay = delta.unsqueeze(-1) * A[None, :, None, :]  # (B, D, L, N)
    drive = (delta * u).unsqueeze(-1) * B.transpose(1, 2)[:, None]  # (B, D, L, N)
    return log_decay, drive


def _finish(y, u, D, z):
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y


def _shift(t, by: int, fill: float):
    """``t`` moved ``by`` steps later along the sequence axis (2), the first ``by`` set to ``fill``."""
    pad = torch.full_like(t[:, :, :by], fill)
    return torch.cat([pad, t[:, :, :-by]], dim=2)


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, chunk: int = 256):
    log_decay, drive = _prepare(u, delta, A, B, delta_bias, delta_softplus)
    b, d, length, n = drive.shape
    h = drive.new_zeros(b, d, n)
    c = C.transpose(1, 2)  # (B, L, N)
    ys = []
    for start in range(0, length, chunk):
        a = torch.exp(log_decay[:, :, start:start + chunk])  # decays in (0, 1]: products never overflow
        x = drive[:, :, start:start + chunk]
        # Hillis-Steele scan of (a, x) o (a', x') = (a a', a x' + x): log2(chunk) elementwise steps.
        step = 1
        while step < a.shape[2]:
            x = x + a * _shift(x, step, 0.0)
            a = a * _shift(a, step, 1.0)
            step *= 2
        states = x + a * h[:, :, None, :]  # a is now the decay since the chunk's start
        ys.append(torch.einsum("bdtn,btn->bdt", states, c[:, start:start + chunk]))
        h = states[:, :, -1]
    y = _finish(torch.cat(ys, dim=2), u, D, z)
    return (y, h) if return_last_state else y


def selective_scan_sequential(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                              return_last_state=False):
    """The recurrence one step at a time (the reference the fast scan is tested against)."""
    log_decay, drive = _prepare(u, delta, A, B, delta_bias, delta_softplus)
    h = drive.new_zeros(drive.shape[0], drive.shape[1], drive.shape[3])
    ys = []
    for t, (a, x) in enumerate(zip(log_decay.unbind(2), drive.unbind(2))):
        h = torch.exp(a) * h + x
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = _finish(torch.stack(ys, dim=2), u, D, z)
    return (y, h) if return_last_state else y


def mamba_kernels():
    """mamba-ssm's fused scan when it imports (it needs CUDA and triton), else None."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or its CUDA extension failing to load
        return None
    return selective_scan_fn


def scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Dispatch: mamba-ssm's CUDA kernel for GPU tensors when installed, else :func:`selective_scan`."""
    if u.is_cuda:
        fn = mamba_kernels()
        if fn is not None:
            return fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
    return selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
