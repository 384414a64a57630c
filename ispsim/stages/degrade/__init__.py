"""Detail degradations of the RDDM synthesis (after Real-ESRGAN, without sRGB noise).

- Blur with a (possibly anisotropic, rotated) Gaussian kernel, mirror borders.
- Resize by separable interpolation matrices (``bilinear`` as PyTorch's ``align_corners=False``,
  ``area`` as box averaging, ``bicubic`` with a = -0.75): both backends multiply by the same
  matrices, so they agree to float rounding.
JPEG is the :mod:`ispsim.stages.jpeg` stage.
"""

from __future__ import annotations

import math

import numpy as np

from ..._checks import check_image
from ...errors import ShapeError
from .._spec import StageSpec, check_method, kernels

RESIZE_METHODS = ("bilinear", "area", "bicubic")

SPEC = StageSpec(
    name="degrade",
    invertible="none",
    differentiable=True,
    stochastic=False,  # the draws are the caller's (see ispsim.datasets.generators)
    methods=("blur",) + RESIZE_METHODS,
    doc="Gaussian blur kernels and resizing by interpolation matrices.",
)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0) -> np.ndarray:
    """Normalised ``(size, size)`` Gaussian; ``theta`` rotates the anisotropic axes (radians)."""
    if size % 2 == 0 or size < 1:
        raise ShapeError(f"gaussian_kernel: size must be odd, got {size}")
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if sigma_x <= 0 or sigma_y <= 0:
        raise ShapeError(f"gaussian_kernel: sigmas must be positive, got {sigma_x}, {sigma_y}")
    r = size // 2
    y, x = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    k = np.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return k / k.sum()


def blur(x, kernel):
    """Convolve every channel of ``(*, C, H, W)`` with ``kernel`` ``(k, k)``, mirror borders."""
    check_image(x, "blur(x)")
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ShapeError(f"blur: kernel must be square with odd size, got {k.shape}")
    if k.shape[0] // 2 >= min(x.shape[-2:]):
        raise ShapeError(f"blur: kernel {k.shape} too large for an image of {tuple(x.shape[-2:])}")
    return kernels(__name__, x).blur(x, k)


def interpolation_matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """``(n_out, n_in)`` weights: ``out = W @ in`` along one axis."""
    check_method(method, RESIZE_METHODS, "resize")
    scale = n_in / n_out
    w = np.zeros((n_out, n_in))
    if method == "area":
        for i in range(n_out):
            lo, hi = i * scale, (i + 1) * scale
            for j in range(int(math.floor(lo)), min(int(math.ceil(hi)), n_in)):
                w[i, j] = min(hi, j + 1) - max(lo, j)
        return w / w.sum(axis=1, keepdims=True)
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    if method == "bilinear":
        centres = np.clip(centres, 0, n_in - 1)
        lo = np.floor(centres).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = centres - lo
        np.add.at(w, (np.arange(n_out), lo), 1 - frac)
        np.add.at(w, (np.arange(n_out), hi), frac)
        return w
    a = -0.75
    base = np.floor(centres).astype(int)
    for off in range(-1, 3):
        j = base + off
        d = np.abs(centres - j)
        wt = np.where(d <= 1, (a + 2) * d**3 - (a + 3) * d**2 + 1,
                      np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0))
        np.add.at(w, (np.arange(n_out), np.clip(j, 0, n_in - 1)), wt)
    return w


def resize(x, size: tuple[int, int], method: str = "bilinear"):
    """Resize ``(*, C, H, W)`` to ``size = (h, w)``."""
    check_image(x, "resize(x)")
    h, w = (int(v) for v in size)
    if h < 1 or w < 1:
        raise ShapeError(f"resize: target size must be positive, got {size}")
    wy = interpolation_matrix(x.shape[-2], h, method)
    wx = interpolation_matrix(x.shape[-1], w, method)
    return kernels(__name__, x).resize(x, wy, wx)
