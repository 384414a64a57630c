"""White balance: per-channel gains on RGB ``(*, 3, H, W)`` and estimators of them.

Gains are green-normalised (G = 1). Estimators (all on linear camera RGB):
- ``gray_world``: Buchsbaum 1980, the scene averages to grey.
- ``white_patch``: Land's retinex max-RGB, robust as a per-channel percentile.
- ``shades_of_gray``: Finlayson & Trezzi 2004, Minkowski p-norm (p = 6 by default).
As-shot gains from a camera profile and an illuminant live in :mod:`ispsim.stages.color`.
"""

from __future__ import annotations

import numpy as np

from ..._checks import check_image, is_torch
from ...errors import ShapeError
from .._spec import StageSpec, check_method, kernels

METHODS = ("gray_world", "white_patch", "shades_of_gray")

SPEC = StageSpec(
    name="white_balance",
    invertible="exact",
    differentiable=True,
    stochastic=False,
    methods=("gains", "as_shot") + METHODS,
    doc="Per-channel gains; gray world, white patch and shades-of-gray estimators.",
)


def _check_gains(gains, x):
    shape = tuple(getattr(gains, "shape", (len(gains),)))
    if shape[-1:] != (3,):
        raise ShapeError(f"white balance gains: expected shape (*, 3), got {shape}")
    return gains


def apply_gains(rgb, gains):
    """Multiply each channel of ``(*, 3, H, W)`` by ``gains`` of shape ``(3,)`` or ``(*, 3)``."""
    check_image(rgb, "apply_gains(rgb)", channels=3)
    return kernels(__name__, rgb).scale(rgb, _check_gains(gains, rgb), invert=False)


def remove_gains(rgb, gains):
    """Inverse of :func:`apply_gains`."""
    check_image(rgb, "remove_gains(rgb)", channels=3)
    return kernels(__name__, rgb).scale(rgb, _check_gains(gains, rgb), invert=True)


def clip_level(gains):
    """Where a white-balanced channel saturates: the smallest gain (G = 1 for green-normalised
    gains of at least 1). dcraw/LibRaw scale so that the least-gained channel's saturation is the
    output maximum and clip every channel there, so a saturated photosite stays neutral."""
    if is_torch(gains):
        return gains.min()
    return float(min(float(g) for g in gains))


def clip_highlights(rgb, gains):
    """Clip white-balanced RGB ``(*, 3, H, W)`` at :func:`clip_level` (LibRaw's default
    highlight mode). Values below the level pass unchanged, so the inverse stays exact there."""
    check_image(rgb, "clip_highlights(rgb)", channels=3)
    level = clip_level(gains)
    if is_torch(rgb):
        import torch

        return torch.minimum(rgb, torch.as_tensor(level, dtype=rgb.dtype, device=rgb.device))
    return np.minimum(rgb, rgb.dtype.type(level))


def clipped_fraction(rgb, gains) -> float:
    """Share of pixels with a white-balanced channel at or above the clip level: where the
    render lost information and the inverse gives only a lower bound."""
    level = clip_level(gains)
    if is_torch(rgb):
        level = float(level.detach()) if is_torch(level) else level
        return float((rgb.detach() >= level * (1 - 1e-6)).any(dim=-3).double().mean())
    return float((rgb >= level * (1 - 1e-6)).any(axis=-3).mean())


def estimate_gains(rgb, method: str = "gray_world", *, p: float = 6.0, percentile: float = 99.0):
    """Estimate green-normalised gains ``(*, 3)`` from linear camera RGB ``(*, 3, H, W)``."""
    check_method(method, METHODS, "estimate_gains")
    check_image(rgb, "estimate_gains(rgb)", channels=3)
    if not 0 < percentile <= 100:
        raise ShapeError(f"estimate_gains: percentile must lie in (0, 100], got {percentile}")
    illuminant = kernels(__name__, rgb).estimate_illuminant(rgb, method, p, percentile / 100.0)
    return illuminant[..., 1:2] / illuminant
