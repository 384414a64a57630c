"""CFA sampling on tensors; slicing keeps it differentiable."""

import torch


def mosaic(rgb, cells):
    out = rgb.new_zeros(rgb.shape[:-3] + (1,) + rgb.shape[-2:])
    for dy, dx, c in cells:
        out[..., 0, dy::2, dx::2] = rgb[..., c, dy::2, dx::2]
    return out


def pack(raw, offsets):
    return torch.stack([raw[..., 0, dy::2, dx::2] for dy, dx in offsets], dim=-3)


def unpack(packed, offsets):
    h, w = packed.shape[-2:]
    out = packed.new_zeros(packed.shape[:-3] + (1, 2 * h, 2 * w))
    for i, (dy, dx) in enumerate(offsets):
        out[..., 0, dy::2, dx::2] = packed[..., i, :, :]
    return out
