"""Tone: transfer functions, a parametric global curve and local tone mapping.

- sRGB OETF (IEC 61966-2-1) and its inverse, unclipped like colour-science's.
- Plain gamma with RDDM's epsilon: ``max(x, eps)^(1/g)`` and ``max(y, eps)^g`` (eps = 1e-8).
- Global curve: ``(1 - s) x + s (3x^2 - 2x^3)`` on [0, 1], the smoothstep of Brooks et al. 2019
  blended with identity by strength ``s``; its inverse is exact (Newton, then one differentiable
  step so the gradient is the implicit-function one).
- Local tone mapping: a gain map ``exp(-s (B(log L) - log a))`` where ``B`` is a self-guided
  filter (He et al. 2013) of log luminance: base layer compressed, detail kept, as in
  Durand & Dorsey 2002. Inverted by fixed-point iteration, a contraction of rate about ``s``.
"""

from __future__ import annotations

from ..._checks import check_image
from ...errors import ShapeError
from .._spec import StageSpec, kernels

SPEC = StageSpec(
    name="tone",
    invertible="exact",  # local tone mapping: to iteration tolerance
    differentiable=True,
    stochastic=False,
    methods=("srgb", "gamma", "curve", "local"),
    doc="sRGB OETF, gamma with eps, smoothstep-blend curve, guided-filter local tone mapping.",
)

LUMA = (0.2126, 0.7152, 0.0722)  # linear sRGB (Rec. 709) luminance
LOG_EPS = 1e-4  # floor inside log luminance, keeps the black level finite


def encode_srgb(x):
    """Linear -> sRGB-encoded values."""
    return kernels(__name__, x).encode_srgb(x)


def decode_srgb(y):
    """sRGB-encoded -> linear values."""
    return kernels(__name__, y).decode_srgb(y)


def encode_gamma(x, gamma: float = 2.2, eps: float = 1e-8):
    return kernels(__name__, x).encode_gamma(x, gamma, eps)


def decode_gamma(y, gamma: float = 2.2, eps: float = 1e-8):
    return kernels(__name__, y).decode_gamma(y, gamma, eps)


def _check_strength(s: float, what: str, upper: float = 1.0):
    if not 0.0 <= float(s) <= upper:
        raise ShapeError(f"{what}: strength must lie in [0, {upper}], got {s}")


def apply_curve(x, strength: float):
    """Global tone curve on [0, 1] (values outside are the caller's to clip)."""
    _check_strength(strength, "tone curve")
    return kernels(__name__, x).curve(x, float(strength))


def invert_curve(y, strength: float):
    _check_strength(strength, "tone curve")
    return kernels(__name__, y).curve_inverse(y, float(strength))


def _check_local(rgb, strength, radius, eps):
    check_image(rgb, "local tone mapping(rgb)", channels=3)
    _check_strength(strength, "local tone mapping", upper=0.95)
    if int(radius) < 1 or eps <= 0:
        raise ShapeError(f"local tone mapping: need radius >= 1 and eps > 0, got {radius}, {eps}")


def apply_local(rgb, strength: float, *, radius: int = 16, eps: float = 0.1, anchor: float = 0.18):
    """Compress the base layer of log luminance of linear RGB ``(*, 3, H, W)``."""
    _check_local(rgb, strength, radius, eps)
    return kernels(__name__, rgb).local(rgb, float(strength), int(radius), float(eps), float(anchor))


def invert_local(rgb, strength: float, *, radius: int = 16, eps: float = 0.1, anchor: float = 0.18,
                 iterations: int = 60):
    _check_local(rgb, strength, radius, eps)
    return kernels(__name__, rgb).local_inverse(
        rgb, float(strength), int(radius), float(eps), float(anchor), int(iterations)
    )
