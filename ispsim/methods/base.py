"""The method interface: one reference type and one call for every method.

A method may be trained (``fit``) and reconstructs (``reconstruct(inputs, reference)``). The
reference is what the camera kept beside the sRGB image, whatever the method: sampled (sRGB,
RAW) pixels with a mask, the first frame of a clip, a prior bank built offline, the true record
(the oracle's upper bound), or nothing; with the bytes the camera had to store for it.
Evaluation never happens inside a method: the runner measures.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._toml import read_toml
from ..errors import ConfigError

TRACKS = ("image", "video", "restoration", "denoising")
PROFILES = ("quick", "cpu", "paper")
SOURCES = ("sampled", "first_frame", "prior_bank", "record", "none")
# What a method asks the runner for: "sampled" (the suite's sampler), "learned" (its own sampler),
# "record" (the oracle), "none".
SETTINGS_DIR = Path(__file__).parent / "settings"  # a link to the top-level methods/ folder


@dataclass(frozen=True)
class Reference:
    """What the camera stored for one image beside its sRGB rendering."""

    source: str
    nbytes: int = 0
    srgb: np.ndarray | None = None  # (3, H, W) for sampled / first_frame
    raw: np.ndarray | None = None  # (3, H, W) camera RGB, or packed (4, H/2, W/2) for video
    mask: np.ndarray | None = None  # (H, W) bool: where srgb/raw are known (sampled)
    frame: int | None = None
    record: object | None = None  # the true ISP record: the oracle only

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"reference source: expected one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.source == "sampled" and (self.mask is None or self.srgb is None or self.raw is None):
            raise ConfigError("a sampled reference carries srgb, raw and mask")

    def samples(self):
        """(yx (N, 2), sRGB (N, 3), RAW (N, 3)) of the stored pixels."""
        yx = np.argwhere(self.mask)
        return yx, self.srgb[:, self.mask].T, self.raw[:, self.mask].T


@dataclass
class MethodInfo:
    name: str
    tracks: tuple[str, ...]
    summary: str
    trainable: bool = False
    needs_reference: str = "none"  # the reference source it uses
    upper_bound: bool = False  # knows what no real method can (oracle)
    experimental: bool = False  # not yet validated against its paper: run only when named
    paper: str = ""
    extra: str = ""  # the optional dependency group it needs (pip install 'ispsim[<extra>]')


class Method:
    """Subclasses set ``info`` and implement :meth:`reconstruct`; trainable ones :meth:`fit`."""

    info: MethodInfo
    settings_file: str | None = None  # methods/<this>.toml when not the method's own name
    version: int = 1  # part of the result cache key: bump when a change alters the method's output
    # Settings added after weights or results were made, each with the value it had implicitly
    # before: at that value a setting names the same weights and results as before it existed.
    legacy_settings: dict = {}

    def __init__(self, settings: dict | None = None, profile: str = "quick"):
        self.profile = profile
        self.settings = dict(settings or {})

    def fit(self, train, *, progress: bool = True) -> None:  # noqa: ARG002 - methods without training accept it
        if self.info.trainable:
            raise NotImplementedError(f"{self.info.name}: fit")

    def reconstruct(self, inputs: dict, reference: Reference) -> np.ndarray:
        raise NotImplementedError

    def checkpoint(self) -> str | None:
        """sha256 of the weights in use (part of the result cache key), if any."""
        return None

    def named_settings(self, settings: dict | None = None) -> dict:
        """``settings`` (default: this method's) less those at their legacy value."""
        s = self.settings if settings is None else settings
        return {k: v for k, v in s.items() if not (k in self.legacy_settings and self.legacy_settings[k] == v)}

    def settings_digest(self) -> str:
        blob = json.dumps({"name": self.info.name, "profile": self.profile, "settings": self.named_settings(),
                           "checkpoint": self.checkpoint(), "version": self.version}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def load_settings(name: str, profile: str, defaults: dict) -> dict:
    """``methods/<name>.toml``'s ``[profile]`` table over ``defaults``; unknown keys are errors."""
    if profile not in PROFILES:
        raise ConfigError(f"settings profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
    path = SETTINGS_DIR / f"{name}.toml"
    if not path.exists():
        return dict(defaults)
    data = read_toml(path)
    if profile not in data:
        raise ConfigError(f"{path}: no [{profile}] profile; it has {', '.join(data) or 'none'}")
    table = data[profile]
    for key, value in table.items():
        if key not in defaults:
            raise ConfigError(f"{path}: [{profile}].{key}: unknown setting; valid: {', '.join(defaults)}")
        if type(value) is not type(defaults[key]) and not (isinstance(defaults[key], float) and isinstance(value, int)):
            raise ConfigError(f"{path}: [{profile}].{key}: expected {type(defaults[key]).__name__}, got {value!r}")
    return {**defaults, **table}
