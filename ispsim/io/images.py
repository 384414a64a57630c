"""sRGB images in and out. Writes go to a temporary name first, so no half-written file is left."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ShapeError
from ..stages.quantize import to_integer

WRITE_SUFFIXES = {".png": (8, 16), ".jpg": (8,), ".jpeg": (8,), ".tif": (8, 16), ".tiff": (8, 16)}


def _atomic(path: Path, write):
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_image(path, srgb, *, bits: int = 8, quality: int = 95) -> Path:
    """Write sRGB ``(3, H, W)`` floats in [0, 1] (or uint8/uint16) as PNG, JPEG or TIFF."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise InputFileError(f"{path}: cannot write {suffix or 'no suffix'}; use {', '.join(WRITE_SUFFIXES)}")
    if bits not in WRITE_SUFFIXES[suffix]:
        raise InputFileError(f"{path}: {suffix} holds {' or '.join(map(str, WRITE_SUFFIXES[suffix]))}-bit samples, not {bits}")
    a = np.asarray(srgb)
    if a.ndim != 3 or a.shape[0] != 3:
        raise ShapeError(f"write_image: expected (3, H, W), got {a.shape}")
    a = to_integer(a, bits) if np.issubdtype(a.dtype, np.floating) else a
    hwc = np.ascontiguousarray(a.transpose(1, 2, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".tif", ".tiff"):
        import tifffile

        _atomic(path, lambda p: tifffile.imwrite(p, hwc, photometric="rgb"))
    elif suffix == ".png" and bits == 16:
        _atomic(path, lambda p: _write_png16(p, hwc))
    else:
        from PIL import Image

        kw = {"quality": int(quality)} if suffix in (".jpg", ".jpeg") else {}
        _atomic(path, lambda p: Image.fromarray(hwc).save(p, format="JPEG" if "jp" in suffix else "PNG", **kw))
    return path


def _write_png16(path, hwc):
    import png  # pypng: Pillow neither writes nor reads 16-bit RGB PNG

    h, w, _ = hwc.shape
    with open(path, "wb") as f:
        png.Writer(w, h, greyscale=False, bitdepth=16).write(f, hwc.reshape(h, w * 3))


def _read_png(path) -> np.ndarray:
    import png

    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    planes = info["planes"]
    a = np.vstack([np.asarray(r, dtype=np.uint16 if info["bitdepth"] > 8 else np.uint8) for r in rows])
    return a.reshape(h, w, planes) if planes > 1 else a.reshape(h, w)


def read_srgb(path) -> np.ndarray:
    """An sRGB image file -> float32 ``(3, H, W)`` in [0, 1] (8- or 16-bit)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            a = tifffile.imread(path)
        elif path.suffix.lower() == ".png":
            a = _read_png(path)
            if a.ndim == 3 and a.shape[2] == 2:  # grey + alpha
                a = a[..., :1]
            if a.ndim == 2 or a.shape[2] == 1:
                a = np.repeat(a.reshape(a.shape[0], a.shape[1], 1), 3, axis=2)
        else:
            from PIL import Image

            with Image.open(path) as im:
                a = np.asarray(im.convert("RGB"))
    except Exception as e:  # Pillow and tifffile raise many kinds; report all the same way
        raise InputFileError(f"{path}: cannot read as an image: {e}") from None
    if a.ndim != 3 or a.shape[2] < 3:
        raise InputFileError(f"{path}: expected an RGB image, got shape {a.shape}")
    scale = 65535.0 if a.dtype == np.uint16 else 255.0
    return (a[..., :3].astype(np.float32) / np.float32(scale)).transpose(2, 0, 1).copy()
