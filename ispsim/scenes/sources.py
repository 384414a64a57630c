"""Scene sources for dataset generation: each yields normalised camera RGB for a camera.

- ``synthetic``: procedural scenes (:mod:`ispsim.scenes.synthetic`), nothing to download.
- ``skimage``: natural photographs that scikit-image ships, brought back to RAW by the blind
  inverse ISP of the camera.
- ``srgb_folder``: a folder of sRGB images, the same way.
- ``raw_folder``: camera RAW files (rawpy/LibRaw) or 16-bit Bayer PNG/TIFF in the NUS layout
  (``nus_folder``: levels and CFA from the camera profile): black/white normalisation and a
  bilinear demosaic, as the CAM/NUS data were made.
Loading is a pure function of (index, camera, size, rng).

A finite source also names the scene of each item (``scene_of``): two items of one scene (the
two views of a stereo pair) share it, so that a dataset's splits can be kept apart by scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cameras import CameraProfile
from ..errors import InputFileError

# Colour photographs inside the scikit-image wheel (no download): loader name and which image.
SKIMAGE_IMAGES = (("astronaut", None), ("coffee", None), ("chelsea", None), ("rocket", None),
                  ("stereo_motorcycle", 0), ("stereo_motorcycle", 1))
SRGB_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class Scene:
    rgb: np.ndarray  # (3, H, W) normalised camera RGB
    gains: tuple[float, float, float]  # as-shot white balance for the scene illuminant
    meta: dict = field(default_factory=dict)


def _crop(img, height, width, rng, where):
    h, w = img.shape[-2:]
    if h < height or w < width:
        raise InputFileError(f"{where}: {w}x{h} is smaller than the recipe's {width}x{height}")
    y = int(rng.integers(0, h - height + 1))
    x = int(rng.integers(0, w - width + 1))
    return np.ascontiguousarray(img[..., y:y + height, x:x + width]), (y, x)


def _fit(img, height, width):
    """Scale down (area) so the image just covers height x width."""
    from ..stages import degrade

    h, w = img.shape[-2:]
    s = max(height / h, width / w)
    if s >= 1:
        return img
    return degrade.resize(img, (max(height, int(np.ceil(h * s))), max(width, int(np.ceil(w * s)))), "area")


class SyntheticSource:
    name = "synthetic"
    finite = False  # every sample draws its own scene from its own seed

    def __init__(self, cct_range, exposure_range):
        self.cct_range, self.exposure_range = cct_range, exposure_range

    def __len__(self):
        return 2**31  # any index gives a new scene

    def load(self, index, camera: CameraProfile, height, width, rng) -> Scene:
        from .synthetic import synthetic_scene

        cct = rng.uniform(*self.cct_range)
        s = synthetic_scene(camera, height, width, cct=cct, exposure=rng.uniform(*self.exposure_range), rng=rng)
        return Scene(s.rgb, s.as_shot_gains, {"source": "synthetic", "cct": s.cct})


class SrgbSource:
    """sRGB photographs -> camera RGB through the camera's blind inverse ISP."""

    finite = True

    def __init__(self, items: list, exposure_range, label: str):
        self.items, self.exposure_range, self.label = items, exposure_range, label

    def __len__(self):
        return len(self.items)

    def scene_of(self, index: int) -> str:
        return Path(str(self.items[index])).stem

    def _read(self, item) -> np.ndarray:
        from ..io import read_srgb

        return read_srgb(item)

    def load(self, index, camera, height, width, rng) -> Scene:
        from ..pipeline import Pipeline, PipelineConfig

        item = self.items[index % len(self.items)]
        srgb = _fit(self._read(item), height, width)
        srgb, (y, x) = _crop(srgb, height, width, rng, str(item))
        if rng.uniform() < 0.5:
            srgb = np.ascontiguousarray(srgb[..., ::-1])
        pipe = Pipeline(camera, PipelineConfig(local_tone=0.0))
        rgb, record = pipe.unprocess(srgb, rng=rng, mosaic=False)
        rgb = np.clip(rgb, 0, None) * np.float32(rng.uniform(*self.exposure_range) / max(self.exposure_range[1], 1e-6))
        label = str(item) if not isinstance(item, tuple) else ":".join(str(v) for v in item if v is not None)
        return Scene(rgb.astype(np.float32), record.gains, {"source": self.label, "path": label, "crop": [y, x]})


