"""Contact sheets: a PNG grid of samples, one row each, labelled panels."""

from __future__ import annotations

import numpy as np

from ..stages import cfa, demosaic
from .store import DatasetStore


def _linear_view(rgb):
    """Camera RGB for the eye: scaled by its 99th percentile, gamma 1/2.2."""
    scale = max(float(np.percentile(rgb, 99)), 1e-6)
    return np.clip(rgb / scale, 0, 1) ** (1 / 2.2)


def _flow_view(flow):
    """Flow (dx, dy) as colour: hue = direction, value = magnitude (normalised per sheet row)."""
    import colorsys

    dx, dy = flow
    mag = np.hypot(dx, dy)
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    val = mag / max(float(mag.max()), 1e-6)
    rgb = np.vectorize(lambda h, v: colorsys.hsv_to_rgb(h, 1.0, v), otypes=[float, float, float])(hue, val)
    return np.stack(rgb)


def panels(store: DatasetStore, split: str, index: int) -> list[tuple[str, np.ndarray]]:
    a = store.read_sample(split, index)
    p = store.params(split, index)
    style = store.recipe.style
    if style == "nus":
        return [("sRGB", a["srgb"]), ("raw RGB", _linear_view(a["raw"]))]
    if style == "rvd":
        pattern = (p["records"][0])["cfa"]
        first = demosaic.demosaic(cfa.unpack(a["raw"][0], pattern), pattern)
        return [("sRGB frame 0", a["srgb"][0]), (f"sRGB frame {len(a['srgb']) - 1}", a["srgb"][-1]),
                ("RAW frame 0", _linear_view(first)), ("flow (last)", _flow_view(a["flow"][-1]))]
    if style == "lowlight":
        pattern = p["cfa"]
        view = lambda packed: _linear_view(demosaic.demosaic(cfa.unpack(np.clip(packed, 0, 1), pattern), pattern))  # noqa: E731
        return [(f"input x{p['ratio']:.0f}", view(a["input"])), ("ground truth", view(a["gt"]))]
    lq = demosaic.demosaic(a["lq_raw"], p["bayer"])
    return [(f"LQ RAW {p['bayer']} ISO {p['iso']:.0f}", _linear_view(lq)), ("linear GT", _linear_view(a["linear"])),
            ("HQ sRGB", a["hq_srgb"])]


def contact_sheet(store: DatasetStore, split: str = "train", n: int = 6, out=None):
    from PIL import Image, ImageDraw

    indices = store.done_indices(split)[:n]
    if not indices:
        raise ValueError(f"{store.path}: no complete samples in split {split!r}")
    rows = [panels(store, split, i) for i in indices]
    h, w = rows[0][0][1].shape[-2:]
    pad, label = 4, 14
    sheet = Image.new("RGB", (len(rows[0]) * (w + pad) + pad, len(rows) * (h + label + pad) + pad), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    for r, (i, row) in enumerate(zip(indices, rows)):
        for c, (title, img) in enumerate(row):
            x, y = pad + c * (w + pad), pad + r * (h + label + pad)
            tile = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
            sheet.paste(Image.fromarray(tile), (x, y + label))
            draw.text((x + 2, y), f"{split}/{i} {title}", fill=(230, 230, 230))
    if out is not None:
        sheet.save(out)
    return sheet
