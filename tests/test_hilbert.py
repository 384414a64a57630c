import numpy as np
import pytest

from ispsim.errors import ShapeError
from ispsim.methods.rawmamba.hilbert import hilbert_order, line_order


@pytest.mark.parametrize("shape", [(4, 4, 4), (8, 8, 8), (4, 16, 32), (2, 8, 8), (1, 16, 16), (1, 8, 32),
                                   (8, 4, 16), (16, 2, 2), (1, 1, 8), (1, 1, 1)])
def test_bijection_and_neighbour_steps(shape):
    order = hilbert_order(shape)
    assert np.array_equal(np.sort(order), np.arange(np.prod(shape)))
    coords = np.stack(np.unravel_index(order, shape), axis=1)
    steps = np.abs(np.diff(coords, axis=0)).sum(axis=1)
    assert (steps == 1).all()


def test_locality_beats_line_scanning():
    shape = (4, 16, 16)
    def mean_gap(order):  # how far apart in the sequence face neighbours in space-time are
        pos = np.empty_like(order)
        pos[order] = np.arange(len(order))
        grid = pos.reshape(shape)
        gaps = [np.abs(np.diff(grid, axis=a)).mean() for a in range(3)]
        return float(np.mean(gaps))
    assert mean_gap(hilbert_order(shape)) < 0.5 * mean_gap(line_order(shape))


def test_sides_must_be_powers_of_two():
    with pytest.raises(ShapeError, match="power of two"):
        hilbert_order((5, 8, 8))
