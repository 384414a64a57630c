"""CFA geometry: the one place that knows where each colour sits in a Bayer mosaic.

A mosaic RAW is ``(*, 1, H, W)``; a packed RAW is ``(*, 4, H/2, W/2)`` in the canonical order
``[R, Gr, Gb, B]`` whatever the pattern (Gr: the green on red rows, Gb: on blue rows).
"""

from __future__ import annotations

import numpy as np

from ..._checks import check_image
from ...errors import ShapeError
from .._spec import StageSpec, kernels

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
PACKED_ORDER = ("R", "Gr", "Gb", "B")

SPEC = StageSpec(
    name="cfa",
    invertible="exact",  # pack/unpack exactly; mosaic is the left inverse of every demosaic
    differentiable=True,
    stochastic=False,
    methods=PATTERNS,
    doc="Bayer mosaic, pack to [R, Gr, Gb, B] and unpack.",
)


def parse_pattern(pattern: str) -> str:
    p = str(pattern).strip().upper()
    if p not in PATTERNS:
        raise ShapeError(f"cfa pattern: expected one of {', '.join(PATTERNS)}, got {pattern!r}")
    return p


def colour_grid(pattern: str) -> np.ndarray:
    """2x2 grid of colour indices (0 R, 1 G, 2 B) at offsets (y % 2, x % 2)."""
    p = parse_pattern(pattern)
    idx = {"R": 0, "G": 1, "B": 2}
    return np.array([[idx[p[0]], idx[p[1]]], [idx[p[2]], idx[p[3]]]], dtype=np.int64)


def packed_offsets(pattern: str) -> tuple[tuple[int, int], ...]:
    """(dy, dx) inside the 2x2 cell of R, Gr, Gb, B for ``pattern``."""
    grid = colour_grid(pattern)
    (ry, rx), = np.argwhere(grid == 0)
    (by, bx), = np.argwhere(grid == 2)
    # Gr shares the red row, Gb the blue row.
    return ((int(ry), int(rx)), (int(ry), int(1 - rx)), (int(by), int(1 - bx)), (int(by), int(bx)))


def rggb_shift(pattern: str) -> tuple[int, int]:
    """(dy, dx) such that the colour at (y, x) is RGGB's colour at (y + dy, x + dx)."""
    (ry, rx) = packed_offsets(pattern)[0]
    return ry, rx


def masks(pattern: str, height: int, width: int) -> np.ndarray:
    """Boolean masks ``(3, H, W)`` telling which colour each photosite records."""
    grid = colour_grid(pattern)
    yy = np.arange(height)[:, None] % 2
    xx = np.arange(width)[None, :] % 2
    colour = grid[yy, xx]
    return np.stack([colour == c for c in range(3)])


def mosaic(rgb, pattern: str):
    """Sample ``(*, 3, H, W)`` through the CFA into a mosaic ``(*, 1, H, W)``."""
    check_image(rgb, "mosaic(rgb)", channels=3)
    return kernels(__name__, rgb).mosaic(rgb, _cells(pattern))


def pack(raw, pattern: str):
    """Mosaic ``(*, 1, H, W)`` -> packed ``(*, 4, H/2, W/2)`` in ``[R, Gr, Gb, B]``."""
    check_image(raw, "pack(raw)", channels=1, even=True)
    return kernels(__name__, raw).pack(raw, packed_offsets(pattern))


def unpack(packed, pattern: str):
    """Packed ``(*, 4, H/2, W/2)`` in ``[R, Gr, Gb, B]`` -> mosaic ``(*, 1, H, W)``."""
    check_image(packed, "unpack(packed)", channels=4)
    return kernels(__name__, packed).unpack(packed, packed_offsets(pattern))


def _cells(pattern: str) -> tuple[tuple[int, int, int], ...]:
    grid = colour_grid(pattern)
    return tuple((dy, dx, int(grid[dy, dx])) for dy in (0, 1) for dx in (0, 1))
