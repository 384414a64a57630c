"""CAM: content-aware metadata for sRGB-to-RAW de-rendering (Nam et al., CVPR 2022)."""

from .method import CAM, CAMFineTuned

__all__ = ["CAM", "CAMFineTuned"]
