"""Colour correction: white-balanced camera RGB <-> linear sRGB through a 3x3 matrix.

The matrix follows the DNG specification (1.6, chapter 6, "Mapping Camera Color Space to CIE
XYZ Space") for profiles without ForwardMatrix: ColorMatrix1/2 (XYZ -> camera) are interpolated
linearly in inverse colour temperature (mired) between their calibration illuminants; the white
of the scene is found from the camera neutral by fixed-point iteration; camera -> XYZ is adapted
from that white to D65 with the Bradford transform and taken to linear sRGB. colour-science does
the colorimetry (xy <-> CCT, chromatic adaptation, the sRGB primaries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._checks import check_image
from ...errors import ConfigError, ShapeError
from .._spec import StageSpec, kernels

SPEC = StageSpec(
    name="color",
    invertible="exact",
    differentiable=True,
    stochastic=False,
    methods=("matrix",),
    doc="3x3 camera RGB -> linear sRGB from ColorMatrix1/2 by colour temperature.",
)

# EXIF LightSource codes used by DNG CalibrationIlluminant tags, with their CIE names.
ILLUMINANTS = {"A": 17, "D55": 20, "D65": 21, "D75": 22, "D50": 23}
_OBSERVER = "CIE 1931 2 Degree Standard Observer"


def check_illuminant(name: str) -> str:
    """The canonical name of a calibration illuminant (no colour-science import: listing cameras
    must stay fast)."""
    key = "A" if str(name).upper() in ("A", "STDA") else str(name).upper()
    if key not in ILLUMINANTS:
        raise ConfigError(f"illuminant: expected one of {', '.join(ILLUMINANTS)}, got {name!r}")
    return key


def illuminant_xy(name: str) -> np.ndarray:
    import colour

    return np.asarray(colour.CCS_ILLUMINANTS[_OBSERVER][check_illuminant(name)], dtype=np.float64)


def xy_to_cct(xy) -> float:
    import colour

    return float(colour.xy_to_CCT(np.asarray(xy, dtype=np.float64), method="McCamy 1992"))


def cct_to_xy(cct: float) -> np.ndarray:
    """Planckian-locus chromaticity (Kang et al. 2002, valid 1667 K - 25000 K)."""
    import colour

    if not 1667 <= cct <= 25000:
        raise ConfigError(f"colour temperature: expected 1667 K to 25000 K, got {cct}")
    return np.asarray(colour.CCT_to_xy(float(cct), method="Kang 2002"), dtype=np.float64)


def xy_to_XYZ(xy) -> np.ndarray:
    x, y = np.asarray(xy, dtype=np.float64)
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


@dataclass(frozen=True)
class ColorCalibration:
    """XYZ -> camera matrices at one or two calibration illuminants (DNG ColorMatrix1/2)."""

    matrix_1: tuple[float, ...]
    illuminant_1: str
    matrix_2: tuple[float, ...] | None = None
    illuminant_2: str | None = None

    def __post_init__(self):
        for name, m in (("color_matrix_1", self.matrix_1), ("color_matrix_2", self.matrix_2)):
            if m is not None and len(m) != 9:
                raise ConfigError(f"{name}: expected 9 numbers (row-major 3x3), got {len(m)}")
        if (self.matrix_2 is None) != (self.illuminant_2 is None):
            raise ConfigError("color_matrix_2 and calibration_illuminant_2 come together")
        check_illuminant(self.illuminant_1)
        if self.illuminant_2 is not None:
            check_illuminant(self.illuminant_2)

    def xyz_to_camera(self, cct: float) -> np.ndarray:
        m1 = np.asarray(self.matrix_1, dtype=np.float64).reshape(3, 3)
        if self.matrix_2 is None:
            return m1
        m2 = np.asarray(self.matrix_2, dtype=np.float64).reshape(3, 3)
        t1 = xy_to_cct(illuminant_xy(self.illuminant_1))
        t2 = xy_to_cct(illuminant_xy(self.illuminant_2))
        if t1 > t2:
            (t1, m1), (t2, m2) = (t2, m2), (t1, m1)
        # Linear in mired, clamped to the calibrated span (DNG spec).
        w = (1.0 / np.clip(cct, t1, t2) - 1.0 / t2) / (1.0 / t1 - 1.0 / t2)
        return w * m1 + (1.0 - w) * m2

    def neutral_for_xy(self, xy) -> np.ndarray:
        """Camera response to the white ``xy``, green-normalised."""
        n = self.xyz_to_camera(xy_to_cct(xy)) @ xy_to_XYZ(xy)
        return n / n[1]

    def gains_for_xy(self, xy) -> np.ndarray:
        """As-shot white-balance gains for an illuminant of chromaticity ``xy``."""
        return 1.0 / self.neutral_for_xy(xy)

    def white_xy(self, gains) -> np.ndarray:
        """The scene white whose neutral the gains cancel (DNG's iterative solve)."""
        neutral = 1.0 / np.asarray(gains, dtype=np.float64)
        xy = illuminant_xy("D50")
        for _ in range(50):
            XYZ = np.linalg.solve(self.xyz_to_camera(xy_to_cct(xy)), neutral)
            new = XYZ[:2] / XYZ.sum()
            if np.max(np.abs(new - xy)) < 1e-12:
                return new
            xy = new
        return xy

    def camera_to_srgb(self, gains) -> np.ndarray:
        """3x3 matrix from white-balanced camera RGB to linear sRGB; rows sum to 1."""
        import colour

        gains = np.asarray(gains, dtype=np.float64)
        if gains.shape != (3,) or not np.all(gains > 0):
            raise ShapeError(f"white balance gains: expected 3 positive numbers, got {gains.tolist()}")
        xy = self.white_xy(gains)
        cam_to_xyz = np.linalg.inv(self.xyz_to_camera(xy_to_cct(xy))) @ np.diag(1.0 / gains)
        cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(
            xy_to_XYZ(xy), xy_to_XYZ(illuminant_xy("D65")), transform="Bradford"
        )
        m = colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB @ cat @ cam_to_xyz
        return m / m.sum(axis=1, keepdims=True)


def srgb_to_xyz_matrix() -> np.ndarray:
    import colour

    return np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ, dtype=np.float64)


def _check_matrix(matrix):
    shape = tuple(getattr(matrix, "shape", np.shape(matrix)))
    if shape[-2:] != (3, 3):
        raise ShapeError(f"colour matrix: expected shape (*, 3, 3), got {shape}")
    return matrix


def apply_matrix(rgb, matrix):
    """``out[c] = sum_k matrix[c, k] * rgb[k]`` on ``(*, 3, H, W)``; matrix ``(3, 3)`` or ``(*, 3, 3)``."""
    check_image(rgb, "apply_matrix(rgb)", channels=3)
    return kernels(__name__, rgb).apply_matrix(rgb, _check_matrix(matrix))


def invert_matrix(rgb, matrix):
    """Inverse of :func:`apply_matrix`."""
    check_image(rgb, "invert_matrix(rgb)", channels=3)
    k = kernels(__name__, rgb)
    return k.apply_matrix(rgb, k.inverse(_check_matrix(matrix)))
