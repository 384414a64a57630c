import numpy as np


def scale(rgb, gains, invert):
    g = np.asarray(gains, dtype=rgb.dtype)
    g = g[..., :, None, None]
    return rgb / g if invert else rgb * g


def _quantile(v, q):
    # Linear interpolation between order statistics, as numpy's default 'linear' method.
    v = np.sort(v, axis=-1)
    pos = q * (v.shape[-1] - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, v.shape[-1] - 1)
    return v[..., lo] + (pos - lo) * (v[..., hi] - v[..., lo])


def estimate_illuminant(rgb, method, p, q):
    flat = rgb.reshape(rgb.shape[:-2] + (-1,)).astype(np.float64)
    if method == "gray_world":
        est = flat.mean(axis=-1)
    elif method == "white_patch":
        est = _quantile(flat, q)
    else:
        est = np.mean(np.clip(flat, 0, None) ** p, axis=-1) ** (1.0 / p)
    return est.astype(rgb.dtype)
