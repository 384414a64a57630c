"""LTA-Mamba's blocks (RAWMamba, Sec. 3.4): a bidirectional Mamba, the scan block of Eq. (15) over
a (T, H, W) feature grid in a given order, channel attention, and the local-then-global module.

The local block scans along the 3-D Hilbert order (neighbours in space and time stay close in
the sequence: local tone mapping is local); the global block puts channel attention first and
scans line by line. Both are Eq. (15): ``F1 = F + SSM(LN(F))`` on the sequence, then
``F2 = F1 + DWC(LN(F1))`` with a depth-wise 3-D convolution on the grid; the global block adds its
input's channel attention inside the last LayerNorm (Eq. 17: ``F1 + DWC(LN(F1 + CA(F)))``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .hilbert import hilbert_order, line_order
from .ssm import scan


class BiMamba(nn.Module):
    """Bidirectional Mamba (Vision Mamba): one input projection; per direction a causal depth-wise
    1-D convolution, input-dependent (delta, B, C) and a selective scan gated by ``silu(z)``; the
    two directions are summed and projected back. ``(B, L, dim) -> (B, L, dim)``."""

    def __init__(self, dim: int, d_state: int = 16, expand: int = 2, d_conv: int = 4):
        super().__init__()
        inner, self.rank, self.d_state = expand * dim, max(1, math.ceil(dim / 16)), d_state
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.conv = nn.ModuleList(nn.Conv1d(inner, inner, d_conv, padding=d_conv - 1, groups=inner) for _ in range(2))
        self.x_proj = nn.ModuleList(nn.Linear(inner, self.rank + 2 * d_state, bias=False) for _ in range(2))
        self.dt_proj = nn.ModuleList(nn.Linear(self.rank, inner) for _ in range(2))
        a = torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1)  # S4D-real init
        self.A_log = nn.ParameterList(nn.Parameter(a.clone()) for _ in range(2))
        self.D = nn.ParameterList(nn.Parameter(torch.ones(inner)) for _ in range(2))
        for proj in self.dt_proj:  # delta = softplus(bias) starts in [1e-3, 1e-1], as in Mamba
            dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
            with torch.no_grad():
                proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def _direction(self, k: int, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        u = F.silu(self.conv[k](x.transpose(1, 2))[..., :length])  # (B, inner, L), causal
        dbc = self.x_proj[k](u.transpose(1, 2))
        dt, b, c = dbc.split([self.rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj[k].weight.T).transpose(1, 2)
        y = scan(u, delta, -torch.exp(self.A_log[k]), b.transpose(1, 2), c.transpose(1, 2), self.D[k],
                 z.transpose(1, 2), delta_bias=self.dt_proj[k].bias, delta_softplus=True)
        return y.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, z = self.in_proj(x).chunk(2, dim=-1)
        y = self._direction(0, x, z) + self._direction(1, x.flip(1), z.flip(1)).flip(1)
        return self.out_proj(y)


@functools.lru_cache(maxsize=32)
def local_order(shape: tuple[int, int, int]) -> np.ndarray:
    """The Hilbert order of the smallest power-of-two box holding ``shape``, restricted to it."""
    box = tuple(1 << max(0, (s - 1).bit_length()) for s in shape)
    coords = np.unravel_index(hilbert_order(box), box)
    inside = np.all([c < s for c, s in zip(coords, shape)], axis=0)
    return np.ravel_multi_index(tuple(c[inside] for c in coords), shape)


ORDERS = {"hilbert": local_order, "line": lambda shape: line_order(shape)}


class ChannelAttention(nn.Module):
    """RCAN's channel attention: global pooling, a bottleneck, sigmoid gates per channel."""

    def __init__(self, dim: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, dim // reduction)
        self.net = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Conv3d(dim, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv3d(hidden, dim, 1), nn.Sigmoid())

    def forward(self, f):
        return f * self.net(f)


class ScanBlock(nn.Module):
    """Eq. (15) on ``(B, C, T, H, W)`` features scanned in ``order`` ("hilbert" or "line")."""

    def __init__(self, dim: int, order: str, channel_attention: bool = False, d_state: int = 16):
        super().__init__()
        self.order = order
        self.ca = ChannelAttention(dim) if channel_attention else nn.Identity()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ssm = BiMamba(dim, d_state)
        self.dwc = nn.Conv3d(dim, dim, 3, padding=1, groups=dim)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = f.shape
        order = torch.from_numpy(ORDERS[self.order]((t, h, w)))
        seq = f.flatten(2)[:, :, order].transpose(1, 2)  # (B, L, C) in scan order
        seq = seq + self.ssm(self.norm1(seq))
        f1 = torch.empty_like(seq).index_copy_(1, order, seq)  # back to grid order
        f1 = f1.transpose(1, 2).reshape(b, c, t, h, w)
        # Eq. (17): the global block's channel attention acts on its input and joins before the DWC
        inner = f1 if isinstance(self.ca, nn.Identity) else f1 + self.ca(f)
        normed = self.norm2(inner.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return f1 + self.dwc(normed)


class LTAMamba(nn.Module):
    """The local spatio-temporal block (Hilbert scan) then the global one (channel attention,
    line-by-line scan). ``local`` / ``global_`` switch either off for the paper's Table 3."""

    def __init__(self, dim: int, local: bool = True, global_: bool = True, d_state: int = 16):
        super().__init__()
        self.local = ScanBlock(dim, "hilbert", d_state=d_state) if local else nn.Identity()
        self.global_ = ScanBlock(dim, "line", channel_attention=True, d_state=d_state) if global_ else nn.Identity()

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.global_(self.local(f))


class Decoder3D(nn.Module):
    """The reconstruction decoder: 3-D convolutions and spatial upsampling to full resolution."""

    def __init__(self, dim: int, out_channels: int, ups: int):
        super().__init__()
        layers = []
        c = dim
        for _ in range(ups):
            layers += [nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=False),
                       nn.Conv3d(c, max(8, c // 2), 3, padding=1), nn.GELU()]
            c = max(8, c // 2)
        layers.append(nn.Conv3d(c, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, f):
        return self.net(f)
