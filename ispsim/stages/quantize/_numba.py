import numpy as np


def quantize(x, levels):
    t = x.dtype.type
    return np.rint(np.clip(x, 0, 1) * t(levels)) / t(levels)


def quantize_adc(raw, black, white):
    t = raw.dtype.type
    span = t(white - black)
    dn = np.clip(np.rint(raw * span + t(black)), 0, t(white))
    return (dn - t(black)) / span
