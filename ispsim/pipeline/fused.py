"""One parallel Numba pass from a Bayer mosaic in sensor DN to 8-bit sRGB.

Bilinear demosaic, black level and white balance are one per-channel scale, followed by the
highlight clip (each white-balanced channel at the saturation level, as LibRaw does); colour
matrix, exposure and the scale to table indices are one 3x3 matrix; tone curve + OETF +
quantisation are one 65,536-entry table. Interior sums stay in integers (each colour as 4x its DN, so one conversion per channel);
the one-pixel border uses the normalised-convolution rule of the bilinear stage. It is the fast
path of :meth:`Pipeline.render_to_uint8`; the stage chain is the reference it is tested against
(at most one code value apart, from the table's rounding).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..stages import cfa
from ..stages.demosaic import BILINEAR_G, BILINEAR_RB
from ..stages.demosaic._numba import bilinear_at

LUT_SIZE = 65536


@nb.njit(cache=True, inline="always")
def _border_sum(dn, grid, y, x, c, k):
    """4x the bilinear estimate of colour ``c`` at (y, x), as the demosaic stage computes it."""
    return np.float32(4.0 * bilinear_at(dn, grid, y, x, c, k))


@nb.njit(cache=True, inline="always")
def _emit(out, y, x, fr, fg, fb, g, level, m, lut, top):
    """Writes one pixel; returns 1 when a channel reached the highlight clip."""
    half = np.float32(0.5)
    zero = np.float32(0.0)
    fr = fr * g[0]
    fg = fg * g[1]
    fb = fb * g[2]
    hit = 1 if (fr >= level or fg >= level or fb >= level) else 0
    fr = min(fr, level)
    fg = min(fg, level)
    fb = min(fb, level)
    o0 = min(max(m[0, 0] * fr + m[0, 1] * fg + m[0, 2] * fb, zero), top)
    o1 = min(max(m[1, 0] * fr + m[1, 1] * fg + m[1, 2] * fb, zero), top)
    o2 = min(max(m[2, 0] * fr + m[2, 1] * fg + m[2, 2] * fb, zero), top)
    out[0, y, x] = lut[np.int32(o0 + half)]
    out[1, y, x] = lut[np.int32(o1 + half)]
    out[2, y, x] = lut[np.int32(o2 + half)]
    return hit


@nb.njit(cache=True)
def _border_pixel(dn, grid, y, x, black4, g, level, m, lut, top, k_rb, k_g, out):
    fr = _border_sum(dn, grid, y, x, 0, k_rb) - black4
    fg = _border_sum(dn, grid, y, x, 1, k_g) - black4
    fb = _border_sum(dn, grid, y, x, 2, k_rb) - black4
    return _emit(out, y, x, fr, fg, fb, g, level, m, lut, top)


@nb.njit(parallel=True, cache=True)
def _render(dn, grid, black4, g, level, m, lut, k_rb, k_g, out, hits):
    h, w = dn.shape
    top = np.float32(lut.shape[0] - 1)
    for y in nb.prange(h):
        if y == 0 or y == h - 1:
            n = 0
            for x in range(w):
                n += _border_pixel(dn, grid, y, x, black4, g, level, m, lut, top, k_rb, k_g, out)
            hits[y] = n
            continue
        n = _border_pixel(dn, grid, y, 0, black4, g, level, m, lut, top, k_rb, k_g, out)
        n += _border_pixel(dn, grid, y, w - 1, black4, g, level, m, lut, top, k_rb, k_g, out)
        yp = y & 1
        site = 0 if grid[yp, 0] != 1 else 1  # column parity of this row's red or blue site
        red_row = grid[yp, site] == 0
        up = dn[y - 1]
        mid = dn[y]
        down = dn[y + 1]
        for x in range(1, w - 1):
            left = np.int32(mid[x - 1])
            right = np.int32(mid[x + 1])
            above = np.int32(up[x])
            below = np.int32(down[x])
            v4 = np.int32(mid[x]) * 4
            if (x & 1) == site:
                cross = left + right + above + below
                diag = (np.int32(up[x - 1]) + np.int32(up[x + 1])
                        + np.int32(down[x - 1]) + np.int32(down[x + 1]))
                gg = cross
                if red_row:
                    r = v4
                    b = diag
                else:
                    r = diag
                    b = v4
            else:
                gg = v4
                horiz = (left + right) * 2
                vert = (above + below) * 2
                if red_row:
                    r = horiz
                    b = vert
                else:
                    r = vert
                    b = horiz
            n += _emit(out, y, x, np.float32(r) - black4, np.float32(gg) - black4, np.float32(b) - black4,
                       g, level, m, lut, top)
        hits[y] = n
    return out


def render_mosaic_uint8(dn, pattern: str, black: float, scale, level: float, matrix, lut, out=None):
    """Integer mosaic ``(H, W)`` in DN -> (``(3, H, W)`` uint8, pixels at the highlight clip).

    ``scale`` (3,) maps black-subtracted camera RGB in DN to white-balanced normalised values
    (the gains over ``white - black``); they are clipped at ``level`` (``inf``: no clip), then
    ``matrix`` (colour matrix times exposure) maps them to linear display values in [0, 1].
    """
    dn = np.ascontiguousarray(dn)
    if not np.issubdtype(dn.dtype, np.integer) or dn.ndim != 2:
        raise TypeError(f"render_mosaic_uint8: expected an integer mosaic (H, W), got {dn.dtype} {dn.shape}")
    if out is None:
        out = np.empty((3,) + dn.shape, dtype=np.uint8)
    elif out.shape != (3,) + dn.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"render_mosaic_uint8(out): expected a C-contiguous uint8 (3, {dn.shape[0]}, {dn.shape[1]}), "
                         f"got {out.dtype} {out.shape}")
    # Interior sums are 4x a colour's DN; table indices run over [0, len(lut) - 1].
    g = (np.asarray(scale, dtype=np.float64) / 4.0).astype(np.float32)
    m = (np.asarray(matrix, dtype=np.float64) * (len(lut) - 1)).astype(np.float32)
    hits = np.zeros(dn.shape[0], dtype=np.int64)
    _render(dn, cfa.colour_grid(pattern), np.float32(4.0 * black), g, np.float32(level), m, lut,
            BILINEAR_RB, BILINEAR_G, out, hits)
    return out, int(hits.sum())
