"""CAM (Nam et al., CVPR 2022): a content-aware sampler and a reconstructor, both U-Nets.

Sampler: sRGB + RAW (6 ch) -> 9 logits per pixel, the soft association ``q`` of the pixel to the
3x3 grid cells around its own (superpixel-FCN, Yang et al. 2020). Superpixel max-pooling keeps one
pixel per cell: the pixel of the cell with the highest association to that cell, so the rate is
exactly one per ``cell x cell`` pixels. (The paper pools over the nine surrounding cells and may
pick a pixel twice; pooling inside the cell guarantees the stated rate.) A straight-through
estimator passes the gradient to ``q`` at the chosen pixels only.
Reconstructor: sRGB, RAW x mask, mask (7 ch) -> RAW (sigmoid).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import UNet

OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # channel k of q: cell offset


class Sampler(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256), bottleneck=512, cell: int = 8):
        super().__init__()
        self.net = UNet(6, 9, widths, bottleneck)
        self.cell = cell

    def association(self, srgb, raw):
        return torch.softmax(self.net(torch.cat([srgb, raw], dim=1)), dim=1)

    def forward(self, srgb, raw):
        """(mask (B, 1, H, W) with straight-through gradient, association q (B, 9, H, W))."""
        q = self.association(srgb, raw)
        return superpixel_max_pool(q[:, 4:5], self.cell), q


def superpixel_max_pool(score, cell: int):
    """One pixel per ``cell x cell`` block: its highest score; straight-through to ``score``."""
    b, _, h, w = score.shape
    if h % cell or w % cell:
        raise ValueError(f"superpixel_max_pool: {h}x{w} is not a multiple of the cell size {cell}")
    blocks = score.reshape(b, h // cell, cell, w // cell, cell).permute(0, 1, 3, 2, 4).reshape(b, h // cell, w // cell, -1)
    hard = F.one_hot(blocks.argmax(-1), cell * cell).to(score.dtype)
    hard = hard.reshape(b, h // cell, w // cell, cell, cell).permute(0, 1, 3, 2, 4).reshape(b, 1, h, w)
    return hard + hard * (score - score.detach())


def superpixel_loss(q, srgb, raw, cell: int, alpha: float = 0.2, m: float = 10.0):
    """SpixelFCN's reconstruction loss on (sRGB, RAW, xy): alpha MSE(sRGB) + (1 - alpha) MSE(RAW)
    + (m / S)^2 MSE(xy), features pooled into cell centroids by ``q`` and spread back by ``q``."""
    b, _, h, w = q.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=q.dtype, device=q.device),
                            torch.arange(w, dtype=q.dtype, device=q.device), indexing="ij")
    feats = torch.cat([srgb, raw, torch.stack([yy, xx]).expand(b, 2, h, w)], dim=1)
    hc, wc = h // cell, w // cell
    num = feats.new_zeros(b, feats.shape[1], hc + 2, wc + 2)
    den = feats.new_zeros(b, 1, hc + 2, wc + 2)
    for k, (dy, dx) in enumerate(OFFSETS):
        qk = q[:, k:k + 1]
        # Pixels of cell (i, j) vote for cell (i + dy, j + dx); the padding ring absorbs the edges.
        num[:, :, 1 + dy:1 + dy + hc, 1 + dx:1 + dx + wc] += F.avg_pool2d(qk * feats, cell) * cell * cell
        den[:, :, 1 + dy:1 + dy + hc, 1 + dx:1 + dx + wc] += F.avg_pool2d(qk, cell) * cell * cell
    centroids = num / den.clamp(min=1e-8)
    recon = 0
    for k, (dy, dx) in enumerate(OFFSETS):
        c = centroids[:, :, 1 + dy:1 + dy + hc, 1 + dx:1 + dx + wc]
        recon = recon + q[:, k:k + 1] * F.interpolate(c, scale_factor=cell, mode="nearest")
    err = (recon - feats) ** 2
    return (alpha * err[:, 0:3].mean() + (1 - alpha) * err[:, 3:6].mean()
            + (m / cell) ** 2 * err[:, 6:8].mean())


class Reconstructor(nn.Module):
    def __init__(self, widths=(32, 64, 128, 256), bottleneck=512):
        super().__init__()
        self.net = UNet(7, 3, widths, bottleneck)
        # Start near typical RAW levels (sigmoid(-2) = 0.12) rather than 0.5: short CPU schedules
        # otherwise spend their first hundreds of steps only pulling the output down.
        nn.init.constant_(self.net.head.bias, -2.0)

    def forward(self, srgb, raw, mask):
        return torch.sigmoid(self.net(torch.cat([srgb, raw * mask, mask], dim=1)))
