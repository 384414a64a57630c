"""Black/white level: sensor DN <-> normalised RAW, ``(DN - black) / (white - black)``.

Nothing is clipped, so values below black (read noise) and above white survive.
"""

from __future__ import annotations

from ...errors import ShapeError
from .._spec import StageSpec, kernels

SPEC = StageSpec(
    name="levels",
    invertible="exact",
    differentiable=True,
    stochastic=False,
    doc="Subtract black, divide by (white - black).",
)


def _check_levels(black: float, white: float) -> tuple[float, float]:
    black, white = float(black), float(white)
    if not white > black:
        raise ShapeError(f"levels: white level ({white}) must exceed black level ({black})")
    return black, white


def normalize(dn, black: float, white: float):
    """Sensor values (any dtype; float32 out on NumPy) -> normalised float RAW."""
    black, white = _check_levels(black, white)
    return kernels(__name__, dn).normalize(dn, black, white)


def denormalize(raw, black: float, white: float):
    """Normalised RAW -> sensor values as float (rounding to DN is the quantise stage's job)."""
    black, white = _check_levels(black, white)
    return kernels(__name__, raw).denormalize(raw, black, white)
