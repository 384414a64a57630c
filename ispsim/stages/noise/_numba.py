import numpy as np


def normal(x, rng):
    return rng.standard_normal(x.shape, dtype=np.float32).astype(x.dtype, copy=False)


def apply_gaussian(x, shot, read, z):
    t = x.dtype.type
    return x + np.sqrt(np.maximum(t(shot) * x + t(read), t(0))) * z


def poisson_gaussian(x, shot, read, rng):
    t = x.dtype.type
    photons = rng.poisson(np.maximum(x, 0).astype(np.float64) / shot) if shot > 0 else np.maximum(x, 0)
    return (photons * shot).astype(x.dtype) + t(np.sqrt(read)) * normal(x, rng)
