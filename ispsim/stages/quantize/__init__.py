"""Quantisation: the ADC (sensor DN) and the output encoding (8/16-bit).

``quantize(x, bits)`` rounds ``clip(x, 0, 1)`` to ``2^bits`` levels and stays float; ``to_integer``
gives the uint8/uint16 array at the file boundary. The PyTorch backend passes gradients straight
through the rounding. There is no inverse beyond the identity: the lost half-step is gone.
"""

from __future__ import annotations

import numpy as np

from ...errors import ShapeError
from .._spec import StageSpec, kernels

SPEC = StageSpec(
    name="quantize",
    invertible="approximate",
    differentiable=True,  # straight-through
    stochastic=False,
    methods=("adc", "output"),
    doc="Round to 2^bits levels after clipping to [0, 1].",
)


def _levels(bits: int) -> int:
    if not 1 <= int(bits) <= 16:
        raise ShapeError(f"quantize: bits must lie in 1..16, got {bits}")
    return (1 << int(bits)) - 1


def quantize(x, bits: int):
    return kernels(__name__, x).quantize(x, _levels(bits))


def quantize_adc(raw, black: float, white: float):
    """Round normalised RAW to whole sensor DN between 0 and ``white`` (black is kept below 0)."""
    if not white > black >= 0:
        raise ShapeError(f"quantize_adc: need white > black >= 0, got {black}, {white}")
    return kernels(__name__, raw).quantize_adc(raw, float(black), float(white))


def to_integer(x, bits: int) -> np.ndarray:
    """Float ``[0, 1]`` -> uint8 (bits <= 8) or uint16, as a NumPy array."""
    levels = _levels(bits)
    a = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.rint(np.clip(a, 0, 1) * levels).astype(dtype)
