"""Demosaicing as convolutions on tensors (differentiable)."""

import numpy as np
import torch
import torch.nn.functional as F

from . import BILINEAR_G, BILINEAR_RB, MALVAR_COL, MALVAR_DIAG, MALVAR_G, MALVAR_ROW


def _masks(grid, h, w, like):
    cell = torch.as_tensor(np.stack([grid == c for c in range(3)]), dtype=like.dtype, device=like.device)
    return cell.repeat(1, (h + 1) // 2, (w + 1) // 2)[:, :h, :w]


def bilinear(raw, grid):
    lead = raw.shape[:-3]
    h, w = raw.shape[-2:]
    x = raw.reshape(-1, 1, h, w)
    m = _masks(grid, h, w, raw)
    k = torch.as_tensor(np.stack([BILINEAR_RB, BILINEAR_G, BILINEAR_RB])[:, None], dtype=raw.dtype, device=raw.device)
    num = F.conv2d(x * m, k, padding=1, groups=3)
    den = F.conv2d(m[None], k, padding=1, groups=3)
    return (num / den).reshape(lead + (3, h, w))


def malvar2004(raw, grid):
    lead = raw.shape[:-3]
    h, w = raw.shape[-2:]
    x = raw.reshape(-1, 1, h, w)
    pad = F.pad(x, (2, 2, 2, 2), mode="reflect")
    k = torch.as_tensor(
        np.stack([MALVAR_G, MALVAR_ROW, MALVAR_COL, MALVAR_DIAG])[:, None], dtype=raw.dtype, device=raw.device
    )
    g_rb, row, col, diag = F.conv2d(pad, k).unbind(1)
    v = x[:, 0]
    m = _masks(grid, h, w, raw)
    # At a green site, the other colour of its row decides R along the row or the column.
    red_row = _masks(grid[:, ::-1].copy(), h, w, raw)[0].bool()
    is_g = m[1].bool()
    # R: measured at R, diagonal at B, along row/column at G depending on the row's colour.
    red = torch.where(m[0].bool(), v, torch.where(m[2].bool(), diag, torch.where(red_row, row, col)))
    blue = torch.where(m[2].bool(), v, torch.where(m[0].bool(), diag, torch.where(red_row, col, row)))
    green = torch.where(is_g, v, g_rb)
    return torch.stack([red, green, blue], dim=1).reshape(lead + (3, h, w))
