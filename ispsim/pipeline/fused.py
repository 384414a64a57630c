"""One parallel Numba pass from a Bayer mosaic to 8-bit sRGB.

Bilinear demosaic, black/white normalisation, white balance, colour matrix and exposure (folded
into one 3x3 matrix), clip, and a 65,536-entry table for tone curve + OETF + quantisation. It is
the fast path of :meth:`Pipeline.render_to_uint8`; the per-stage chain is the reference it is
tested against (at most one code value apart, from the table's rounding).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..stages import cfa
from ..stages.demosaic import BILINEAR_G, BILINEAR_RB

LUT_SIZE = 65536


@nb.njit(cache=True, inline="always")
def _border(dn, grid, y, x, c, k):
    h, w = dn.shape
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
            num += k[dy + 1, dx + 1] * dn[yy, xx]
            den += k[dy + 1, dx + 1]
    return num / den


@nb.njit(parallel=True, cache=True)
def _render(dn, grid, black, matrix, lut, k_rb, k_g, out):
    h, w = dn.shape
    top = lut.shape[0] - 1
    m00, m01, m02 = matrix[0, 0], matrix[0, 1], matrix[0, 2]
    m10, m11, m12 = matrix[1, 0], matrix[1, 1], matrix[1, 2]
    m20, m21, m22 = matrix[2, 0], matrix[2, 1], matrix[2, 2]
    for y in nb.prange(h):
        inner_y = 0 < y < h - 1
        for x in range(w):
            c = grid[y & 1, x & 1]
            if inner_y and 0 < x < w - 1:
                v = np.float32(dn[y, x])
                up = np.float32(dn[y - 1, x])
                down = np.float32(dn[y + 1, x])
                left = np.float32(dn[y, x - 1])
                right = np.float32(dn[y, x + 1])
                if c == 1:
                    horiz = (left + right) * np.float32(0.5)
                    vert = (up + down) * np.float32(0.5)
                    g = v
                    if grid[y & 1, (x + 1) & 1] == 0:
                        r = horiz
                        b = vert
                    else:
                        r = vert
                        b = horiz
                else:
                    cross = (up + down + left + right) * np.float32(0.25)
                    diag = (np.float32(dn[y - 1, x - 1]) + np.float32(dn[y - 1, x + 1])
                            + np.float32(dn[y + 1, x - 1]) + np.float32(dn[y + 1, x + 1])) * np.float32(0.25)
                    g = cross
                    if c == 0:
                        r = v
                        b = diag
                    else:
                        r = diag
                        b = v
            else:
                r = np.float32(_border(dn, grid, y, x, 0, k_rb))
                g = np.float32(_border(dn, grid, y, x, 1, k_g))
                b = np.float32(_border(dn, grid, y, x, 2, k_rb))
            r -= black
            g -= black
            b -= black
            o0 = m00 * r + m01 * g + m02 * b
            o1 = m10 * r + m11 * g + m12 * b
            o2 = m20 * r + m21 * g + m22 * b
            o0 = min(max(o0, np.float32(0.0)), np.float32(1.0))
            o1 = min(max(o1, np.float32(0.0)), np.float32(1.0))
            o2 = min(max(o2, np.float32(0.0)), np.float32(1.0))
            out[0, y, x] = lut[int(o0 * top + np.float32(0.5))]
            out[1, y, x] = lut[int(o1 * top + np.float32(0.5))]
            out[2, y, x] = lut[int(o2 * top + np.float32(0.5))]
    return out


def render_mosaic_uint8(dn, pattern: str, black: float, matrix, lut, out=None):
    """Mosaic ``(H, W)`` (sensor DN of any dtype, or normalised with black 0, white 1) -> ``(3, H, W)`` uint8.

    ``matrix`` maps black-subtracted camera RGB (in DN) to linear display values in [0, 1]: the
    caller folds ``1 / (white - black)``, the gains, the colour matrix and the exposure into it.
    """
    dn = np.ascontiguousarray(dn)
    if out is None:
        out = np.empty((3,) + dn.shape, dtype=np.uint8)
    m = np.asarray(matrix, dtype=np.float32)
    return _render(dn, cfa.colour_grid(pattern), np.float32(black), m, lut, BILINEAR_RB, BILINEAR_G, out)
