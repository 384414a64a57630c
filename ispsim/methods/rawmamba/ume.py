"""UME's embedding blocks (RAWMamba, Sec. 3.3): every reference is an (sRGB, RAW) pair, and the
sRGB being de-rendered queries it.

- GEB (Eq. 9-10): ``A1 = softmax(F_srgb^T F'_srgb)`` over the reference positions (only the
  stored ones when a mask is given), ``E_global = A1 F'_raw``: which reference pixels look alike,
  wherever they are.
- LEB (Eq. 11-12): attention to the reference around each query's own position, with sinusoidal
  position encodings added to both sides. The position in the reference is the query's, moved by
  the optical flow for video; deformable attention (Deformable DETR) samples a few learned offsets
  around it, so the logits are ``(F + PE)(F' + PE')^T / sqrt(d)`` at those points plus a learned
  per-point bias (the paper's ``B``), and the values ``F'_raw + PE'`` there.
- The embedding is their learned weighted sum.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def position_encoding(dim: int, h: int, w: int, device=None) -> torch.Tensor:
    """2-D sinusoidal encoding ``(dim, h, w)``: half the channels for y, half for x."""
    quarter = dim // 4
    freq = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device) / max(1, quarter))
    ys = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freq  # (h, q)
    xs = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freq
    pe = torch.zeros(dim, h, w, device=device)
    pe[0:quarter] = ys.sin().T[:, :, None]
    pe[quarter:2 * quarter] = ys.cos().T[:, :, None]
    pe[2 * quarter:3 * quarter] = xs.sin().T[:, None, :]
    pe[3 * quarter:4 * quarter] = xs.cos().T[:, None, :]
    return pe


class GlobalEmbedding(nn.Module):
    """GEB: ``(B, C, N)`` queries over ``(B, C, M)`` reference features -> ``(B, C, N)``."""

    def forward(self, f, f_ref, r_ref, valid: torch.Tensor | None = None):
        logits = torch.einsum("bcn,bcm->bnm", f, f_ref)
        if valid is not None:  # (B, M) bool: stored reference positions
            logits = logits.masked_fill(~valid[:, None, :], float("-inf"))
        return torch.einsum("bnm,bcm->bcn", logits.softmax(dim=-1), r_ref)


class LocalEmbedding(nn.Module):
    """LEB as multi-head deformable attention over the reference maps ``(B, C, H, W)``."""

    def __init__(self, dim: int, heads: int = 4, points: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"LocalEmbedding: dim {dim} must divide into {heads} heads")
        self.dim, self.heads, self.points = dim, heads, points
        self.offsets = nn.Linear(dim, heads * points * 2)
        self.bias = nn.Linear(dim, heads * points)
        nn.init.zeros_(self.offsets.weight)
        with torch.no_grad():  # start on a ring of radius 1 around the reference point
            angle = torch.arange(heads * points, dtype=torch.float32) * (2 * math.pi / points)
            self.offsets.bias.copy_(torch.stack([angle.cos(), angle.sin()], -1).flatten())
        self.out = nn.Conv2d(dim, dim, 1)

    @staticmethod
    def _grid(points, offsets, h, w):
        """Sampling positions (pixels, (x, y)) + offsets -> grid_sample's [-1, 1] coordinates."""
        pts = points[:, :, None, :] + offsets
        return torch.stack([pts[..., 0] / max(w - 1, 1), pts[..., 1] / max(h - 1, 1)], -1) * 2 - 1

    def forward(self, f, f_ref, r_ref, flow: torch.Tensor | None = None):
        b, c, h, w = f.shape
        pe = position_encoding(c, h, w, f.device)
        q = (f + pe).flatten(2).transpose(1, 2)  # (B, N, C)
        yy, xx = torch.meshgrid(torch.arange(h, dtype=f.dtype, device=f.device),
                                torch.arange(w, dtype=f.dtype, device=f.device), indexing="ij")
        base = torch.stack([xx, yy], 0)[None].expand(b, -1, -1, -1)  # (B, 2, H, W) as (x, y)
        moved = base if flow is None else base + flow  # flow: query frame -> reference frame, (dx, dy) pixels
        n, hd = h * w, c // self.heads
        offsets = self.offsets(q).view(b, n, self.heads * self.points, 2)
        sample = lambda m, at: F.grid_sample(m, self._grid(at.flatten(2).transpose(1, 2), offsets, h, w),  # noqa: E731
                                             align_corners=True, padding_mode="border")  # (B, C, N, heads*points)
        # The reference's position encoding, warped by the flow (Eq. 11's PE'): read at the
        # query-frame position, so a moved pixel keeps the position it has in the query frame.
        pe_at = sample(pe[None].expand(b, -1, -1, -1), base)
        k = sample(f_ref, moved) + pe_at
        v = sample(r_ref, moved) + pe_at
        k = k.view(b, self.heads, hd, n, self.heads, self.points).diagonal(dim1=1, dim2=4)  # head h reads its points
        v = v.view(b, self.heads, hd, n, self.heads, self.points).diagonal(dim1=1, dim2=4)
        qh = q.view(b, n, self.heads, hd).permute(0, 3, 1, 2)  # (B, hd, N, heads)
        logits = (qh[:, :, :, None, :] * k).sum(1) / math.sqrt(hd)  # (B, N, points, heads)
        logits = logits + self.bias(q).view(b, n, self.heads, self.points).transpose(2, 3)
        out = (logits.softmax(dim=2)[:, None] * v).sum(3)  # (B, hd, N, heads)
        out = out.permute(0, 3, 1, 2).reshape(b, c, h, w)
        return self.out(out)


class MetadataEmbedding(nn.Module):
    """``E = a E_local + g E_global`` with learned weights; either branch can be switched off
    (the paper's Table 3 rows without GEB / without LEB)."""

    def __init__(self, dim: int, heads: int = 4, points: int = 4, geb: bool = True, leb: bool = True):
        super().__init__()
        if not (geb or leb):
            raise ValueError("MetadataEmbedding: at least one of GEB and LEB")
        self.geb = GlobalEmbedding() if geb else None
        self.leb = LocalEmbedding(dim, heads, points) if leb else None
        self.weights = nn.Parameter(torch.ones(2))

    def forward(self, f, f_ref, r_ref, valid: torch.Tensor | None = None, flow: torch.Tensor | None = None):
        """``f``, ``f_ref``, ``r_ref``: ``(B, C, H, W)``; ``valid``: ``(B, H, W)`` stored positions."""
        out = 0
        if self.geb is not None:
            q, k, v = f.flatten(2), f_ref.flatten(2), r_ref.flatten(2)
            if valid is None:
                e = self.geb(q, k, v)
            else:  # only the stored positions, one sample at a time: (N, stored) logits, not (N, N)
                stored = valid.flatten(1)
                e = torch.cat([self.geb(q[i:i + 1], k[i:i + 1, :, stored[i]], v[i:i + 1, :, stored[i]])
                               for i in range(len(f))])
            out = out + self.weights[0] * e.view_as(f)
        if self.leb is not None:
            out = out + self.weights[1] * self.leb(f, f_ref, r_ref, flow)
        return out
