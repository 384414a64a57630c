"""CFA sampling on NumPy arrays (pure strided copies; nothing to compile)."""

import numpy as np


def mosaic(rgb, cells):
    out = np.empty(rgb.shape[:-3] + (1,) + rgb.shape[-2:], dtype=rgb.dtype)
    for dy, dx, c in cells:
        out[..., 0, dy::2, dx::2] = rgb[..., c, dy::2, dx::2]
    return out


def pack(raw, offsets):
    return np.stack([raw[..., 0, dy::2, dx::2] for dy, dx in offsets], axis=-3)


def unpack(packed, offsets):
    h, w = packed.shape[-2:]
    out = np.empty(packed.shape[:-3] + (1, 2 * h, 2 * w), dtype=packed.dtype)
    for i, (dy, dx) in enumerate(offsets):
        out[..., 0, dy::2, dx::2] = packed[..., i, :, :]
    return out