class SkimageSource(SrgbSource):
    def __init__(self, exposure_range):
        super().__init__(list(SKIMAGE_IMAGES), exposure_range, "skimage")

    def _read(self, item) -> np.ndarray:
        import skimage.data

        name, which = item
        a = getattr(skimage.data, name)()
        a = a[which] if which is not None else a
        return (a[..., :3].astype(np.float32) / 255).transpose(2, 0, 1).copy()

    def scene_of(self, index: int) -> str:
        return self.items[index][0]  # both views of the stereo pair are one scene


class RawSource:
    """RAW files: normalise, bilinear demosaic, optional box downsampling (CAM used 1/4)."""

    finite = True

    def __init__(self, files: list[Path], downsample: int, use_profile_levels: bool, label: str):
        self.files, self.downsample, self.use_profile_levels, self.label = files, downsample, use_profile_levels, label

    def __len__(self):
        return len(self.files)

    def scene_of(self, index: int) -> str:
        return self.files[index].stem

    def load(self, index, camera, height, width, rng) -> Scene:
        from ..io import read_raw
        from ..stages import demosaic, levels

        path = self.files[index % len(self.files)]
        s = camera.sensor
        kw = dict(black=s.black_level, white=s.white_level, cfa=s.cfa) if self.use_profile_levels else {}
        r = read_raw(path, defaults=s, **kw)
        if r.dn.shape[0] % 2 or r.dn.shape[1] % 2:
            r.dn = r.dn[: r.dn.shape[0] // 2 * 2, : r.dn.shape[1] // 2 * 2]
        raw = np.clip(levels.normalize(r.dn, r.black, r.white), 0, 1)[None]
        rgb = demosaic.demosaic(raw, r.cfa, "bilinear")
        if self.downsample > 1:
            d = self.downsample
            h, w = rgb.shape[-2] // d * d, rgb.shape[-1] // d * d
            rgb = rgb[:, :h, :w].reshape(3, h // d, d, w // d, d).mean(axis=(2, 4))
        rgb, (y, x) = _crop(rgb, height, width, rng, str(path))
        if r.gains is None:
            from ..stages.color import illuminant_xy

            gains = tuple(camera.calibration.gains_for_xy(illuminant_xy(camera.look.illuminant)))
        else:
            gains = r.gains
        return Scene(rgb.astype(np.float32), tuple(gains), {"source": self.label, "path": str(path), "crop": [y, x]})


def make_source(spec, downsample: int = 1):
    """The scene source a recipe's ``[scenes]`` table names."""
    from ..io import RAW_SUFFIXES

    if spec.source == "synthetic":
        return SyntheticSource(spec.cct_range, spec.exposure_range)
    if spec.source == "skimage":
        return SkimageSource(spec.exposure_range)
    folder = Path(spec.path).expanduser()
    if not folder.is_dir():
        raise InputFileError(f"{folder}: scene folder not found")
    suffixes = {"srgb_folder": SRGB_SUFFIXES, "raw_folder": RAW_SUFFIXES + (".png", ".tif", ".tiff", ".npy"),
                "nus_folder": (".png", ".tif", ".tiff")}[spec.source]
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise InputFileError(f"{folder}: no {spec.source.replace('_folder', '')} files ({', '.join(suffixes)})")
    if spec.source == "srgb_folder":
        return SrgbSource(files, spec.exposure_range, "srgb_folder")
    return RawSource(files, downsample, spec.source == "nus_folder", spec.source)
