"""Shape and value checks shared by every stage, for both backends."""

from __future__ import annotations

import numpy as np

from .errors import BackendError, ShapeError


def is_torch(x) -> bool:
    # Checked by module name so that NumPy-only users never import torch.
    return type(x).__module__.split(".")[0] == "torch"


def backend_of(x) -> str:
    if isinstance(x, np.ndarray):
        return "numpy"
    if is_torch(x):
        return "torch"
    raise BackendError(f"expected a numpy.ndarray or torch.Tensor, got {type(x).__name__}")


def check_image(x, name: str, *, channels: int | tuple[int, ...] | None = None, even: bool = False):
    """Check a float image ``(*, C, H, W)``; return it unchanged."""
    backend_of(x)
    if x.ndim < 3:
        raise ShapeError(f"{name}: expected shape (*, C, H, W), got {tuple(x.shape)}")
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else channels
        if x.shape[-3] not in allowed:
            raise ShapeError(
                f"{name}: expected {' or '.join(map(str, allowed))} channels in (*, C, H, W), "
                f"got shape {tuple(x.shape)}"
            )
    if even and (x.shape[-1] % 2 or x.shape[-2] % 2):
        raise ShapeError(
            f"{name}: a Bayer mosaic needs even height and width, got {tuple(x.shape[-2:])}"
        )
    floating = x.dtype.is_floating_point if is_torch(x) else np.issubdtype(x.dtype, np.floating)
    if not floating:
        raise ShapeError(f"{name}: expected a floating-point array, got dtype {x.dtype}")
    return x


def check_finite(x, name: str):
    bad = ~np.isfinite(x) if isinstance(x, np.ndarray) else ~x.isfinite()
    if bad.any():
        n = int(bad.sum())
        raise ShapeError(f"{name}: {n} non-finite values (NaN or inf); clean or mask them first")
    return x
