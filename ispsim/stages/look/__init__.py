"""DNG camera-profile looks: HueSatMap / LookTable (3-D HSV tables) and ProfileToneCurve.

As the DNG specification (1.6, "Camera Profiles") and the Adobe DNG SDK's reference code define
them, on linear RGB ``(*, 3, H, W)``:

- An HSV table has HueDivisions x SaturationDivisions x ValueDivisions entries of (hue shift in
  degrees, saturation scale, value scale), stored value-major, then hue, saturation innermost.
  A pixel's hue (in [0, 6) as the SDK counts it), saturation ``(max - min) / max`` and value
  ``max`` index it by trilinear interpolation, hue wrapping round; with one value division the
  table is 2-D. The value axis is linear or, with the encoding flag set (ProfileHueSatMapEncoding /
  ProfileLookTableEncoding = 1), sRGB-encoded. The output hue is shifted, the saturation scaled
  (at most 1), the value scaled. Negative inputs are clipped to 0 first, as the SDK does.
- ProfileToneCurve: points ``(x, y)`` through a cubic spline, applied the way Adobe applies RGB
  tone curves (the largest and smallest channel through the curve, the middle one keeping its
  place between them, so hue holds).

Forward and inverse on NumPy and PyTorch (the same formulas); the inverse of a table is a
fixed-point iteration (exact where the table is invertible: small shifts and scales), of the tone
curve a bisection on the monotone spline. PyTorch is differentiable throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._checks import check_image, is_torch
from ...errors import ConfigError
from .._spec import StageSpec

SPEC = StageSpec(
    name="look",
    invertible="exact",  # tables: to iteration tolerance where invertible
    differentiable=True,
    stochastic=False,
    methods=("hue_sat_map", "look_table", "tone_curve"),
    doc="DNG profile looks: HueSatMap / LookTable HSV tables, ProfileToneCurve (Adobe RGB tone).",
)


@dataclass(frozen=True)
class HSVTable:
    """(V, H, S, 3) entries: hue shift (degrees), saturation scale, value scale."""

    data: np.ndarray
    srgb_value: bool = False  # the encoding flag: value axis sRGB-encoded

    def __post_init__(self):
        d = np.asarray(self.data, dtype=np.float64)
        if d.ndim != 4 or d.shape[-1] != 3 or d.shape[1] < 1 or d.shape[2] < 2:
            raise ConfigError(f"HSV table: expected (value, hue, saturation, 3) with >= 2 saturation divisions, "
                              f"got {d.shape}")
        if not np.isfinite(d).all() or (d[..., 1:] < 0).any():
            raise ConfigError("HSV table: entries must be finite and the scales >= 0")
        object.__setattr__(self, "data", d)

    @classmethod
    def from_dng(cls, dims, values, encoding: int = 0) -> "HSVTable":
        """From the tags: ``dims`` = (HueDivisions, SaturationDivisions, ValueDivisions), ``values``
        the flat float list (value outermost, then hue, saturation innermost), ``encoding`` 0/1."""
        h, s, v = (int(x) for x in dims)
        a = np.asarray(values, dtype=np.float64)
        if a.size != h * s * max(v, 1) * 3:
            raise ConfigError(f"HSV table: {a.size} values do not fill {h} x {s} x {v} x 3")
        return cls(a.reshape(max(v, 1), h, s, 3), bool(encoding))

    @classmethod
    def identity(cls, hues=6, sats=2, vals=1) -> "HSVTable":
        d = np.zeros((vals, hues, sats, 3))
        d[..., 1:] = 1.0
        return cls(d)


def _xp(x):
    if is_torch(x):
        import torch

        return torch
    return np


def rgb_to_hsv(rgb):
    """(*, 3, H, W) -> h in [0, 6), s, v (the SDK's convention)."""
    xp = _xp(rgb)
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    mx = xp.maximum(xp.maximum(r, g), b)
    mn = xp.minimum(xp.minimum(r, g), b)
    gap = mx - mn
    safe = xp.where(gap > 0, gap, xp.ones_like(gap))
    h = xp.where(r == mx, (g - b) / safe, xp.where(g == mx, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = xp.where(gap > 0, h, xp.zeros_like(h))
    h = xp.where(h < 0, h + 6, h)
    s = xp.where(mx > 0, gap / xp.where(mx > 0, mx, xp.ones_like(mx)), xp.zeros_like(mx))
    return h, s, mx


def hsv_to_rgb(h, s, v):
    xp = _xp(h)
    h = h % 6
    i = xp.floor(h)
    f = h - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    sel = [i == k for k in range(6)]
    r = xp.where(sel[0], v, xp.where(sel[1], q, xp.where(sel[2], p, xp.where(sel[3], p, xp.where(sel[4], t, v)))))
    g = xp.where(sel[0], t, xp.where(sel[1], v, xp.where(sel[2], v, xp.where(sel[3], q, xp.where(sel[4], p, p)))))
    b = xp.where(sel[0], p, xp.where(sel[1], p, xp.where(sel[2], t, xp.where(sel[3], v, xp.where(sel[4], v, q)))))
    return xp.stack([r, g, b], -3) if xp is np else xp.stack([r, g, b], dim=-3)


def _srgb(v):
    xp = _xp(v)
    return xp.where(v <= 0.0031308, 12.92 * v, 1.055 * xp.clip(v, 0.0031308, None) ** (1 / 2.4) - 0.055)


def lookup(table: HSVTable, h, s, v):
    """Trilinear interpolation of (hue shift, sat scale, val scale) at each pixel's (h, s, v)."""
    xp = _xp(h)
    # Indices from NaN-free copies: a NaN pixel stays NaN through its own h, s, v, not through an index.
    h, s, v = (xp.nan_to_num(a) for a in (h, s, v))
    d = table.data
    nv, nh, ns, _ = d.shape
    if xp is not np:
        import torch

        d = torch.as_tensor(d, dtype=h.dtype, device=h.device)
    hs = h * (nh / 6.0)
    h0f = xp.floor(hs)
    hf = hs - h0f
    h0 = h0f.long() % nh if xp is not np else h0f.astype(np.int64) % nh
    h1 = (h0 + 1) % nh
    ss = xp.clip(s, 0, 1) * (ns - 1)
    s0f = xp.clip(xp.floor(ss), 0, ns - 2)
    sf = ss - s0f
    s0 = s0f.long() if xp is not np else s0f.astype(np.int64)
    if nv > 1:
        venc = _srgb(v) if table.srgb_value else v
        vs = xp.clip(venc, 0, 1) * (nv - 1)
        v0f = xp.clip(xp.floor(vs), 0, nv - 2)
        vf = vs - v0f
        v0 = v0f.long() if xp is not np else v0f.astype(np.int64)
        vidx = ((v0, 1 - vf), (v0 + 1, vf))
    else:
        z = h0 * 0
        vidx = ((z, xp.ones_like(h)),)
    out = 0
    for vi, wv in vidx:
        for hi, wh in ((h0, 1 - hf), (h1, hf)):
            for si, ws in ((s0, 1 - sf), (s0 + 1, sf)):
                w = (wv * wh * ws)[..., None]
                out = out + w * d[vi, hi, si]
    return out[..., 0], out[..., 1], out[..., 2]


def apply_table(rgb, table: HSVTable):
    """A HueSatMap or LookTable on linear RGB ``(*, 3, H, W)``."""
    check_image(rgb, "apply_table(rgb)", channels=3)
    xp = _xp(rgb)
    x = xp.clip(rgb, 0, None) if xp is np else rgb.clamp(min=0)
    h, s, v = rgb_to_hsv(x)
    dh, sscale, vscale = lookup(table, h, s, v)
    s2 = xp.minimum(s * sscale, xp.ones_like(s))
    return hsv_to_rgb(h + dh * (6.0 / 360.0), s2, v * vscale).astype(rgb.dtype) if xp is np else \
        hsv_to_rgb(h + dh * (6.0 / 360.0), s2, v * vscale)


def invert_table(rgb, table: HSVTable, iterations: int = 100, tol: float = 1e-12):
    """Inverse of :func:`apply_table` by fixed-point iteration ``x += y - F(x)`` (in float64), then
    one differentiable step on tensors."""
    check_image(rgb, "invert_table(rgb)", channels=3)
    if is_torch(rgb):
        import torch

        y = rgb.detach().double()
        x = y.clone()
        with torch.no_grad():
            for _ in range(iterations):
                r = y - apply_table(x, table)
                x = (x + r).clamp(min=0)
                if float(r.abs().max()) < tol:
                    break
        x = x.to(rgb.dtype)
        return x + (rgb - apply_table(x, table))
    y = np.asarray(rgb, dtype=np.float64)
    x = y.copy()
    for _ in range(iterations):
        r = y - apply_table(x, table)
        x = np.clip(x + r, 0, None)
        if np.nanmax(np.abs(r)) < tol:
            break
    return x.astype(rgb.dtype)


@dataclass(frozen=True)
class ToneCurve:
    """ProfileToneCurve: points (x, y) in [0, 1], x increasing, through a natural cubic spline."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self):
        x, y = np.asarray(self.x, float), np.asarray(self.y, float)
        if x.shape != y.shape or x.size < 2 or (np.diff(x) <= 0).any() or (np.diff(y) < 0).any():
            raise ConfigError("tone curve: expected >= 2 points with x increasing and y not decreasing")
        if x[0] < 0 or x[-1] > 1 or y.min() < 0 or y.max() > 1:
            raise ConfigError("tone curve: points lie in [0, 1]")

    @classmethod
    def from_dng(cls, values) -> "ToneCurve":
        a = np.asarray(values, dtype=np.float64).reshape(-1, 2)
        return cls(tuple(a[:, 0]), tuple(a[:, 1]))

    def coefficients(self) -> np.ndarray:
        """(n - 1, 4) cubic coefficients per interval (a + b t + c t^2 + d t^3, t = x - x_i)."""
        from scipy.interpolate import CubicSpline

        cs = CubicSpline(np.asarray(self.x), np.asarray(self.y), bc_type="natural")
        return cs.c[::-1].T.copy()


def eval_curve(curve: ToneCurve, v):
    xp = _xp(v)
    c = curve.coefficients()
    knots = np.asarray(curve.x)
    if xp is np:
        vv = np.clip(v, knots[0], knots[-1])
        i = np.clip(np.searchsorted(knots, vv, side="right") - 1, 0, len(knots) - 2)
        t = vv - knots[i]
        return c[i, 0] + t * (c[i, 1] + t * (c[i, 2] + t * c[i, 3]))
    import torch

    kt = torch.as_tensor(knots, dtype=v.dtype, device=v.device)
    ct = torch.as_tensor(c, dtype=v.dtype, device=v.device)
    vv = v.clamp(float(knots[0]), float(knots[-1]))
    i = (torch.searchsorted(kt, vv.detach().contiguous(), right=True) - 1).clamp(0, len(knots) - 2)
    t = vv - kt[i]
    return ct[i, 0] + t * (ct[i, 1] + t * (ct[i, 2] + t * ct[i, 3]))


def _rgb_tone(rgb, f):
    """Adobe's RGB tone: max and min channels through ``f``, the middle one keeps its place."""
    xp = _xp(rgb)
    r, g, b = rgb[..., 0, :, :], rgb[..., 1, :, :], rgb[..., 2, :, :]
    mx = xp.maximum(xp.maximum(r, g), b)
    mn = xp.minimum(xp.minimum(r, g), b)
    fmx, fmn = f(mx), f(mn)
    gap = mx - mn
    safe = xp.where(gap > 0, gap, xp.ones_like(gap))

    def one(c):
        mid = fmn + (fmx - fmn) * (c - mn) / safe
        return xp.where(c == mx, fmx, xp.where(c == mn, fmn, mid))

    out = [one(r), one(g), one(b)]
    return np.stack(out, -3) if xp is np else xp.stack(out, dim=-3)


def apply_tone_curve(rgb, curve: ToneCurve):
    check_image(rgb, "apply_tone_curve(rgb)", channels=3)
    out = _rgb_tone(rgb, lambda v: eval_curve(curve, v))
    return out if is_torch(out) else out.astype(rgb.dtype, copy=False)


def invert_curve_values(curve: ToneCurve, y, iterations: int = 60):
    """x with curve(x) = y on the monotone spline, by bisection (NumPy and, detached, PyTorch)."""
    xp = _xp(y)
    lo = xp.zeros_like(y) + curve.x[0]
    hi = xp.zeros_like(y) + curve.x[-1]
    for _ in range(iterations):
        mid = (lo + hi) / 2
        below = eval_curve(curve, mid) < y
        lo = xp.where(below, mid, lo)
        hi = xp.where(below, hi, mid)
    return (lo + hi) / 2


def invert_tone_curve(rgb, curve: ToneCurve):
    """Exact inverse of :func:`apply_tone_curve` where the curve is increasing: the order of the
    channels and the middle one's place between the others are kept by the forward map."""
    check_image(rgb, "invert_tone_curve(rgb)", channels=3)
    if is_torch(rgb):
        import torch

        with torch.no_grad():
            x = _rgb_tone(rgb.double(), lambda v: invert_curve_values(curve, v)).to(rgb.dtype)
        return x + (rgb - apply_tone_curve(x, curve))
    return _rgb_tone(np.asarray(rgb, np.float64), lambda v: invert_curve_values(curve, v)).astype(rgb.dtype)
