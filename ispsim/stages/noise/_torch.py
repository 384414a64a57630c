import math

import torch


def normal(x, rng):
    return torch.randn(x.shape, generator=rng, dtype=x.dtype, device=x.device)


def apply_gaussian(x, shot, read, z):
    # The clamp keeps sqrt's gradient finite where the variance reaches 0.
    return x + torch.sqrt((shot * x + read).clamp(min=1e-20)) * z


def poisson_gaussian(x, shot, read, rng):
    lam = x.detach().clamp(min=0)
    photons = torch.poisson(lam / shot, generator=rng) * shot if shot > 0 else lam
    return photons.to(x.dtype) + math.sqrt(read) * normal(x, rng)
