"""Demosaicing: mosaic ``(*, 1, H, W)`` -> RGB ``(*, 3, H, W)``; the inverse is the CFA mosaic.

- ``bilinear``: normalised convolution (zero outside the image), so borders average only the
  photosites that exist; the measured sample of each site is kept exactly, which makes
  ``mosaic(demosaic(raw)) == raw``. This is the demosaic of the CAM/NUS data.
- ``malvar2004``: Malvar, He & Cutler, "High-quality linear interpolation for demosaicing of
  Bayer-patterned color images", ICASSP 2004; borders by mirror reflection, which keeps the CFA
  phase. Output is not clipped.
"""

from __future__ import annotations

import numpy as np

from ..._checks import check_image
from .. import cfa
from .._spec import StageSpec, check_method, kernels

METHODS = ("bilinear", "malvar2004")

SPEC = StageSpec(
    name="demosaic",
    invertible="exact",  # left inverse: cfa.mosaic recovers the mosaic from either method
    differentiable=True,
    stochastic=False,
    methods=METHODS,
    doc="Bilinear (normalised convolution) or Malvar-He-Cutler 2004.",
)

BILINEAR_RB = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 4
BILINEAR_G = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=np.float64) / 4

# Malvar 2004 filters (x 1/8): G at R/B sites; R/B at a G site whose row holds that colour;
# R/B at a G site whose column holds it; R at B sites and B at R sites.
MALVAR_G = np.array(
    [[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]],
    dtype=np.float64,
) / 8
MALVAR_ROW = np.array(
    [[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0], [0, 0, 0.5, 0, 0]],
    dtype=np.float64,
) / 8
MALVAR_COL = MALVAR_ROW.T.copy()
MALVAR_DIAG = np.array(
    [[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]],
    dtype=np.float64,
) / 8


def demosaic(raw, pattern: str, method: str = "bilinear"):
    """Interpolate a Bayer mosaic ``(*, 1, H, W)`` to RGB ``(*, 3, H, W)``."""
    check_method(method, METHODS, "demosaic")
    check_image(raw, f"demosaic(raw, method={method!r})", channels=1)
    grid = cfa.colour_grid(pattern)
    return getattr(kernels(__name__, raw), method)(raw, grid)


def remosaic(rgb, pattern: str):
    """The inverse of :func:`demosaic`: sample the RGB image through the CFA again."""
    return cfa.mosaic(rgb, pattern)
