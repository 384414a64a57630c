"""INF: implicit neural functions for RAW reconstruction (Li et al., CVPR 2023)."""

from .method import INF, INFGlobalFit, INFOmega3

__all__ = ["INF", "INFGlobalFit", "INFOmega3"]
