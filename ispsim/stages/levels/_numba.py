import numpy as np


def normalize(dn, black, white):
    dn = np.asarray(dn)
    dtype = dn.dtype if np.issubdtype(dn.dtype, np.floating) else np.dtype(np.float32)
    t = dtype.type
    return (dn.astype(dtype, copy=False) - t(black)) * t(1.0 / (white - black))


def denormalize(raw, black, white):
    t = raw.dtype.type
    return raw * t(white - black) + t(black)
