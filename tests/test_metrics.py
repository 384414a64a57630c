import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from ispsim.bench.metrics import patch_psnr, peak_signal_noise_ratio, structural_similarity
from ispsim.errors import ShapeError
from ispsim.scenes import demo_scene


def pairs(rng):
    a = rng.random((3, 40, 56))
    yield a, np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    real = np.clip(demo_scene("sony", height=64, width=96).rgb, 0, 1).astype(np.float64)
    yield real, np.clip(real * 0.9 + 0.02, 0, 1)


def test_psnr_matches_scikit_image(rng):
    for a, b in pairs(rng):
        assert peak_signal_noise_ratio(a, b) == pytest.approx(sk_psnr(a, b, data_range=1.0), abs=1e-4)
    assert peak_signal_noise_ratio(a, a) == float("inf")


def test_ssim_matches_scikit_image(rng):
    for a, b in pairs(rng):
        ref = sk_ssim(a, b, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5,
                      use_sample_covariance=False)
        assert structural_similarity(a, b) == pytest.approx(ref, abs=1e-4)
    assert structural_similarity(a, a) == pytest.approx(1.0)


def test_metric_inputs_are_checked():
    with pytest.raises(ShapeError, match="differ in shape"):
        peak_signal_noise_ratio(np.zeros((3, 8, 8)), np.zeros((3, 8, 9)))
    with pytest.raises(ShapeError, match="at least 11 px"):
        structural_similarity(np.zeros((3, 8, 8)), np.zeros((3, 8, 8)))


def test_per_patch_psnr_is_the_mean_of_each_patch_psnr():
    gt = np.full((3, 40, 48), 0.5)
    # the same error everywhere: both protocols give -20 log10(e)
    assert patch_psnr(gt, gt + 0.01) == pytest.approx(40.0, abs=1e-9)
    # the error in one patch of the 4 x 4 grid (10 x 12 pixels): per image its MSE is diluted 16 times,
    # per patch it is one patch at 20 dB and fifteen error-free ones at the 120 dB cap
    out = gt.copy()
    out[:, :10, :12] += 0.1
    assert peak_signal_noise_ratio(gt, out) == pytest.approx(20 + 10 * np.log10(16), abs=1e-9)
    assert patch_psnr(gt, out) == pytest.approx((20 + 15 * 120) / 16, abs=1e-9)
    # odd sizes: the grid's edges are rounded, every pixel in exactly one patch
    odd = np.random.default_rng(0).random((3, 37, 53))
    assert patch_psnr(odd, odd + 0.02) == pytest.approx(-20 * np.log10(0.02), abs=1e-9)
