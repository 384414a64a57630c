"""Camera profiles: TOML data files beside this module, one per camera, each value with a source.

``load_camera("sony")`` accepts a profile key, an alias or a unique prefix of either, or a path
to a TOML file of the same schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .._toml import read_toml, take
from ..errors import ConfigError
from ..stages.cfa import parse_pattern
from ..stages.color import ColorCalibration
from ..stages.noise import NoiseModel

PROFILE_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Sensor:
    cfa: str
    bit_depth: int
    black_level: float
    white_level: float


@dataclass(frozen=True)
class Look:
    """The camera's rendering defaults; a pipeline config may override each."""

    illuminant: str = "D65"
    cct_range: tuple[float, float] = (2800.0, 7500.0)
    exposure: float = 1.0
    tone_curve: float = 0.0
    local_tone: float = 0.0
    local_tone_radius: int = 16
    local_tone_eps: float = 0.1
    oetf: str = "srgb"
    # the DNG-style look (ispsim.stages.look.parametric_look); the defaults turn it off
    hue_twist: float = 0.0
    hue_phase: float = 0.0
    saturation: float = 1.0
    value_twist: float = 0.0
    filmic: float = 0.0


@dataclass(frozen=True)
class CameraProfile:
    key: str
    name: str
    aliases: tuple[str, ...]
    sensor: Sensor
    calibration: ColorCalibration
    noise: NoiseModel
    look: Look
    sources: dict = field(default_factory=dict, compare=False, hash=False)
    path: str = ""
    physics_noise: str | None = None  # a calibrated noise profile (ispsim/cameras/noise) this camera names


_SCHEMA = {
    "camera": ({"name": str, "aliases": list}, ("name", "aliases")),
    "sensor": (
        {"cfa": str, "bit_depth": int, "black_level": float, "white_level": float},
        ("cfa", "bit_depth", "black_level", "white_level"),
    ),
    "color": (
        {"color_matrix_1": list, "calibration_illuminant_1": str,
         "color_matrix_2": list, "calibration_illuminant_2": str},
        ("color_matrix_1", "calibration_illuminant_1"),
    ),
    "noise": (
        {"shot_at_base_iso": float, "base_iso": float, "read_slope": float,
         "read_intercept": float, "iso_range": list, "physics": str},
        ("shot_at_base_iso", "base_iso", "read_slope", "read_intercept", "iso_range"),
    ),
    "look": (
        {"illuminant": str, "cct_range": list, "exposure": float, "tone_curve": float,
         "local_tone": float, "local_tone_radius": int, "local_tone_eps": float, "oetf": str,
         "hue_twist": float, "hue_phase": float, "saturation": float, "value_twist": float, "filmic": float},
        ("illuminant", "cct_range", "exposure", "tone_curve", "local_tone", "oetf"),
    ),
}


def _numbers(value, n, where):
    if len(value) != n or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{where}: expected {n} numbers, got {value!r}")
    return tuple(float(v) for v in value)


def parse_profile(data: dict, path: str | Path) -> CameraProfile:
    path = Path(path)
    where = str(path)
    take(data, {**{k: dict for k in _SCHEMA}, "sources": dict}, where, required=tuple(_SCHEMA) + ("sources",))
    t = {}
    for section, (allowed, required) in _SCHEMA.items():
        t[section] = take(data[section], allowed, f"{where}: [{section}]", required=required)
    sources = data["sources"]
    for section, table in t.items():
        for key in table:
            if f"{section}.{key}" not in sources:
                raise ConfigError(f"{where}: [{section}].{key} has no entry in [sources]; say where it came from")
    try:
        s = t["sensor"]
        sensor = Sensor(parse_pattern(s["cfa"]), s["bit_depth"], float(s["black_level"]), float(s["white_level"]))
        if not 0 <= sensor.black_level < sensor.white_level <= 2 ** sensor.bit_depth - 1:
            raise ConfigError(f"{where}: [sensor] needs 0 <= black_level < white_level <= 2^bit_depth - 1")
        c = t["color"]
        cal = ColorCalibration(
            _numbers(c["color_matrix_1"], 9, f"{where}: [color].color_matrix_1"),
            c["calibration_illuminant_1"],
            _numbers(c["color_matrix_2"], 9, f"{where}: [color].color_matrix_2") if "color_matrix_2" in c else None,
            c.get("calibration_illuminant_2"),
        )
        n = t["noise"]
        if "physics" in n:
            from ..stages.noise.physics import load_calibrated

            load_calibrated(n["physics"])  # a name that resolves, or the error says which exist
        noise = NoiseModel(float(n["shot_at_base_iso"]), float(n["base_iso"]), float(n["read_slope"]),
                           float(n["read_intercept"]), _numbers(n["iso_range"], 2, f"{where}: [noise].iso_range"))
        lk = dict(t["look"])
        lk["cct_range"] = _numbers(lk["cct_range"], 2, f"{where}: [look].cct_range")
        look = Look(**{k: (float(v) if isinstance(v, int) and k not in ("local_tone_radius",) else v)
                       for k, v in lk.items()})
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    aliases = tuple(str(a).lower() for a in t["camera"]["aliases"])
    return CameraProfile(path.stem, t["camera"]["name"], aliases, sensor, cal, noise, look, dict(sources), str(path),
                         t["noise"].get("physics"))


def profile_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(PROFILE_DIR.glob("*.toml"))}


def list_cameras() -> list[CameraProfile]:
    return [parse_profile(read_toml(p), p) for p in profile_paths().values()]


def resolve_name(name: str) -> str:
    """Profile key for a key, alias or unique prefix of either."""
    wanted = name.strip().lower().replace("-", "_").replace(" ", "_")
    names: dict[str, str] = {}
    for cam in list_cameras():
        for n in (cam.key,) + cam.aliases:
            names[n.lower().replace("-", "_").replace(" ", "_")] = cam.key
    if wanted in names:
        return names[wanted]
    hits = {key for n, key in names.items() if n.startswith(wanted)} if wanted else set()
    if len(hits) == 1:
        return hits.pop()
    valid = ", ".join(f"{c.key} ({', '.join(c.aliases)})" for c in list_cameras())
    what = "is ambiguous" if hits else "matches no camera"
    raise ConfigError(f"camera {name!r} {what}; valid cameras: {valid}")


def load_camera(name_or_path: str | Path) -> CameraProfile:
    p = Path(name_or_path)
    if p.suffix == ".toml" and p.exists():
        return parse_profile(read_toml(p), p)
    path = profile_paths()[resolve_name(str(name_or_path))]
    return parse_profile(read_toml(path), path)
