"""Pipeline configuration: the camera's look plus overrides, from TOML or ``key=value`` pairs.

A float field may be given as ``[low, high]``: the render then draws it uniformly from its
generator and the record keeps the value drawn.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .._toml import read_toml, take
from ..errors import ConfigError

NUMBERS = ("cct", "exposure", "tone_curve", "local_tone", "local_tone_radius", "local_tone_eps", "gamma",
           "iso", "output_bits", "jpeg_quality", "hue_twist", "hue_phase", "saturation", "value_twist", "filmic")
# Where a stage is defined; None: no bound on that side.
BOUNDS = {"cct": (1667, 25000), "exposure": (1e-6, None), "tone_curve": (0.0, 1.0), "local_tone": (0.0, 0.95),
          "local_tone_radius": (1, 4096), "local_tone_eps": (1e-9, None), "gamma": (0.1, 10.0), "iso": (1.0, None),
          # the look family: kept where its inverse (a fixed point in HSV) is a contraction
          "hue_twist": (-20.0, 20.0), "hue_phase": (-360.0, 360.0), "saturation": (0.8, 1.6),
          "value_twist": (-0.3, 0.3), "filmic": (0.0, 0.8)}
WHITE_BALANCE = ("as_shot", "gains", "gray_world", "white_patch", "shades_of_gray")
NOISE = ("none", "heteroscedastic", "poisson_gaussian")
OETF = ("srgb", "gamma")
CCM = ("adaptive", "d65")


def _is_tensor(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


@dataclass(frozen=True)
class PipelineConfig:
    demosaic: str = "bilinear"
    white_balance: str = "as_shot"
    gains: tuple[float, float, float] | None = None
    # adaptive: DNG colour matrix for the scene white, Bradford-adapted to D65; d65: the D65
    # matrix whatever the white balance, as dcraw/LibRaw do.
    ccm: str = "adaptive"
    illuminant: str | None = None  # default: the camera's look
    cct: float | tuple[float, float] | None = None  # overrides illuminant
    exposure: float | tuple[float, float] | None = None
    tone_curve: float | tuple[float, float] | None = None
    local_tone: float | tuple[float, float] | None = None
    local_tone_radius: int | None = None
    local_tone_eps: float | None = None
    # A DNG-style look (HueSatMap, LookTable, ProfileToneCurve; ispsim.stages.look.parametric_look);
    # None: the camera's.
    hue_twist: float | tuple[float, float] | None = None
    hue_phase: float | tuple[float, float] | None = None
    saturation: float | tuple[float, float] | None = None
    value_twist: float | tuple[float, float] | None = None
    filmic: float | tuple[float, float] | None = None
    oetf: str | None = None
    gamma: float = 2.2
    output_bits: int = 8  # 0: float output, no quantisation (for gradients through the render)
    jpeg_quality: int = 0  # 0: no JPEG stage
    noise: str = "none"
    iso: float | tuple[float, float] | None = None  # default: drawn over the camera's ISO range
    adc: bool = False  # round noisy RAW to whole DN

    def __post_init__(self):
        from ..stages.demosaic import METHODS

        for name in NUMBERS:
            v = getattr(self, name)
            if v is None:
                continue
            vals = v if isinstance(v, tuple) else (v,)
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vals):
                raise ConfigError(f"pipeline.{name}: expected a finite number or [low, high], got {v!r}")
            if isinstance(v, tuple) and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(f"pipeline.{name}: a range is [low, high] with low <= high, got {list(v)}")
            low, high = min(vals), max(vals)
            lo, hi = BOUNDS.get(name, (None, None))
            if (lo is not None and low < lo) or (hi is not None and high > hi):
                raise ConfigError(f"pipeline.{name}: expected values within [{lo}, {hi}], got {v!r}")

        for name, value, valid in (("demosaic", self.demosaic, METHODS), ("white_balance", self.white_balance, WHITE_BALANCE),
                                   ("noise", self.noise, NOISE), ("oetf", self.oetf, OETF + (None,)),
                                   ("ccm", self.ccm, CCM)):
            if value not in valid:
                raise ConfigError(f"pipeline.{name}: expected one of {', '.join(v for v in valid if v)}, got {value!r}")
        if self.white_balance == "gains" and self.gains is None:
            raise ConfigError("pipeline.gains: white_balance = 'gains' needs gains = [r, g, b]")
        if self.gains is not None and not _is_tensor(self.gains) and not all(
                isinstance(g, (int, float)) and not isinstance(g, bool) and math.isfinite(g) for g in self.gains):
            raise ConfigError(f"pipeline.gains: expected 3 positive numbers, got {self.gains!r}")
        if self.gains is not None and (len(self.gains) != 3 or min(self.gains) <= 0):
            raise ConfigError(f"pipeline.gains: expected 3 positive numbers, got {self.gains}")
        if not 0 <= self.output_bits <= 16:
            raise ConfigError(f"pipeline.output_bits: expected 1..16, or 0 for float output, got {self.output_bits}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ConfigError(f"pipeline.jpeg_quality: expected 0 (off) or 1..100, got {self.jpeg_quality}")

    @classmethod
    def from_dict(cls, data: dict, where: str = "pipeline") -> "PipelineConfig":
        allowed = {f.name: (int, float, str, bool, list) for f in fields(cls)}
        take(data, allowed, where)
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**values)
        except ConfigError as e:  # name the file and table, not just the field
            msg = str(e)
            raise ConfigError(f"{where}.{msg[len('pipeline.'):]}" if msg.startswith("pipeline.") else f"{where}: {msg}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> "PipelineConfig":
        data = read_toml(path)
        take(data, {"pipeline": dict}, str(path), required=("pipeline",))
        return cls.from_dict(data["pipeline"], f"{path}: [pipeline]")

    def with_overrides(self, pairs: list[str]) -> "PipelineConfig":
        """Apply ``key=value`` strings (values as Python/TOML literals: 0.5, [1, 2], gray_world)."""
        data = {}
        for pair in pairs:
            if "=" not in pair:
                raise ConfigError(f"--set {pair!r}: expected key=value")
            key, raw = (s.strip() for s in pair.split("=", 1))
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw
            if value is True or value is False or raw.lower() in ("true", "false"):
                value = raw.lower() == "true" if isinstance(value, str) else value
            data[key] = value
        take(data, {f.name: (int, float, str, bool, list, tuple) for f in fields(self)}, "--set")
        try:
            return replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(f"--set {msg[len('pipeline.'):]}" if msg.startswith("pipeline.") else f"--set: {msg}") from None


PLAIN = PipelineConfig(ccm="d65", tone_curve=0.0, local_tone=0.0, exposure=1.0)
"""Bilinear demosaic, as-shot white balance, the D65 matrix, sRGB OETF: what LibRaw does."""
