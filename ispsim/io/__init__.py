"""The file boundary: reading sensor RAW (rawpy/LibRaw, Bayer PNG/TIFF, .npy), writing images and DNG."""

from .dng import write_dng
from .images import read_srgb, write_image
from .raw import RAW_SUFFIXES, RawImage, read_raw

__all__ = ["RAW_SUFFIXES", "RawImage", "read_raw", "read_srgb", "write_dng", "write_image"]
