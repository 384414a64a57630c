import numpy as np
import pytest
import torch

from ispsim.errors import ShapeError
from ispsim.stages import white_balance as wb


def cast_image(rng, cast):
    grey = rng.random((1, 20, 30)) * 0.8 + 0.1
    return (grey * np.asarray(cast)[:, None, None]).astype(np.float32)


@pytest.mark.parametrize("method", wb.METHODS)
def test_estimators_undo_a_global_cast(rng, method):
    cast = np.array([0.5, 1.0, 0.25])
    x = cast_image(rng, cast)
    for backend in (np.asarray, torch.from_numpy):
        gains = np.asarray(wb.estimate_gains(backend(x), method))
        np.testing.assert_allclose(gains, 1 / cast, rtol=1e-5)


def test_estimators_closed_form(rng):
    x = rng.random((3, 10, 10)).astype(np.float32)
    flat = x.reshape(3, -1).astype(np.float64)
    gw = flat.mean(1)
    np.testing.assert_allclose(wb.estimate_gains(x, "gray_world"), gw[1] / gw, rtol=1e-6)
    wp = np.percentile(flat, 99, axis=1)
    np.testing.assert_allclose(wb.estimate_gains(x, "white_patch"), wp[1] / wp, rtol=1e-6)
    sg = np.mean(flat**6, axis=1) ** (1 / 6)
    np.testing.assert_allclose(wb.estimate_gains(x, "shades_of_gray"), sg[1] / sg, rtol=1e-6)
    np.testing.assert_allclose(wb.estimate_gains(x, "shades_of_gray", p=1), gw[1] / gw, rtol=1e-6)


def test_batched_gains_and_inverse(rng):
    x = rng.random((2, 3, 4, 5)).astype(np.float32)
    gains = np.array([[2.0, 1.0, 1.5], [1.2, 1.0, 3.0]])
    y = wb.apply_gains(x, gains)
    np.testing.assert_allclose(y, x * gains[:, :, None, None].astype(np.float32))
    np.testing.assert_allclose(wb.apply_gains(torch.from_numpy(x), gains).numpy(), y)
    np.testing.assert_allclose(wb.remove_gains(y, gains), x, rtol=1e-6)
    np.testing.assert_allclose(wb.estimate_gains(x, "gray_world").shape, (2, 3))


def test_gradcheck_learnable_gains():
    x = torch.rand(3, 4, 4, dtype=torch.float64, requires_grad=True)
    g = torch.tensor([2.0, 1.0, 1.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(wb.apply_gains, (x, g))
    assert torch.autograd.gradcheck(lambda v: wb.estimate_gains(v, "shades_of_gray"), (x + 0.1,))


def test_bad_input():
    with pytest.raises(ShapeError, match=r"\(\*, 3\)"):
        wb.apply_gains(np.zeros((3, 2, 2), np.float32), [1.0, 2.0])
    with pytest.raises(ValueError, match="gray_world, white_patch, shades_of_gray"):
        wb.estimate_gains(np.zeros((3, 2, 2), np.float32), "retinex")
