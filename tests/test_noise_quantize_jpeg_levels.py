import math

import numpy as np
import pytest
import torch

from ispsim.errors import ShapeError
from ispsim.stages import jpeg, levels, noise, quantize

from .conftest import psnr


def test_iso_model_closed_form():
    m = noise.NoiseModel(shot_at_base_iso=1e-4, base_iso=100)
    shot, read = m.levels(800)
    assert shot == pytest.approx(8e-4)
    assert math.log(read) == pytest.approx(2.18 * math.log(8e-4) + 1.20)
    isos = [m.sample_iso(np.random.default_rng(i)) for i in range(200)]
    assert min(isos) >= 100 and max(isos) <= 3200


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_heteroscedastic_variance(backend):
    x = np.full((1, 400, 400), 0.3, np.float32)
    shot, read = 1e-3, 1e-5
    if backend == "numpy":
        y = noise.add_noise(x, shot, read, np.random.default_rng(0))
    else:
        y = noise.add_noise(torch.from_numpy(x), shot, read, torch.Generator().manual_seed(0)).numpy()
    var = shot * 0.3 + read
    assert abs(y.mean() - 0.3) < 4 * math.sqrt(var / y.size)
    # Sample variance of n normals: relative standard error sqrt(2 / n).
    assert y.var() == pytest.approx(var, rel=5 * math.sqrt(2 / y.size))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_poisson_gaussian_moments(backend):
    x = np.full((1, 400, 400), 0.2, np.float32)
    shot, read = 2e-3, 4e-6
    if backend == "numpy":
        y = noise.add_noise(x, shot, read, np.random.default_rng(0), "poisson_gaussian")
    else:
        y = noise.add_noise(torch.from_numpy(x), shot, read, torch.Generator().manual_seed(0), "poisson_gaussian").numpy()
    var = shot * 0.2 + read
    assert y.mean() == pytest.approx(0.2, abs=4 * math.sqrt(var / y.size))
    assert y.var() == pytest.approx(var, rel=0.02)
    # Photon counts: (y - gaussian) / shot are integers, so y is concentrated near multiples of shot.


def test_gaussian_core_parity_and_gradient(rng):
    x = rng.random((3, 8, 8)).astype(np.float32)
    z = rng.standard_normal(x.shape).astype(np.float32)
    a = noise.apply_gaussian(x, 1e-3, 1e-5, z)
    b = noise.apply_gaussian(torch.from_numpy(x), 1e-3, 1e-5, torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    xt = torch.rand(1, 4, 4, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(1, 4, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: noise.apply_gaussian(v, 1e-2, 1e-4, zt), (xt,))
    zero = torch.zeros(1, 1, 2, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(noise.apply_gaussian(zero, 0.0, 0.0, torch.ones(1, 1, 2, dtype=torch.float64)).sum(), zero)
    assert torch.isfinite(g).all()


def test_same_seed_same_bytes(rng):
    x = rng.random((1, 16, 16)).astype(np.float32)
    for method in noise.METHODS:
        a = noise.add_noise(x, 1e-3, 1e-5, np.random.default_rng(7), method)
        b = noise.add_noise(x, 1e-3, 1e-5, np.random.default_rng(7), method)
        assert a.tobytes() == b.tobytes()


def test_quantize(rng):
    x = np.array([[[-0.2, 0.0, 0.5, 0.999, 1.3]]], np.float32)
    np.testing.assert_allclose(quantize.quantize(x, 8), np.array([[[0, 0, 128, 255, 255]]]) / 255, atol=1e-7)
    np.testing.assert_array_equal(quantize.to_integer(x, 8), [[[0, 0, 128, 255, 255]]])
    assert quantize.to_integer(x, 16).dtype == np.uint16
    t = torch.from_numpy(x).requires_grad_(True)
    q = quantize.quantize(t, 8)
    np.testing.assert_allclose(q.detach().numpy(), quantize.quantize(x, 8))
    (g,) = torch.autograd.grad(q.sum(), t)
    np.testing.assert_array_equal(g.numpy(), 1.0)  # straight through
    raw = rng.random((1, 8, 8)).astype(np.float32)
    dn = quantize.quantize_adc(raw, 128, 4095) * 3967 + 128
    np.testing.assert_allclose(dn, np.rint(dn), atol=2e-3)
    np.testing.assert_allclose(quantize.quantize_adc(torch.from_numpy(raw), 128, 4095).numpy(), quantize.quantize_adc(raw, 128, 4095))
    with pytest.raises(ShapeError, match="bits"):
        quantize.quantize(x, 0)


def test_levels_round_trip_and_parity(rng):
    dn = rng.integers(0, 4096, (1, 6, 8)).astype(np.uint16)
    dn[0, 0, 0] = 5
    raw = levels.normalize(dn, 128, 4095)
    assert raw.dtype == np.float32 and raw.min() < 0  # below-black values are kept
    np.testing.assert_allclose(levels.normalize(torch.from_numpy(dn.astype(np.int32)), 128, 4095).numpy(), raw, rtol=1e-6)
    np.testing.assert_allclose(levels.denormalize(raw, 128, 4095), dn, atol=1e-3)
    with pytest.raises(ShapeError, match="white level"):
        levels.normalize(dn, 4095, 128)


def test_jpeg_quality_orders_error(rng):
    yy, xx = np.mgrid[0:64, 0:64] / 64
    img = np.stack([0.5 + 0.4 * np.sin(8 * xx), 0.5 + 0.4 * np.cos(6 * yy), xx * yy]).astype(np.float32)
    hi = jpeg.jpeg(img, 95)
    lo = jpeg.jpeg(img, 10)
    assert psnr(img, hi) > 38 > psnr(img, lo) > 20
    np.testing.assert_array_equal(jpeg.jpeg(torch.from_numpy(img), 95).numpy(), hi)
    with pytest.raises(ShapeError, match="quality"):
        jpeg.jpeg(img, 0)
