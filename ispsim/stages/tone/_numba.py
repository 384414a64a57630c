"""Tone kernels on NumPy arrays. Point-wise maps are vectorised NumPy; the box filter is Numba."""

import numba as nb
import numpy as np

from . import LOG_EPS, LUMA


def encode_srgb(x):
    t = x.dtype.type
    return np.where(x <= t(0.0031308), x * t(12.92), t(1.055) * np.maximum(x, t(0.0031308)) ** t(1 / 2.4) - t(0.055))


def decode_srgb(y):
    t = y.dtype.type
    return np.where(y <= t(0.04045), y / t(12.92), ((np.maximum(y, t(0.04045)) + t(0.055)) / t(1.055)) ** t(2.4))


def encode_gamma(x, gamma, eps):
    t = x.dtype.type
    return np.maximum(x, t(eps)) ** t(1.0 / gamma)


def decode_gamma(y, gamma, eps):
    t = y.dtype.type
    return np.maximum(y, t(eps)) ** t(gamma)


def curve(x, s):
    t = x.dtype.type
    return (t(1 - s) + t(s) * x * (t(3) - t(2) * x)) * x


def curve_inverse(y, s):
    y64 = y.astype(np.float64)
    x = np.clip(y64, 0.0, 1.0) if s < 1 else 0.5 - np.sin(np.arcsin(np.clip(1 - 2 * y64, -1, 1)) / 3)
    if s < 1:
        for _ in range(30):
            f = (1 - s) * x + s * x * x * (3 - 2 * x) - y64
            d = (1 - s) + 6 * s * x * (1 - x)
            x = x - f / d
    return x.astype(y.dtype)


@nb.njit(parallel=True, cache=True)
def _box(img, r):
    """Mean over a (2r+1)^2 window, counting only pixels inside the image."""
    n, h, w = img.shape
    tmp = np.empty((n, h, w), dtype=np.float64)
    out = np.empty_like(img)
    for k in nb.prange(n * h):
        b = k // h
        y = k % h
        acc = 0.0
        for x in range(min(r, w - 1) + 1):
            acc += img[b, y, x]
        for x in range(w):
            lo = x - r
            hi = x + r
            tmp[b, y, x] = acc / (min(hi, w - 1) - max(lo, 0) + 1)
            if hi + 1 < w:
                acc += img[b, y, hi + 1]
            if lo >= 0:
                acc -= img[b, y, lo]
    for k in nb.prange(n * w):
        b = k // w
        x = k % w
        acc = 0.0
        for y in range(min(r, h - 1) + 1):
            acc += tmp[b, y, x]
        for y in range(h):
            lo = y - r
            hi = y + r
            out[b, y, x] = acc / (min(hi, h - 1) - max(lo, 0) + 1)
            if hi + 1 < h:
                acc += tmp[b, hi + 1, x]
            if lo >= 0:
                acc -= tmp[b, lo, x]
    return out


def _log_luminance(rgb):
    t = rgb.dtype.type
    lum = t(LUMA[0]) * rgb[..., 0, :, :] + t(LUMA[1]) * rgb[..., 1, :, :] + t(LUMA[2]) * rgb[..., 2, :, :]
    return np.log(np.maximum(lum, t(0)) + t(LOG_EPS))


def _gain(rgb, s, r, eps, anchor):
    t = rgb.dtype.type
    lead = rgb.shape[:-3]
    guide = _log_luminance(rgb)
    g = np.ascontiguousarray(guide.reshape((-1,) + guide.shape[-2:]))
    mean = _box(g, r)
    var = _box(g * g, r) - mean * mean
    a = var / (var + t(eps))
    b = mean - a * mean
    base = _box(a, r) * g + _box(b, r)
    gain = np.exp(-t(s) * (base - t(np.log(anchor))))
    return gain.reshape(lead + (1,) + guide.shape[-2:])


def local(rgb, s, r, eps, anchor):
    return rgb * _gain(rgb, s, r, eps, anchor)


def local_inverse(out, s, r, eps, anchor, iterations):
    x = out
    for _ in range(iterations):
        x = out / _gain(x, s, r, eps, anchor)
    return x
