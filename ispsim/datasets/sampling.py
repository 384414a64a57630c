"""Reference sampling: which pixels of the (sRGB, RAW) pair a camera stores as metadata.

``uniform``: one pixel per ``s x s`` cell at its centre, ``s = round(1 / sqrt(rate))`` (INF's
stride sampling; 1/64 at stride 8). ``random``: ``round(rate * H * W)`` distinct pixels drawn from
the generator (CAM's 1.5625 % baseline rate is 1/64 too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

MODES = ("uniform", "random")


@dataclass(frozen=True)
class ReferenceSampler:
    mode: str = "uniform"
    rate: float = 1 / 64

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"reference sampler mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if not 0 < self.rate <= 1:
            raise ConfigError(f"reference sampler rate: expected (0, 1], got {self.rate}")

    @property
    def stride(self) -> int:
        return max(1, int(round(1 / np.sqrt(self.rate))))

    def mask(self, height: int, width: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """Boolean ``(H, W)`` mask of the stored pixels."""
        m = np.zeros((height, width), dtype=bool)
        if self.mode == "uniform":
            s = self.stride
            m[s // 2::s, s // 2::s] = True
            return m
        if rng is None:
            raise ConfigError("random reference sampling needs a generator")
        k = max(1, int(round(self.rate * height * width)))
        m.flat[rng.choice(height * width, size=k, replace=False)] = True
        return m

    @staticmethod
    def stored_bytes(mask: np.ndarray, *, bytes_per_value: int, channels: int = 6, positions_implied: bool) -> int:
        """Bytes the camera stores: values of both images, plus positions unless the grid implies them."""
        n = int(mask.sum())
        pos = 0 if positions_implied else n * (2 if mask.size <= 65536 else 4)
        return n * channels * bytes_per_value + pos
