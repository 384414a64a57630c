"""Write a Bayer mosaic as a DNG that LibRaw (rawpy, darktable, RawTherapee) opens.

Uncompressed 16-bit samples (DNG 1.4 tags): CFA pattern, black/white levels, ColorMatrix1 with
its calibration illuminant, AsShotNeutral.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ShapeError
from ..stages.cfa import parse_pattern
from ..stages.color import ILLUMINANTS
from .images import _atomic

_CFA_CODES = {"R": 0, "G": 1, "B": 2}


def _rationals(values, signed: bool, denominator: int = 10000) -> list[int]:
    out = []
    for v in values:
        f = Fraction(float(v)).limit_denominator(denominator)
        if not signed and f < 0:
            raise ShapeError(f"DNG: a RATIONAL tag cannot hold the negative value {v}")
        out += [f.numerator, f.denominator]
    return out


def write_dng(path, dn, *, cfa: str, black: float, white: float, color_matrix, illuminant: str = "D65",
              as_shot_neutral=None, model: str = "ispsim") -> Path:
    """``dn``: uint16 mosaic ``(H, W)``; ``color_matrix``: XYZ -> camera (9 numbers)."""
    import tifffile

    path = Path(path)
    dn = np.asarray(dn)
    if dn.ndim != 2 or dn.dtype != np.uint16:
        raise ShapeError(f"write_dng: expected a uint16 mosaic (H, W), got {dn.dtype} {dn.shape}")
    pattern = parse_pattern(cfa)
    key = "A" if illuminant.upper() in ("A", "STDA") else illuminant.upper()
    tags = [
        (33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
        (33422, "B", 4, bytes(_CFA_CODES[c] for c in pattern), True),  # CFAPattern
        (50706, "B", 4, bytes((1, 4, 0, 0)), True),  # DNGVersion
        (50707, "B", 4, bytes((1, 1, 0, 0)), True),  # DNGBackwardVersion
        (50708, "s", 0, model, True),  # UniqueCameraModel
        (50710, "B", 3, bytes((0, 1, 2)), True),  # CFAPlaneColor
        (50711, "H", 1, 1, True),  # CFALayout: rectangular
        (50713, "H", 2, (1, 1), True),  # BlackLevelRepeatDim
        (50714, "2I", 1, _rationals([black], False), True),  # BlackLevel
        (50717, "I", 1, int(round(white)), True),  # WhiteLevel
        (50721, "2i", 9, _rationals(np.ravel(color_matrix), True), True),  # ColorMatrix1
        (50778, "H", 1, ILLUMINANTS[key], True),  # CalibrationIlluminant1
    ]
    if as_shot_neutral is not None:
        tags.append((50728, "2I", 3, _rationals(as_shot_neutral, False, 1_000_000), True))
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(path, lambda p: tifffile.imwrite(
        p, dn, photometric=32803, compression=None, metadata=None, software="ispsim",
        extratags=tags + [(271, "s", 0, "ispsim", True), (272, "s", 0, model, True)],
        subfiletype=0,
    ))
    return path
