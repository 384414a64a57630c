"""Scan orders for the LTA-Mamba blocks: a 3-D Hilbert order over (T, H, W) and line-by-line.

The Hilbert order of a cube (``hilbertcurve``: Butz's algorithm, entering at one corner and
leaving at an adjacent one) keeps neighbours in space and time close in the sequence. A box whose
sides are powers of two but unequal is cut into cubes of its shortest non-trivial side, visited
in a serpentine over the cube grid; each cube's curve is turned and mirrored (one of the 48 cube
symmetries) so that it enters next to where the previous cube left and leaves on the face towards
the next one. Every step of the order moves to a face neighbour, and the order visits every cell
once. Sides of 1 drop out (an image is a (1, H, W) box scanned by a 2-D Hilbert curve).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ...errors import ShapeError


@functools.lru_cache(maxsize=16)
def _cube_curve(dims: int, order: int) -> np.ndarray:
    from hilbertcurve.hilbertcurve import HilbertCurve

    side = 1 << order
    if order == 0:
        return np.zeros((1, dims), dtype=np.int64)
    pts = np.asarray(HilbertCurve(order, dims).points_from_distances(list(range(side**dims))), dtype=np.int64)
    return pts


def _symmetries(dims: int):
    for perm in itertools.permutations(range(dims)):
        for flips in itertools.product((False, True), repeat=dims):
            yield perm, flips


def _transform(points, perm, flips, side):
    out = points[:, list(perm)]
    for k, f in enumerate(flips):
        if f:
            out[:, k] = side - 1 - out[:, k]
    return out


def _oriented(curve, side, entry, exit_):
    """The cube's curve under the symmetry taking its ends to ``entry`` and ``exit_``."""
    dims = curve.shape[1]
    ends = curve[[0, -1]]
    for perm, flips in _symmetries(dims):
        t = _transform(ends.copy(), perm, flips, side)
        if (t[0] == entry).all() and (t[1] == exit_).all():
            return _transform(curve.copy(), perm, flips, side)
    raise AssertionError(f"no cube symmetry maps the curve's ends to {entry}, {exit_}")


def _serpentine(grid: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Boustrophedon over a grid: consecutive cells are face neighbours."""
    if len(grid) == 1:
        return [(i,) for i in range(grid[0])]
    inner = _serpentine(grid[1:])
    return [(i,) + cell for i in range(grid[0]) for cell in (inner if i % 2 == 0 else inner[::-1])]


def hilbert_order(shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices into a C-ordered grid of ``shape`` (e.g. (T, H, W)) in Hilbert order."""
    shape = tuple(int(s) for s in shape)
    if any(s < 1 or s & (s - 1) for s in shape):
        raise ShapeError(f"hilbert_order: every side must be a power of two (pad the features), got {shape}")
    axes = [k for k, s in enumerate(shape) if s > 1]
    if not axes:
        return np.zeros(1, dtype=np.int64)
    sub = tuple(shape[k] for k in axes)
    side = min(sub)
    curve = _cube_curve(len(sub), side.bit_length() - 1)
    grid = tuple(s // side for s in sub)
    cells = _serpentine(grid)
    pieces = []
    prev_exit = None
    for n, cell in enumerate(cells):
        origin = np.array(cell) * side
        if prev_exit is None:
            entry = np.zeros(len(sub), dtype=np.int64)
        else:
            entry = prev_exit + (np.array(cell) - np.array(cells[n - 1])) - origin
        nxt = np.array(cells[n + 1]) - np.array(cell) if n + 1 < len(cells) else None
        exit_ = _exit_corner(entry, side, nxt)
        pieces.append(origin + _oriented(curve, side, entry, exit_))
        prev_exit = origin + exit_
    coords = np.concatenate(pieces)
    full = np.zeros((len(coords), len(shape)), dtype=np.int64)
    full[:, axes] = coords
    return np.ravel_multi_index(full.T, shape)


def _exit_corner(entry, side, towards):
    """A corner sharing an edge with ``entry`` on the face towards the next cube (any if last)."""
    last = side - 1
    options = []
    for k in range(len(entry)):
        q = entry.copy()
        q[k] = last - q[k]
        options.append(q)
    if side == 1:
        return entry.copy()
    if towards is None:
        return options[0]
    axis = int(np.flatnonzero(towards)[0])
    target = last if towards[axis] > 0 else 0
    for q in options:
        if q[axis] == target:
            return q
    raise AssertionError("no exit corner on the face towards the next cube")


def line_order(shape: tuple[int, ...]) -> np.ndarray:
    """Line-by-line (C order) scanning: the global block's order."""
    return np.arange(int(np.prod(shape)), dtype=np.int64)
