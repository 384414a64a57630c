"""Metrics with fixed, documented definitions (``image_true`` first, options keyword-only).

- PSNR: per image on normalised float RAW, ``data_range = 1``, the ground truth not clipped;
  identical images give ``inf``. Leaderboards average per-image values.
- Per-patch PSNR (INF's protocol): the image cut into a 4 x 4 grid of patches (INF's tiles; on the
  CAM data 204 x 304 of Sony's 816 x 1216), the PSNR of each, averaged over patches. It weighs a
  patch's error on a log scale, so a few bad patches (clipped highlights) cost less than in the
  per-image PSNR of the whole image's MSE: on the same outputs it reads several dB higher.
- SSIM: Wang et al. 2004 with a Gaussian window (sigma 1.5, 11 taps), K1 = 0.01, K2 = 0.03,
  population covariance, ``data_range = 1``, mean over the image minus a 5-pixel border (as
  scikit-image crops), then over channels.
- LPIPS: :mod:`ispsim.bench.lpips`, on sRGB renders; needs local backbone weights.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from ..errors import ShapeError

SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03


def _pair(image_true, image_test):
    a = np.asarray(image_true, dtype=np.float64)
    b = np.asarray(image_test, dtype=np.float64)
    if a.shape != b.shape:
        raise ShapeError(f"metrics: image_true {a.shape} and image_test {b.shape} differ in shape")
    if a.ndim != 3:
        raise ShapeError(f"metrics: expected (C, H, W) images, got {a.shape}")
    return a, b


def peak_signal_noise_ratio(image_true, image_test, *, data_range: float = 1.0) -> float:
    a, b = _pair(image_true, image_test)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


PATCH_GRID = (4, 4)


def patch_psnr(image_true, image_test, *, grid: tuple[int, int] = PATCH_GRID, data_range: float = 1.0) -> float:
    """Mean over the patches of a ``grid`` tiling of each patch's PSNR (an error-free patch counts
    as 120 dB, so one does not make the mean infinite)."""
    a, b = _pair(image_true, image_test)
    h, w = a.shape[-2:]
    ys = np.linspace(0, h, grid[0] + 1).astype(int)
    xs = np.linspace(0, w, grid[1] + 1).astype(int)
    values = []
    for y0, y1 in zip(ys[:-1], ys[1:]):
        for x0, x1 in zip(xs[:-1], xs[1:]):
            mse = max(float(np.mean((a[:, y0:y1, x0:x1] - b[:, y0:y1, x0:x1]) ** 2)), 1e-12 * data_range**2)
            values.append(10 * np.log10(data_range**2 / mse))
    return float(np.mean(values))


def structural_similarity(image_true, image_test, *, data_range: float = 1.0) -> float:
    a, b = _pair(image_true, image_test)
    r = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(a.shape[-2:]) < 2 * r + 1:
        raise ShapeError(f"structural_similarity: images must be at least {2 * r + 1} px on each side, got {a.shape}")
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    values = []
    for x, y in zip(a, b):
        f = lambda im: gaussian_filter(im, SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")  # noqa: E731
        ux, uy = f(x), f(y)
        vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        values.append(s[r:-r, r:-r].mean())
    return float(np.mean(values))
