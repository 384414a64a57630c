"""Sensor noise on normalised RAW.

- ``poisson_gaussian``: ``shot * Poisson(x / shot) + N(0, read)``.
- ``heteroscedastic``: ``x + N(0, shot * x + read)``, the Gaussian approximation of RDDM (eq. 11)
  and of Brooks et al. 2019.
ISO -> (shot, read): shot variance grows linearly with analogue gain; log(read) is affine in
log(shot) (Brooks et al. fit: slope 2.18, intercept 1.20). Draws come from the generator passed in
(``numpy.random.Generator`` or ``torch.Generator``); :func:`apply_gaussian` is the deterministic
core given the standard-normal draw, which is what both backends share exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..._checks import check_image
from ...errors import ConfigError, ShapeError
from .._spec import StageSpec, check_method, kernels

METHODS = ("poisson_gaussian", "heteroscedastic")

SPEC = StageSpec(
    name="noise",
    invertible="none",
    differentiable=True,  # heteroscedastic, reparameterised; Poisson is not
    stochastic=True,
    methods=METHODS,
    doc="Poisson-Gaussian and heteroscedastic Gaussian noise; ISO -> (shot, read).",
)


@dataclass(frozen=True)
class NoiseModel:
    """Per-camera noise calibration in normalised RAW units (variances)."""

    shot_at_base_iso: float
    base_iso: float = 100.0
    read_slope: float = 2.18
    read_intercept: float = 1.20
    iso_range: tuple[float, float] = (100.0, 3200.0)

    def __post_init__(self):
        if not self.shot_at_base_iso > 0 or not self.base_iso > 0:
            raise ConfigError("noise: shot_at_base_iso and base_iso must be positive")
        lo, hi = self.iso_range
        if not 0 < lo <= hi:
            raise ConfigError(f"noise.iso_range: expected 0 < low <= high, got {self.iso_range}")

    def levels(self, iso: float) -> tuple[float, float]:
        """(shot, read) variances at ``iso``."""
        if not iso > 0:
            raise ShapeError(f"noise: ISO must be positive, got {iso}")
        shot = self.shot_at_base_iso * iso / self.base_iso
        read = math.exp(self.read_slope * math.log(shot) + self.read_intercept)
        return shot, read

    def sample_iso(self, rng) -> float:
        """Log-uniform ISO over the model's range."""
        lo, hi = self.iso_range
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _check_levels(shot, read):
    if shot < 0 or read < 0:
        raise ShapeError(f"noise: shot and read variances must be >= 0, got {shot}, {read}")


def apply_gaussian(x, shot: float, read: float, z):
    """``x + sqrt(max(shot * x + read, 0)) * z`` for a given standard-normal draw ``z``."""
    _check_levels(shot, read)
    if tuple(z.shape) != tuple(x.shape):
        raise ShapeError(f"noise draw: expected shape {tuple(x.shape)}, got {tuple(z.shape)}")
    return kernels(__name__, x).apply_gaussian(x, float(shot), float(read), z)


def add_noise(x, shot: float, read: float, rng, method: str = "heteroscedastic"):
    """Add sensor noise to normalised RAW ``(*, C, H, W)`` with generator ``rng``."""
    check_method(method, METHODS, "add_noise")
    check_image(x, "add_noise(x)")
    _check_levels(shot, read)
    k = kernels(__name__, x)
    if method == "heteroscedastic":
        return k.apply_gaussian(x, float(shot), float(read), k.normal(x, rng))
    return k.poisson_gaussian(x, float(shot), float(read), rng)
