"""Optical flow between sRGB frames (OpenCV's DIS), computed at test time from the frames a camera
gives: never the dataset's stored ground-truth flow."""

from __future__ import annotations

import numpy as np

PRESETS = ("ultrafast", "fast", "medium")


def _gray(srgb: np.ndarray) -> np.ndarray:
    y = 0.2126 * srgb[0] + 0.7152 * srgb[1] + 0.0722 * srgb[2]
    return np.ascontiguousarray(np.clip(np.round(y * 255), 0, 255).astype(np.uint8))


def dis_flow(query: np.ndarray, reference: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow ``(2, H, W)`` (dx, dy in pixels) from ``query`` to ``reference`` (sRGB ``(3, H, W)`` in
    [0, 1]): the query's pixel p shows what the reference shows at p + flow(p)."""
    import cv2

    if preset not in PRESETS:
        raise ValueError(f"DIS preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    if query.shape != reference.shape or query.ndim != 3 or query.shape[0] != 3:
        raise ValueError(f"dis_flow: expected two (3, H, W) frames of one shape, got {query.shape} and {reference.shape}")
    dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
    return dis.calc(_gray(query), _gray(reference), None).transpose(2, 0, 1).astype(np.float32)


def clip_flows(frames: np.ndarray, reference: int = 0, preset: str = "medium") -> np.ndarray:
    """``(T, 2, H, W)``: each frame's flow to frame ``reference`` (zero for itself)."""
    return np.stack([np.zeros((2, *f.shape[-2:]), np.float32) if t == reference else dis_flow(f, frames[reference], preset)
                     for t, f in enumerate(frames)])
