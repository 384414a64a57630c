"""``ispsim camera import``: a camera profile from a RAW file.

Any RAW through rawpy/LibRaw: CFA, black and white levels, LibRaw's D65 matrix (``rgb_xyz_matrix``)
and the as-shot white balance. From a DNG, the tags themselves through tifffile: ColorMatrix1/2
with their CalibrationIlluminants, ForwardMatrix1/2, AsShotNeutral, BaselineExposure and
NoiseProfile (which becomes the heteroscedastic noise model at the file's ISO). Every value of the
written profile names its tag in ``[sources]``; a value the file lacks is ispsim's stated choice.
The written profile goes through the same loader as every shipped one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import InputFileError

EXIF_TO_NAME = {17: "A", 20: "D55", 21: "D65", 22: "D75", 23: "D50"}
TAGS = {"ColorMatrix1": 50721, "ColorMatrix2": 50722, "CalibrationIlluminant1": 50778,
        "CalibrationIlluminant2": 50779, "ForwardMatrix1": 50964, "ForwardMatrix2": 50965,
        "AsShotNeutral": 50728, "BaselineExposure": 50730, "NoiseProfile": 51041, "UniqueCameraModel": 50708,
        "BlackLevel": 50714, "WhiteLevel": 50717, "CFAPattern": 33422, "ISO": 34855}


def _rational_values(value) -> list[float]:
    """tifffile gives RATIONAL arrays as flat (num, den) pairs or as floats."""
    a = np.asarray(value, dtype=np.float64).ravel()
    if a.size and isinstance(value, (tuple, list)) and all(isinstance(v, (int, np.integer)) for v in np.ravel(value)):
        return list(a[0::2] / a[1::2])
    return list(a)


def dng_tags(path: Path) -> dict:
    import tifffile

    found = {}
    try:
        with tifffile.TiffFile(path) as tif:
            for page in tif.pages:
                for name, code in TAGS.items():
                    tag = page.tags.get(code)
                    if tag is not None and name not in found:
                        found[name] = tag.value
    except (tifffile.TiffFileError, OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read its TIFF/DNG tags ({e})") from None
    return found


def _fmt(values) -> str:
    return "[" + ", ".join(f"{float(v):.10g}" for v in values) + "]"


def import_camera(path, *, name: str | None = None, black=None, white=None, cfa=None, like: str | None = None) -> str:
    """The TOML text of a camera profile read from ``path``."""
    from ..io import read_raw

    path = Path(path)
    raw = read_raw(path, black=black, white=white, cfa=cfa)
    src: dict[str, str] = {}
    flag = lambda v, tag: f"--{tag} {v:g}" if isinstance(v, (int, float)) else f"--{tag} {v}"  # noqa: E731
    is_dng = path.suffix.lower() == ".dng"
    tags = dng_tags(path) if is_dng else {}
    model = name or (str(tags.get("UniqueCameraModel", "")).strip() or path.stem)
    src["camera.name"] = "DNG UniqueCameraModel" if "UniqueCameraModel" in tags and not name else (
        "--name" if name else f"ispsim choice: the file name {path.name}")
    src["camera.aliases"] = "ispsim choice: the profile's own key"
    src["sensor.cfa"] = flag(cfa, "cfa") if cfa else ("DNG CFAPattern" if is_dng else "LibRaw raw_pattern / color_desc")
    src["sensor.black_level"] = flag(black, "black") if black is not None else (
        "DNG BlackLevel" if is_dng else "LibRaw black_level_per_channel (mean)")
    src["sensor.white_level"] = flag(white, "white") if white is not None else ("DNG WhiteLevel" if is_dng else "LibRaw white_level")
    bits = max(1, math.ceil(math.log2(raw.white + 1)))
    src["sensor.bit_depth"] = "ispsim: the bits that hold the white level"
    color = {}
    if "ColorMatrix1" in tags:
        color["color_matrix_1"] = _rational_values(tags["ColorMatrix1"])
        src["color.color_matrix_1"] = "DNG ColorMatrix1"
        ill = int(np.ravel(tags.get("CalibrationIlluminant1", [21]))[0])
        color["calibration_illuminant_1"] = EXIF_TO_NAME.get(ill, "D65")
        src["color.calibration_illuminant_1"] = ("DNG CalibrationIlluminant1" if "CalibrationIlluminant1" in tags and ill in EXIF_TO_NAME
                                                 else "ispsim choice: D65 (the tag is absent or names no standard illuminant)")
        if "ColorMatrix2" in tags:
            ill2 = int(np.ravel(tags.get("CalibrationIlluminant2", [17]))[0])
            if ill2 in EXIF_TO_NAME and EXIF_TO_NAME[ill2] != color["calibration_illuminant_1"]:
                color["color_matrix_2"] = _rational_values(tags["ColorMatrix2"])
                color["calibration_illuminant_2"] = EXIF_TO_NAME[ill2]
                src["color.color_matrix_2"] = "DNG ColorMatrix2"
                src["color.calibration_illuminant_2"] = "DNG CalibrationIlluminant2"
    elif path.suffix.lower() in (".npy", ".png", ".tif", ".tiff"):
        if not like:
            raise InputFileError(f"{path}: a plain mosaic carries no colour matrix; name a profile to take it from "
                                 f"with --like CAMERA")
        from . import load_camera

        ref = load_camera(like)
        color["color_matrix_1"] = list(ref.calibration.matrix_1)
        color["calibration_illuminant_1"] = ref.calibration.illuminant_1
        src["color.color_matrix_1"] = f"--like {like}: {ref.name}'s ColorMatrix1 (the file has none)"
        src["color.calibration_illuminant_1"] = f"--like {like}"
    else:
        import rawpy

        with rawpy.imread(str(path)) as r:
            m = np.asarray(r.rgb_xyz_matrix[:3], dtype=np.float64)
        if not np.any(m):
            raise InputFileError(f"{path}: LibRaw knows no colour matrix for this camera; it cannot be imported")
        color["color_matrix_1"] = list(m.ravel())
        color["calibration_illuminant_1"] = "D65"
        src["color.color_matrix_1"] = "LibRaw rgb_xyz_matrix (its adobe_coeff table, XYZ -> camera)"
        src["color.calibration_illuminant_1"] = "LibRaw: adobe_coeff matrices are D65"
    extras = []
    for tag in ("ForwardMatrix1", "ForwardMatrix2"):
        if tag in tags:
            extras.append(f"# {tag} = {_fmt(_rational_values(tags[tag]))}  (read; ispsim renders from ColorMatrix)")
    if "BaselineExposure" in tags:
        extras.append(f"# BaselineExposure = {_rational_values(tags['BaselineExposure'])[0]:g} EV (read; not applied)")
    gains = raw.gains
    # Noise: NoiseProfile (variance = scale * x + offset at the file's ISO) anchors Brooks' ISO model.
    iso = float(np.ravel(tags["ISO"])[0]) if "ISO" in tags else None
    if "NoiseProfile" in tags:
        npf = np.asarray(_rational_values(tags["NoiseProfile"]) if not isinstance(tags["NoiseProfile"], (tuple, list))
                         or isinstance(tags["NoiseProfile"][0], float) else tags["NoiseProfile"], dtype=np.float64)
        scale, offset = float(npf[0::2].mean()), float(npf[1::2].mean())
        base = iso or 100.0
        noise = {"shot_at_base_iso": scale, "base_iso": base, "read_slope": 2.18,
                 "read_intercept": math.log(max(offset, 1e-30)) - 2.18 * math.log(scale)}
        src["noise.shot_at_base_iso"] = "DNG NoiseProfile scale (mean over planes)"
        src["noise.base_iso"] = "EXIF ISOSpeedRatings" if iso else "ispsim choice: ISO 100 (the file gives none)"
        src["noise.read_slope"] = "Brooks et al. 2019 slope, anchored at the file's NoiseProfile offset"
        src["noise.read_intercept"] = "DNG NoiseProfile offset at the file's ISO, with Brooks et al.'s slope"
    else:
        noise = {"shot_at_base_iso": 1.0e-4, "base_iso": 100.0, "read_slope": 2.18, "read_intercept": 1.20}
        for k in noise:
            src[f"noise.{k}"] = "ispsim choice: Brooks et al. 2019's model (the file carries no NoiseProfile)"
    noise["iso_range"] = [100.0, 6400.0]
    src["noise.iso_range"] = "ispsim choice"
    look = {"illuminant": "D65", "cct_range": [2800.0, 7500.0], "exposure": 1.0, "tone_curve": 0.0,
            "local_tone": 0.0, "oetf": "srgb"}
    for k in look:
        src[f"look.{k}"] = "ispsim choice: a plain look (LibRaw-like); edit to taste"
    key = "".join(ch if ch.isalnum() else "_" for ch in model.lower()).strip("_") or "imported"
    lines = [f"# Imported by `ispsim camera import {path.name}`.",
             *(["# As-shot white balance of the file: gains " + _fmt(gains)] if gains else []), *extras,
             "[camera]", f'name = "{model}"', f'aliases = ["{key}"]', "",
             "[sensor]", f'cfa = "{raw.cfa}"', f"bit_depth = {bits}", f"black_level = {raw.black:.10g}",
             f"white_level = {raw.white:.10g}", "", "[color]"]
    for k, v in color.items():
        lines.append(f"{k} = {_fmt(v)}" if isinstance(v, list) else f'{k} = "{v}"')
    lines += ["", "[noise]"] + [f"{k} = {_fmt(v) if isinstance(v, list) else f'{v:.10g}'}" for k, v in noise.items()]
    lines += ["", "[look]"] + [f"{k} = {_fmt(v)}" if isinstance(v, list) else (f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v!r}")
                               for k, v in look.items()]
    lines += ["", "[sources]"] + [f'"{k}" = "{v}"' for k, v in src.items()]
    return "\n".join(lines) + "\n"
