"""Physics-based sensor noise in DN (ELD, Wei et al. CVPR 2020 / TPAMI 2021; LED, ICCV 2023).

For a clean signal ``I`` in DN above black, the recorded value is

    K * Poisson(I / K)          shot noise, K the system gain in DN per electron        (P)
    + sigma_TL * TL(lambda)     read noise, Tukey-lambda with shape lambda              (TL)
    + sigma_r * N(0, 1) per row row noise, one draw added to a whole sensor row         (R)
    + U(-1/2, 1/2)              quantisation of the ADC, in DN                          (Q)
    + bias[c]                   colour bias, a per-CFA-channel black-level error        (C)

then clipped to ``[-black, white - black]``. Components are named as the field names them and
joined with ``+`` (``"P+TL+R+Q+C"``, ``"P+G"`` for Poisson-Gaussian with a Gaussian read term);
each may be switched on alone.

Both backends share a deterministic core, :func:`apply_draws`, that turns uniform and normal
draws and Poisson counts into noise; the Tukey-lambda samples come from its quantile function
``Q(u) = (u^l - (1-u)^l) / l`` (``log(u / (1-u))`` at ``l = 0``), which is
``scipy.stats.tukeylambda.ppf``. NumPy draws with a ``numpy.random.Generator``, PyTorch with a
``torch.Generator``; given the same draws both give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..._checks import check_image, is_torch
from ...errors import ConfigError, ShapeError

COMPONENTS = ("P", "TL", "G", "R", "Q", "C")
FULL = "P+TL+R+Q+C"


def parse_components(spec: str) -> tuple[str, ...]:
    parts = tuple(p.strip().upper() for p in str(spec).split("+") if p.strip())
    bad = [p for p in parts if p not in COMPONENTS]
    if bad or not parts:
        raise ConfigError(f"noise components {spec!r}: expected names from {', '.join(COMPONENTS)} joined by '+', "
                          f"e.g. {FULL!r}")
    if "TL" in parts and "G" in parts:
        raise ConfigError(f"noise components {spec!r}: TL and G are two read-noise models; name one")
    return parts


@dataclass(frozen=True)
class PhysicsParams:
    """One virtual camera at one gain, in DN."""

    K: float  # DN per electron
    tl_lambda: float = 0.0  # Tukey-lambda shape
    read_scale: float = 1.0  # sigma of the Tukey-lambda (TL) or Gaussian (G) read term, DN
    row_scale: float = 0.0  # sigma of the per-row offset, DN
    color_bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # R, Gr, Gb, B, DN
    black: float = 0.0
    white: float = 16383.0
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not (self.K > 0 and math.isfinite(self.K)):
            raise ConfigError(f"noise.K: expected a positive gain in DN per electron, got {self.K}")
        if self.read_scale < 0 or self.row_scale < 0:
            raise ConfigError("noise: read_scale and row_scale must be >= 0")
        if not self.white > self.black >= 0:
            raise ConfigError(f"noise: need white > black >= 0, got {self.black}, {self.white}")
        if len(self.color_bias) != 4:
            raise ConfigError(f"noise.color_bias: expected 4 values (R, Gr, Gb, B), got {self.color_bias}")


def tukey_quantile(u, lam: float):
    """Tukey-lambda quantile function (inverse CDF), on either backend."""
    if is_torch(u):
        import torch

        if abs(lam) < 1e-8:
            return torch.log(u) - torch.log1p(-u)
        return (u ** lam - (1 - u) ** lam) / lam
    if abs(lam) < 1e-8:
        return np.log(u) - np.log1p(-u)
    return (u ** lam - (1 - u) ** lam) / lam


def _channel_map(pattern: str, h: int, w: int) -> np.ndarray:
    """Index of each photosite's packed channel (0 R, 1 Gr, 2 Gb, 3 B)."""
    from ..cfa import packed_offsets

    idx = np.zeros((h, w), np.int64)
    for c, (dy, dx) in enumerate(packed_offsets(pattern)):
        idx[dy::2, dx::2] = c
    return idx


def draw(signal, params: PhysicsParams, rng, components: str = FULL) -> dict:
    """The random draws of one application: Poisson counts, uniforms, normals."""
    comps = parse_components(components)
    shape = tuple(signal.shape)
    rows = shape[:-1] + (1,)
    if is_torch(signal):
        import torch

        g, dt, dev = rng, signal.dtype, signal.device
        lam = (signal.detach().clamp(min=0) / params.K).double()
        return {
            "photons": torch.poisson(lam, generator=g).to(dt) if "P" in comps else None,
            "u_read": torch.rand(shape, generator=g, dtype=torch.float64, device=dev).clamp(1e-12, 1 - 1e-12)
            if "TL" in comps else None,
            "z_read": torch.randn(shape, generator=g, dtype=dt, device=dev) if "G" in comps else None,
            "z_row": torch.randn(rows, generator=g, dtype=dt, device=dev) if "R" in comps else None,
            "u_quant": (torch.rand(shape, generator=g, dtype=dt, device=dev) - 0.5) if "Q" in comps else None,
        }
    x = np.asarray(signal)
    return {
        "photons": rng.poisson(np.maximum(x, 0).astype(np.float64) / params.K).astype(x.dtype) if "P" in comps else None,
        "u_read": np.clip(rng.random(shape), 1e-12, 1 - 1e-12) if "TL" in comps else None,
        "z_read": rng.standard_normal(shape).astype(x.dtype) if "G" in comps else None,
        "z_row": rng.standard_normal(rows).astype(x.dtype) if "R" in comps else None,
        "u_quant": (rng.random(shape) - 0.5).astype(x.dtype) if "Q" in comps else None,
    }


