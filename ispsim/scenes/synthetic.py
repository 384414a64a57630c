"""Procedural scenes in a camera's RAW space: dead leaves, a colour checker, a ramp, highlights.

Scene-referred and high dynamic range. Patch colours are spectral: BabelColor's average
ColorChecker reflectances under a CIE daylight (>= 4000 K) or blackbody illuminant, integrated
with the CIE 1931 observer by colour-science, then taken to camera RGB by the profile's
XYZ -> camera matrix. Highlights exceed the white level on purpose, so renders show clipping.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=256)
def checker_xyz(cct: float) -> tuple[np.ndarray, np.ndarray]:
    """XYZ of the 24 ColorChecker patches and of the perfect white (white Y = 1)."""
    import colour

    shape = colour.SpectralShape(380, 780, 5)
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy().align(shape)
    illum = _illuminant_sd(cct).copy().align(shape)
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    xyz = np.array([colour.sd_to_XYZ(sd.copy().align(shape), cmfs, illum) for sd in sds.values()]) / 100
    white = colour.sd_to_XYZ(colour.sd_ones(shape), cmfs, illum) / 100
    xyz.flags.writeable = False
    white.flags.writeable = False
    return xyz, white


def _dead_leaves(img, patches, rng, n, rmin, rmax):
    """Lee, Mumford & Huang 2001: opaque discs with radius density ~ r^-3, patch-coloured."""
    h, w, _ = img.shape
    for _ in range(n):
        r = min(rmin / np.sqrt(rng.uniform(1e-4, 1.0)), rmax)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, h)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, w)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[y0:y1, x0:x1][mask] = patches[rng.integers(24)] * rng.uniform(0.3, 1.2)


def synthetic_scene(camera: CameraProfile | str, height: int, width: int, *, cct: float, exposure: float,
                    rng: np.random.Generator, layout: str = "random") -> SyntheticScene:
    """A scene for ``camera`` under an illuminant of colour temperature ``cct``.

    ``layout="demo"``: checker top-left, ramp along the bottom; ``"random"``: everything placed
    by ``rng`` (checker and ramp present with probability 1/2).
    """
    cam = camera if isinstance(camera, CameraProfile) else load_camera(camera)
    cct = float(round(cct / 50.0) * 50.0)  # spectral integration is cached per 50 K
    xyz, white = checker_xyz(cct)
    white_xy = white[:2] / white.sum()
    to_cam = cam.calibration.xyz_to_camera(color.xy_to_cct(white_xy))
    patches = xyz @ to_cam.T
    white_cam = white @ to_cam.T
    h, w = height, width
    demo = layout == "demo"
    img = np.broadcast_to(patches[21], (h, w, 3)).copy()
    _dead_leaves(img, patches, rng, max(60, h * w // 400), rmin=max(2.0, min(h, w) / 60), rmax=0.2 * min(h, w))

    if demo or rng.uniform() < 0.5:
        scale = 1.0 if demo else rng.uniform(0.4, 1.0)
        ph, pw = max(int(h * 0.6 * scale) // 4, 3), max(int(w * 0.62 * scale) // 6, 3)
        oy = int(h * 0.05) if demo else int(rng.uniform(0, max(h - 4 * ph, 1)))
        ox = int(w * 0.03) if demo else int(rng.uniform(0, max(w - 6 * pw, 1)))
        b = max(1, ph // 8)
        img[max(oy - b, 0):oy + 4 * ph + b, max(ox - b, 0):ox + 6 * pw + b] = patches[23] * 0.3
        for i in range(24):
            r, c = divmod(i, 6)
            img[oy + r * ph + b:oy + (r + 1) * ph - b, ox + c * pw + b:ox + (c + 1) * pw - b] = patches[i]

    if demo or rng.uniform() < 0.5:
        ramp_y = int(h * 0.82) if demo else int(rng.uniform(0.6, 0.9) * h)
        img[ramp_y:] = np.linspace(0, 2.0, w)[None, :, None] * white_cam[None, None, :]

    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(3 if demo else int(rng.integers(0, 4))):
        cy, cx = rng.uniform(0, h * 0.8), rng.uniform(w * (0.7 if demo else 0.0), w)
        s = rng.uniform(3, 8) * min(h, w) / 384
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        img += 6.0 * blob[..., None] * white_cam[None, None, :]

    rgb = (img * exposure).transpose(2, 0, 1).astype(np.float32)
    gains = cam.calibration.gains_for_xy(white_xy)
    return SyntheticScene(rgb, tuple(float(v) for v in white_xy), tuple(float(g) for g in gains), cct)


def demo_scene(camera: CameraProfile | str = "sony", *, height: int = 384, width: int = 576,
               cct: float = 5500.0, exposure: float = 0.7, rng=0) -> SyntheticScene:
    """The fixed demo layout that ``ispsim render --camera NAME`` shows."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return synthetic_scene(camera, height, width, cct=cct, exposure=exposure, rng=rng, layout="demo")
