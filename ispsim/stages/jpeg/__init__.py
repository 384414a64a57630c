"""JPEG encode/decode at a given quality (Pillow/libjpeg, 4:2:0), an optional last stage.

Both backends call the same codec; the PyTorch path is not differentiable.
"""

from __future__ import annotations

import io

import numpy as np

from ..._checks import check_image, is_torch
from ...errors import ShapeError
from .._spec import StageSpec

SPEC = StageSpec(
    name="jpeg",
    invertible="none",
    differentiable=False,
    stochastic=False,
    methods=("pillow",),
    doc="Lossy JPEG round trip at quality 1..100.",
)


def encode(rgb, quality: int) -> bytes:
    """One sRGB image ``(3, H, W)`` in [0, 1] -> JPEG bytes."""
    from PIL import Image

    a = np.rint(np.clip(np.asarray(rgb, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a.transpose(1, 2, 0)).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return (a.astype(np.float32) / 255).transpose(2, 0, 1)


def jpeg(rgb, quality: int):
    """Round-trip every image of ``(*, 3, H, W)`` through JPEG; returns the same type and dtype."""
    check_image(rgb, "jpeg(rgb)", channels=3)
    if not 1 <= int(quality) <= 100:
        raise ShapeError(f"jpeg: quality must lie in 1..100, got {quality}")
    a = rgb.detach().cpu().numpy() if is_torch(rgb) else rgb
    flat = a.reshape((-1,) + a.shape[-3:])
    out = np.stack([decode(encode(img, quality)) for img in flat]).reshape(a.shape).astype(a.dtype)
    if is_torch(rgb):
        import torch

        return torch.from_numpy(out).to(rgb.device)
    return out
