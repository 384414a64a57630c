"""A procedural scene in a camera's RAW space: colour checker, dead leaves, ramp and highlights.

Patch colours are spectral: BabelColor's average ColorChecker reflectances under a CIE daylight
(>= 4000 K) or blackbody illuminant, integrated with the CIE 1931 observer by colour-science,
then taken to camera RGB by the profile's XYZ -> camera matrix. Specular highlights exceed the
white level on purpose, so a render shows clipping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cameras import CameraProfile, load_camera
from ..stages import color


@dataclass
class SyntheticScene:
    rgb: np.ndarray  # (3, H, W) normalised camera RGB, unclipped
    white_xy: tuple[float, float]  # chromaticity of the illuminant
    as_shot_gains: tuple[float, float, float]
    cct: float


def _illuminant_sd(cct: float):
    import colour

    if cct >= 4000:
        return colour.sd_CIE_illuminant_D_series(colour.temperature.CCT_to_xy_CIE_D(cct))
    return colour.sd_blackbody(cct)


def checker_xyz(cct: float) -> tuple[np.ndarray, np.ndarray]:
    """XYZ of the 24 ColorChecker patches and of the perfect white, white Y = 1."""
    import colour

    shape = colour.SpectralShape(380, 780, 5)
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy().align(shape)
    illum = _illuminant_sd(cct).copy().align(shape)
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    xyz = np.array([colour.sd_to_XYZ(sd.copy().align(shape), cmfs, illum) for sd in sds.values()]) / 100
    white = colour.sd_to_XYZ(colour.sd_ones(shape), cmfs, illum) / 100
    return xyz, white


def demo_scene(camera: CameraProfile | str = "sony", *, height: int = 384, width: int = 576,
               cct: float = 5500.0, exposure: float = 0.7, rng=0) -> SyntheticScene:
    """A scene for ``camera`` under an illuminant of colour temperature ``cct``."""
    cam = camera if isinstance(camera, CameraProfile) else load_camera(camera)
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    xyz, white = checker_xyz(cct)
    white_xy = white[:2] / white.sum()
    to_cam = cam.calibration.xyz_to_camera(color.xy_to_cct(white_xy))
    patches = xyz @ to_cam.T  # (24, 3) camera RGB
    h, w = height, width
    img = np.broadcast_to(patches[21], (h, w, 3)).copy()
    yy, xx = np.mgrid[0:h, 0:w]

    # Dead leaves (Lee, Mumford & Huang 2001): discs with radii of density ~ r^-3, patch-coloured.
    for _ in range(500):
        r = min(6.0 / np.sqrt(rng.uniform(1e-4, 1.0)), 0.2 * min(h, w))
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = patches[rng.integers(24)] * rng.uniform(0.3, 1.2)

    # ColorChecker 4 x 6 on the left two thirds.
    ph, pw = int(h * 0.6) // 4, int(w * 0.62) // 6
    oy, ox = int(h * 0.05), int(w * 0.03)
    img[oy - 6:oy + 4 * ph + 6, ox - 6:ox + 6 * pw + 6] = patches[23] * 0.3
    for i in range(24):
        r, c = divmod(i, 6)
        img[oy + r * ph + 4:oy + (r + 1) * ph - 4, ox + c * pw + 4:ox + (c + 1) * pw - 4] = patches[i]

    # Neutral ramp from black to 2x white along the bottom: the highlight end clips.
    ramp_y = int(h * 0.82)
    ramp = np.linspace(0, 2.0, w)[None, :, None] * (white @ to_cam.T)[None, None, :]
    img[ramp_y:] = ramp

    # Specular highlights: Gaussian blobs up to 6x white.
    for _ in range(3):
        cy, cx, s = rng.uniform(0, ramp_y), rng.uniform(w * 0.7, w), rng.uniform(3, 8)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        img += 6.0 * blob[..., None] * (white @ to_cam.T)[None, None, :]

    rgb = (img * exposure).transpose(2, 0, 1).astype(np.float32)
    gains = cam.calibration.gains_for_xy(white_xy)
    return SyntheticScene(rgb, tuple(float(v) for v in white_xy), tuple(float(g) for g in gains), float(cct))
