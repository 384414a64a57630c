"""INF: implicit neural functions for RAW reconstruction (Li et al., CVPR 2023)."""

from .method import INF

__all__ = ["INF"]
