"""Differentiable tone functions. Clamps inside untaken branches keep gradients finite."""

import math

import torch
import torch.nn.functional as F

from . import LOG_EPS, LUMA


def encode_srgb(x):
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def decode_srgb(y):
    return torch.where(y <= 0.04045, y / 12.92, ((y.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def encode_gamma(x, gamma, eps):
    return x.clamp(min=eps) ** (1.0 / gamma)


def decode_gamma(y, gamma, eps):
    return y.clamp(min=eps) ** gamma


def curve(x, s):
    return ((1 - s) + s * x * (3 - 2 * x)) * x


def curve_inverse(y, s):
    with torch.no_grad():
        y64 = y.detach().to(torch.float64)
        if s < 1:
            x = y64.clamp(0, 1)
            for _ in range(30):
                x = x - ((1 - s) * x + s * x * x * (3 - 2 * x) - y64) / ((1 - s) + 6 * s * x * (1 - x))
        else:
            x = 0.5 - torch.sin(torch.asin((1 - 2 * y64).clamp(-1, 1)) / 3)
        x = x.to(y.dtype)
    if not y.requires_grad:
        return x
    # One Newton step carrying the graph: value unchanged at the root, gradient dy / f'(x).
    d = ((1 - s) + 6 * s * x * (1 - x)).clamp(min=1e-6)
    return x - (curve(x, s) - y) / d


def _box(img, r):
    return F.avg_pool2d(img, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def _gain(rgb, s, r, eps, anchor):
    lum = LUMA[0] * rgb[..., 0, :, :] + LUMA[1] * rgb[..., 1, :, :] + LUMA[2] * rgb[..., 2, :, :]
    g = torch.log(lum.clamp(min=0) + LOG_EPS)
    lead = g.shape[:-2]
    g = g.reshape((-1, 1) + g.shape[-2:])
    mean = _box(g, r)
    var = _box(g * g, r) - mean * mean
    a = var / (var + eps)
    b = mean - a * mean
    base = _box(a, r) * g + _box(b, r)
    return torch.exp(-s * (base - math.log(anchor))).reshape(lead + (1,) + g.shape[-2:])


def local(rgb, s, r, eps, anchor):
    return rgb * _gain(rgb, s, r, eps, anchor)


def local_inverse(out, s, r, eps, anchor, iterations):
    x = out
    for _ in range(iterations):
        x = out / _gain(x, s, r, eps, anchor)
    return x
