"""Demosaicing kernels on NumPy arrays, parallel over rows with Numba."""

import numba as nb
import numpy as np

from . import BILINEAR_G, BILINEAR_RB, MALVAR_COL, MALVAR_DIAG, MALVAR_G, MALVAR_ROW


def _as_stack(raw):
    flat = np.ascontiguousarray(raw.reshape((-1,) + raw.shape[-2:]))
    return flat


@nb.njit(cache=True, inline="always")
def bilinear_at(img, grid, y, x, c, k):
    """Normalised convolution of colour ``c`` at (y, x) of a 2-D mosaic: only pixels inside count."""
    h, w = img.shape
    num = 0.0
    den = 0.0
    for dy in range(-1, 2):
        yy = y + dy
        if yy < 0 or yy >= h:
            continue
        for dx in range(-1, 2):
            xx = x + dx
            if xx < 0 or xx >= w or grid[yy & 1, xx & 1] != c:
                continue
            num += k[dy + 1, dx + 1] * img[yy, xx]
            den += k[dy + 1, dx + 1]
    return num / den


@nb.njit(parallel=True, cache=True)
def _bilinear(img, grid, k_rb, k_g):
    n, h, w = img.shape
    out = np.empty((n, 3, h, w), dtype=img.dtype)
    for r in nb.prange(n * h):
        b = r // h
        y = r % h
        for x in range(w):
            for c in range(3):
                out[b, c, y, x] = bilinear_at(img[b], grid, y, x, c, k_g if c == 1 else k_rb)
    return out


def bilinear(raw, grid):
    img = _as_stack(raw)
    out = _bilinear(img, grid, BILINEAR_RB, BILINEAR_G)
    return out.reshape(raw.shape[:-3] + (3,) + raw.shape[-2:])


@nb.njit(cache=True, inline="always")
def _conv5(pad, b, y, x, k):
    acc = 0.0
    for i in range(5):
        for j in range(5):
            if k[i, j] != 0.0:
                acc += k[i, j] * pad[b, y + i, x + j]
    return acc


@nb.njit(parallel=True, cache=True)
def _malvar(pad, grid, kg, krow, kcol, kdiag):
    n = pad.shape[0]
    h = pad.shape[1] - 4
    w = pad.shape[2] - 4
    out = np.empty((n, 3, h, w), dtype=pad.dtype)
    # Which colour each row/column of the 2x2 cell carries besides green.
    for r in nb.prange(n * h):
        b = r // h
        y = r % h
        for x in range(w):
            c = grid[y & 1, x & 1]
            v = pad[b, y + 2, x + 2]
            if c == 1:
                # Green site: the colour of the row's other site tells R/B along the row.
                row_c = grid[y & 1, (x + 1) & 1]
                along_row = _conv5(pad, b, y, x, krow)
                along_col = _conv5(pad, b, y, x, kcol)
                out[b, 1, y, x] = v
                if row_c == 0:
                    out[b, 0, y, x] = along_row
                    out[b, 2, y, x] = along_col
                else:
                    out[b, 2, y, x] = along_row
                    out[b, 0, y, x] = along_col
            else:
                g = _conv5(pad, b, y, x, kg)
                other = _conv5(pad, b, y, x, kdiag)
                out[b, 1, y, x] = g
                out[b, c, y, x] = v
                out[b, 2 - c, y, x] = other
    return out


def malvar2004(raw, grid):
    img = _as_stack(raw)
    pad = np.pad(img, ((0, 0), (2, 2), (2, 2)), mode="reflect")
    out = _malvar(pad, grid, MALVAR_G, MALVAR_ROW, MALVAR_COL, MALVAR_DIAG)
    return out.reshape(raw.shape[:-3] + (3,) + raw.shape[-2:])
