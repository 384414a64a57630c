"""Benchmark suites (TOML in the top-level ``benchmarks/`` folder): datasets x methods x metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._toml import read_toml, take
from ..datasets.sampling import MODES
from ..errors import ConfigError
from ..methods.base import PROFILES, TRACKS

SUITE_DIR = Path(__file__).parent / "suites"  # a link to the top-level benchmarks/ folder


@dataclass(frozen=True)
class SuiteDataset:
    recipe: str
    size: str
    split: str
    track: str
    reference: str
    rate: float

    @property
    def key(self) -> str:
        return f"{Path(self.recipe).stem}/{self.size}/{self.split}"


@dataclass(frozen=True)
class Suite:
    name: str
    profile: str
    seed: int
    bootstrap: int
    error_maps: int
    datasets: tuple[SuiteDataset, ...]
    path: str = ""


def load_suite(name_or_path: str) -> Suite:
    p = Path(name_or_path)
    if not p.exists():
        p = SUITE_DIR / f"{name_or_path}.toml"
        if not p.exists():
            shipped = sorted(x.stem for x in SUITE_DIR.glob("*.toml"))
            raise ConfigError(f"suite {name_or_path!r}: no such file; shipped suites: {', '.join(shipped)}")
    data = read_toml(p)
    w = str(p)
    take(data, {"suite": dict, "datasets": list}, w, required=("suite", "datasets"))
    s = take(data["suite"], {"name": str, "profile": str, "seed": int, "bootstrap": int, "error_maps": int},
             f"{w}: [suite]", required=("name", "profile"))
    if s["profile"] not in PROFILES:
        raise ConfigError(f"{w}: [suite].profile: expected one of {', '.join(PROFILES)}, got {s['profile']!r}")
    datasets = []
    for k, d in enumerate(data["datasets"]):
        where = f"{w}: [[datasets]] #{k + 1}"
        d = take(d, {"recipe": str, "size": str, "split": str, "track": str, "reference": str, "rate": float},
                 where, required=("recipe", "size", "track"))
        if d["track"] not in TRACKS:
            raise ConfigError(f"{where}.track: expected one of {', '.join(TRACKS)}, got {d['track']!r}")
        if d.get("reference", "uniform") not in MODES:
            raise ConfigError(f"{where}.reference: expected one of {', '.join(MODES)}, got {d['reference']!r}")
        datasets.append(SuiteDataset(d["recipe"], d["size"], d.get("split", "test"), d["track"],
                                     d.get("reference", "uniform"), float(d.get("rate", 1 / 64))))
    return Suite(s["name"], s["profile"], s.get("seed", 0), s.get("bootstrap", 1000), s.get("error_maps", 3),
                 tuple(datasets), str(p))
