"""Record: every parameter a render used or drew; JSON round-trips it exactly."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields

from ..errors import ConfigError

RECORD_VERSION = 2  # 2: highlight clipping after white balance (version 1 had none)


@dataclass(frozen=True)
class Record:
    camera: str
    cfa: str
    black_level: float
    white_level: float
    bit_depth: int
    demosaic: str
    white_balance: str
    gains: tuple[float, float, float]
    white_xy: tuple[float, float]
    ccm: tuple[float, ...]  # 3x3 row-major, white-balanced camera RGB -> linear sRGB
    exposure: float
    local_tone: float
    local_tone_radius: int
    local_tone_eps: float
    tone_curve: float
    oetf: str
    gamma: float
    output_bits: int
    jpeg_quality: int
    noise: str
    iso: float
    shot: float
    read: float
    seed: int | None = None
    # "clip": each white-balanced channel is clipped at the saturation level, as LibRaw's default
    # highlight mode; "none": clipping only after the colour matrix (records of version 1).
    highlight: str = "clip"
    clipped: float = 0.0  # share of pixels at the highlight clip: the inverse is a lower bound there
    source_size: tuple[int, int] | None = None  # (H, W) of the file before cropping to whole CFA cells
    # The DNG-style look's parameters (ispsim.stages.look.parametric_look), None when it has none.
    look: dict | None = None
    version: int = RECORD_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "Record":
        names = {f.name: f for f in fields(cls)}
        for key in data:
            if key not in names:
                raise ConfigError(f"{where}.{key}: unknown field; valid fields: {', '.join(names)}")
        missing = [n for n, f in names.items() if n not in data and f.default is MISSING]
        if missing:
            raise ConfigError(f"{where}: missing fields {', '.join(missing)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        if "highlight" not in values and values.get("version", 1) < 2:
            values["highlight"] = "none"  # what a version-1 record was rendered with
        if values.get("highlight", "clip") not in ("clip", "none"):
            raise ConfigError(f"{where}.highlight: expected 'clip' or 'none', got {values['highlight']!r}")
        if values.get("look") is not None:
            from ..stages.look import LOOK_PARAMS

            lk = values["look"]
            if not isinstance(lk, dict) or set(lk) - set(LOOK_PARAMS) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in lk.values()):
                raise ConfigError(f"{where}.look: expected numbers for some of {', '.join(LOOK_PARAMS)}, got {lk!r}")
        for key in ("gains", "white_xy", "ccm"):
            want = {"gains": 3, "white_xy": 2, "ccm": 9}[key]
            if len(values[key]) != want:
                raise ConfigError(f"{where}.{key}: expected {want} numbers, got {len(values[key])}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str, where: str = "record") -> "Record":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{where}: not valid JSON: {e}") from None
        return cls.from_dict(data, where)
