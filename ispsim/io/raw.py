"""Read a Bayer mosaic and its levels from a camera RAW file, a 16-bit Bayer PNG/TIFF or a .npy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ShapeError
from ..stages.cfa import parse_pattern

# Formats LibRaw reads; any other suffix rawpy accepts is tried too when named explicitly.
RAW_SUFFIXES = (".dng", ".arw", ".nef", ".nrw", ".orf", ".cr2", ".cr3", ".crw", ".rw2", ".raf",
                ".pef", ".srw", ".rwl", ".3fr", ".erf", ".kdc", ".mrw", ".sr2", ".x3f", ".iiq")
BAYER_SUFFIXES = (".png", ".tif", ".tiff")


@dataclass
class RawImage:
    """A sensor mosaic in DN with what is needed to normalise it."""

    dn: np.ndarray  # (H, W)
    cfa: str
    black: float
    white: float
    gains: tuple[float, float, float] | None  # as-shot white balance from the file, if any
    path: str
    source_size: tuple[int, int] | None = None  # (H, W) in the file when it was cropped to whole CFA cells


def read_raw(path, *, black=None, white=None, cfa=None, defaults=None) -> RawImage:
    """Read ``path``. ``black``/``white``/``cfa`` override the file; ``defaults`` (a camera
    profile's sensor) fills what a plain Bayer image or .npy does not carry."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in BAYER_SUFFIXES:
        dn, gains, meta = _read_bayer_image(path), None, {}
    elif suffix == ".npy":
        dn = _read_npy(path)
        gains, meta = _read_sidecar(path)
    else:
        dn, gains, meta = _read_rawpy(path)
    cfa = cfa or meta.get("cfa") or (defaults.cfa if defaults else None)
    if np.issubdtype(dn.dtype, np.floating):
        # Floats are normalised already: a profile's levels (in DN) do not apply to them.
        if not np.isfinite(dn).all():
            raise InputFileError(f"{path}: {int((~np.isfinite(dn)).sum())} NaN or inf values in the mosaic")
        black = meta.get("black", 0.0) if black is None else black
        white = meta.get("white", 1.0) if white is None else white
    if black is None:
        black = meta.get("black", defaults.black_level if defaults else None)
    if white is None:
        white = meta.get("white", defaults.white_level if defaults else None)
    missing = [n for n, v in (("--cfa", cfa), ("--black", black), ("--white", white)) if v is None]
    if missing:
        raise InputFileError(f"{path}: the file does not say {', '.join(missing)}; pass them or a --camera")
    try:
        cfa = parse_pattern(cfa)
    except ShapeError as e:
        raise InputFileError(f"{path}: {e}") from None
    if not float(white) > float(black):
        raise InputFileError(f"{path}: white level {white} must exceed black level {black}")
    if dn.shape[0] < 2 or dn.shape[1] < 2:
        raise InputFileError(f"{path}: a {dn.shape[1]}x{dn.shape[0]} mosaic holds no whole 2x2 CFA cell")
    source_size = None
    if dn.shape[0] % 2 or dn.shape[1] % 2:
        # The last row or column is an incomplete CFA cell, as in an odd-sized DNG: dropped.
        source_size = (int(dn.shape[0]), int(dn.shape[1]))
        dn = dn[: dn.shape[0] // 2 * 2, : dn.shape[1] // 2 * 2]
    return RawImage(dn, cfa, float(black), float(white), gains, str(path), source_size)


def _read_bayer_image(path: Path) -> np.ndarray:
    import tifffile
    from PIL import Image, UnidentifiedImageError

    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            dn = tifffile.imread(path)
        else:
            with Image.open(path) as im:
                dn = np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError, tifffile.TiffFileError) as e:
        raise InputFileError(f"{path}: cannot read as an image: {e}") from None
    if dn.ndim != 2:
        raise InputFileError(f"{path}: a Bayer image has one channel, got shape {dn.shape}")
    if dn.dtype not in (np.uint16, np.int32, np.uint8):
        raise InputFileError(f"{path}: expected 8- or 16-bit integer samples, got {dn.dtype}")
    return dn.astype(np.uint16) if dn.dtype == np.int32 else dn


def _read_npy(path: Path) -> np.ndarray:
    try:
        dn = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputFileError(f"{path}: cannot read as .npy: {e}") from None
    dn = dn.squeeze()
    if dn.ndim != 2:
        raise InputFileError(f"{path}: expected a mosaic (H, W) or (1, H, W), got shape {dn.shape}")
    if not (np.issubdtype(dn.dtype, np.integer) or np.issubdtype(dn.dtype, np.floating)):
        raise InputFileError(f"{path}: expected integer DN or float values, got {dn.dtype}")
    return dn


def sidecar_path(npy: Path) -> Path:
    """``x.npy`` -> ``x.meta.json``: what a .npy mosaic cannot carry (CFA, levels, as-shot WB)."""
    return npy.with_name(npy.stem + ".meta.json")


def write_sidecar(npy: Path, *, cfa: str, black: float, white: float, gains=None) -> Path:
    import json

    p = sidecar_path(Path(npy))
    data = {"cfa": cfa, "black": float(black), "white": float(white),
            "as_shot_gains": None if gains is None else [float(g) for g in gains]}
    tmp = p.with_name(f".{p.name}.partial")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(p)
    return p


def _read_sidecar(npy: Path):
    import json

    p = sidecar_path(npy)
    if not p.is_file():
        return None, {}
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputFileError(f"{p}: not a readable metadata sidecar: {e}") from None
    if not isinstance(data, dict) or set(data) - {"cfa", "black", "white", "as_shot_gains"}:
        raise InputFileError(f"{p}: expected keys cfa, black, white, as_shot_gains")
    gains = data.get("as_shot_gains")
    if gains is not None and (len(gains) != 3 or not all(isinstance(g, (int, float)) and g > 0 for g in gains)):
        raise InputFileError(f"{p}: as_shot_gains: expected 3 positive numbers, got {gains!r}")
    meta = {k: data[k] for k in ("cfa", "black", "white") if data.get(k) is not None}
    return (tuple(float(g) for g in gains) if gains else None), meta


def _read_rawpy(path: Path):
    import rawpy

    try:
        with rawpy.imread(str(path)) as raw:
            desc = raw.color_desc.decode()
            pattern = raw.raw_pattern
            if pattern is None or pattern.shape != (2, 2) or set(desc) - set("RGB"):
                raise InputFileError(f"{path}: not a Bayer sensor (colours {desc!r}, pattern {pattern}); unsupported")
            cfa = "".join(desc[i] for i in pattern.ravel())
            dn = raw.raw_image_visible.copy()
            black = float(np.mean(raw.black_level_per_channel))
            white = float(raw.white_level)
            wb = np.asarray(raw.camera_whitebalance[:3], dtype=np.float64)
    except rawpy.LibRawError as e:
        if path.stat().st_size == 0:
            raise InputFileError(f"{path}: the file is empty") from None
        why = {"LibRawIOError": "not a RAW file LibRaw knows, or truncated",
               "LibRawFileUnsupportedError": "a RAW format LibRaw does not support"}.get(type(e).__name__, str(e))
        raise InputFileError(f"{path}: LibRaw cannot read it: {why} ({type(e).__name__})") from None
    gains = tuple(float(v) for v in wb / wb[1]) if np.all(wb > 0) else None
    return dn, gains, {"cfa": cfa, "black": black, "white": white}
