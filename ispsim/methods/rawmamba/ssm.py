"""The selective scan (S6) of Mamba, in PyTorch, fast on the CPU.

    h_t = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t,    y_t = C_t . h_t + D * u_t

:func:`selective_scan` solves the linear recurrence in closed form inside short segments (a
cumulative sum of log decays and one of rescaled drives, in float64 so that the rescaling cannot
overflow), and the segments' boundary states by the same method one level up: O(L) elementwise
work, no Python loop over tokens (it replaced a Hillis-Steele scan with O(L log L) work, 5x slower
in RAWMamba's training step).
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


# exp(-43) is 2e-19: below float64's resolution relative to the state, so a stronger per-step
# decay is clamped to it; then a segment of 16 steps keeps |cumulative log decay| <= 688 < 709,
# where exp() stays finite in float64.
_MIN_LOG_DECAY = -43.0
_SEGMENT = 16


def _states(log_decay: torch.Tensor, drive: torch.Tensor, segment: int) -> torch.Tensor:
    """All states ``(B, D, L, N)`` of ``h_t = exp(log_decay_t) h_{t-1} + drive_t`` from ``h_0 = 0``.

    Inside a segment, with ``S`` the cumulative log decay since its start,
    ``h_t = exp(S_t) * cumsum(exp(-S) drive)_t + exp(S_t) h_in``; the states entering the segments
    follow the same recurrence one level up (segment ends), solved by recursion. O(L) work."""
    log_decay = log_decay.clamp(min=_MIN_LOG_DECAY)
    b, d, length, n = drive.shape
    if length <= segment:
        s = log_decay.cumsum(2)
        return torch.exp(s) * torch.cumsum(torch.exp(-s) * drive, 2)
    pad = (-length) % segment
    if pad:  # zero log decay and zero drive: padded steps leave the state as it is
        log_decay, drive = (F.pad(t, (0, 0, 0, pad)) for t in (log_decay, drive))
    k = (length + pad) // segment
    s = log_decay.view(b, d, k, segment, n).cumsum(3)
    inner = torch.exp(s) * torch.cumsum(torch.exp(-s) * drive.view(b, d, k, segment, n), 3)
    ends = _states(s[:, :, :, -1], inner[:, :, :, -1], segment)  # (B, D, k, N): state after each segment
    entering = torch.cat([torch.zeros_like(ends[:, :, :1]), ends[:, :, :-1]], 2)
    states = inner + torch.exp(s) * entering[:, :, :, None]
    return states.view(b, d, k * segment, n)[:, :, :length]


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, chunk: int = _SEGMENT):
    """The scan in closed form per segment of ``chunk`` steps (2..16), in float64, no loop over
    tokens; the result has the inputs' dtype."""
    log_decay, drive = _prepare(u, delta, A, B, delta_bias, delta_softplus)
    segment = min(max(2, int(chunk)), _SEGMENT)
    states = _states(log_decay.double(), drive.double(), segment).to(drive.dtype)
    y = _finish(torch.einsum("bdtn,btn->bdt", states, C.transpose(1, 2)), u, D, z)
    return (y, states[:, :, -1]) if return_last_state else y


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