def apply_draws(signal, params: PhysicsParams, draws: dict, cfa: str = "RGGB", components: str = FULL):
    """Noisy DN above black from the clean signal ``(*, 1, H, W)`` and given draws (deterministic)."""
    comps = parse_components(components)
    check_image(signal, "physics noise(signal)", channels=1, even="C" in comps)
    y = draws["photons"] * params.K if "P" in comps else signal
    if "TL" in comps:
        tl = tukey_quantile(draws["u_read"], params.tl_lambda)
        y = y + (tl.to(y.dtype) if is_torch(tl) else tl.astype(y.dtype)) * params.read_scale
    if "G" in comps:
        y = y + draws["z_read"] * params.read_scale
    if "R" in comps:
        y = y + draws["z_row"] * params.row_scale
    if "Q" in comps:
        y = y + draws["u_quant"]
    if "C" in comps:
        h, w = signal.shape[-2:]
        bias = np.asarray(params.color_bias, dtype=np.float64)[_channel_map(cfa, h, w)]
        if is_torch(y):
            import torch

            bias = torch.as_tensor(bias, dtype=y.dtype, device=y.device)
        else:
            bias = bias.astype(y.dtype)
        y = y + bias
    lo, hi = -params.black, params.white - params.black
    return y.clamp(lo, hi) if is_torch(y) else np.clip(y, lo, hi)


def add_physics_noise(signal, params: PhysicsParams, rng, cfa: str = "RGGB", components: str = FULL):
    """Clean DN above black ``(*, 1, H, W)`` -> noisy DN above black, clipped at the white level."""
    if not is_torch(signal) and not isinstance(rng, np.random.Generator):
        raise ShapeError("physics noise: NumPy input needs a numpy.random.Generator")
    return apply_draws(signal, params, draw(signal, params, rng, components), cfa, components)


@dataclass(frozen=True)
class CalibratedCamera:
    """ELD's released calibration of one camera: sample a virtual camera per image.

    ``log K ~ U(log Kmin, log Kmax)``; each scale ``log(sigma) = slope * log K + bias + N(0, sigma_fit)``;
    the Tukey shape and the colour bias are drawn from the camera's calibrated list (ELD releases
    them without the gain each was measured at, so "nearest" cannot be computed from the release).
    """

    name: str
    Kmin: float
    Kmax: float
    tl_scale: tuple[float, float, float]  # slope, bias, sigma of log(sigma_TL) against log K
    g_scale: tuple[float, float, float]  # the same for a Gaussian read term
    row_scale: tuple[float, float, float]
    tl_shapes: tuple[float, ...]
    color_biases: tuple[tuple[float, float, float, float], ...]
    black: float = 0.0
    white: float = 16383.0

    def sample(self, rng: np.random.Generator, read: str = "TL") -> PhysicsParams:
        logk = rng.uniform(math.log(self.Kmin), math.log(self.Kmax))

        def scale(fit):
            slope, bias, sigma = fit
            return math.exp(slope * logk + bias + rng.normal(0.0, sigma))

        read_scale = scale(self.tl_scale if read == "TL" else self.g_scale)
        row = scale(self.row_scale)
        i = int(rng.integers(len(self.tl_shapes)))
        return PhysicsParams(K=math.exp(logk), tl_lambda=float(self.tl_shapes[i]), read_scale=read_scale,
                             row_scale=row, color_bias=tuple(self.color_biases[i % len(self.color_biases)]),
                             black=self.black, white=self.white)


def load_calibrated(name_or_path) -> CalibratedCamera:
    """A noise profile of ``ispsim/cameras/noise/`` (``SonyA7S2``, ...) or a TOML path."""
    from pathlib import Path

    from ..._toml import read_toml, take

    folder = Path(__file__).resolve().parents[2] / "cameras" / "noise"
    p = Path(name_or_path)
    if not p.suffix:
        shipped = {f.stem.lower(): f for f in folder.glob("*.toml")}
        if str(name_or_path).lower() not in shipped:
            raise ConfigError(f"noise profile {name_or_path!r}: none such; shipped: {', '.join(sorted(f.stem for f in shipped.values()))}")
        p = shipped[str(name_or_path).lower()]
    data = read_toml(p)
    take(data, {"noise": dict, "sources": dict}, str(p), required=("noise", "sources"))
    n = take(data["noise"], {"name": str, "Kmin": float, "Kmax": float, "black": float, "white": float,
                             "tl_scale": list, "g_scale": list, "row_scale": list, "tl_shapes": list,
                             "color_biases": list}, f"{p}: [noise]",
             required=("name", "Kmin", "Kmax", "tl_scale", "row_scale", "tl_shapes", "color_biases"))
    for key in n:
        if f"noise.{key}" not in data["sources"]:
            raise ConfigError(f"{p}: [noise].{key} has no entry in [sources]; say where it came from")
    if not 0 < n["Kmin"] <= n["Kmax"]:
        raise ConfigError(f"{p}: [noise]: expected 0 < Kmin <= Kmax")
    return CalibratedCamera(n["name"], float(n["Kmin"]), float(n["Kmax"]), tuple(n["tl_scale"]),
                            tuple(n.get("g_scale", n["tl_scale"])), tuple(n["row_scale"]), tuple(n["tl_shapes"]),
                            tuple(tuple(b) for b in n["color_biases"]), float(n.get("black", 0.0)),
                            float(n.get("white", 16383.0)))
