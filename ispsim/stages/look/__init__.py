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

import functools
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


def _hsv_step(table: HSVTable, h2, s2, v2, h, s, v):
    """One fixed-point step on (h, s, v) towards F(h, s, v) = (h2, s2, v2): a contraction
    where the table's shifts and scales vary slowly (hue twists under ~28 degrees a division
    pair, saturation maps that keep ``s * scale`` increasing)."""
    xp = _xp(h2)
    dh, sc, vs = lookup(table, h, s, v)
    h = (h2 - dh * (6.0 / 360.0)) % 6
    s = xp.clip(s2 / xp.where(sc > 0, sc, xp.ones_like(sc)), 0, 1)
    v = v2 / xp.where(vs > 0, vs, xp.ones_like(vs))
    return h, s, v


def invert_table(rgb, table: HSVTable, iterations: int = 200, tol: float = 1e-13):
    """Inverse of :func:`apply_table`: a fixed-point iteration in HSV (in float64), exact to
    ``tol`` where the table is invertible. On tensors the gradient is the implicit function's:
    the inverse of each pixel's 3 x 3 Jacobian of the forward table."""
    check_image(rgb, "invert_table(rgb)", channels=3)
    if is_torch(rgb):
        return _invert_table_autograd().apply(rgb, table, iterations, tol)
    return _invert_table_np(np.asarray(rgb, dtype=np.float64), table, iterations, tol).astype(rgb.dtype)


def _invert_table_np(y, table, iterations, tol):
    y = np.clip(y, 0, None)
    h2, s2, v2 = rgb_to_hsv(y)
    h, s, v = h2, s2, v2
    for _ in range(iterations):
        hn, sn, vn = _hsv_step(table, h2, s2, v2, h, s, v)
        dh = np.remainder(hn - h + 3, 6) - 3
        done = max(np.nanmax(np.abs(dh)), np.nanmax(np.abs(sn - s)), np.nanmax(np.abs(vn - v))) < tol
        h, s, v = hn, sn, vn
        if done:
            break
    return hsv_to_rgb(h, s, v)


@functools.cache
def _invert_table_autograd():
    """The autograd Function, built on first use so that NumPy users never import torch."""
    import torch

    class InvertTable(torch.autograd.Function):
        @staticmethod
        def forward(ctx, y, table, iterations, tol):
            x = torch.from_numpy(_invert_table_np(y.detach().double().cpu().numpy(), table, iterations, tol))
            x = x.to(device=y.device, dtype=y.dtype)
            ctx.table = table
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            with torch.enable_grad():
                xr = x.detach().double().requires_grad_()
                f = apply_table(xr, ctx.table)
                # pixelwise map: row c of every pixel's Jacobian in one backward pass each
                rows = [torch.autograd.grad(f[..., c, :, :].sum(), xr, retain_graph=c < 2)[0] for c in range(3)]
            jac = torch.stack(rows, -4).movedim((-4, -3), (-2, -1))  # (..., H, W, out, in)
            g = grad.double().movedim(-3, -1).unsqueeze(-1)
            eye = torch.eye(3, dtype=jac.dtype, device=jac.device)
            gy = torch.linalg.solve(jac.transpose(-1, -2) + 1e-12 * eye, g)
            return gy.squeeze(-1).movedim(-1, -3).to(grad.dtype), None, None, None

    return InvertTable


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


# -- the working space ------------------------------------------------------------------------
# The DNG SDK applies profile looks in linear ProPhoto RGB (ROMM, D50). Our render's matrix lands
# in linear sRGB (D65), so the looks go through ProPhoto and back, Bradford-adapted.
_PRIMARIES = {"srgb": ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), (0.3127, 0.3290)),
              "prophoto": ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001), (0.3457, 0.3585))}
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(xy):
    x, y = xy
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz_matrix(space: str) -> np.ndarray:
    """RGB -> XYZ from the primaries and white point (SMPTE RP 177)."""
    *prim, white = _PRIMARIES[space]
    p = np.stack([_xyz(c) for c in prim], 1)
    return p * np.linalg.solve(p, _xyz(white))


def _bradford(src_xy, dst_xy) -> np.ndarray:
    s, d = _BRADFORD @ _xyz(src_xy), _BRADFORD @ _xyz(dst_xy)
    return np.linalg.inv(_BRADFORD) @ np.diag(d / s) @ _BRADFORD


SRGB_TO_PROPHOTO = (np.linalg.inv(rgb_to_xyz_matrix("prophoto"))
                    @ _bradford(_PRIMARIES["srgb"][3], _PRIMARIES["prophoto"][3]) @ rgb_to_xyz_matrix("srgb"))
PROPHOTO_TO_SRGB = np.linalg.inv(SRGB_TO_PROPHOTO)


# -- a parametric family of looks -------------------------------------------------------------
# ispsim's choice, not measured from any camera: the shapes a DCP profile's tables commonly take
# (a hue twist, saturation boosted by hue and rolled off towards white, a filmic S-curve).
LOOK_PARAMS = ("hue_twist", "hue_phase", "saturation", "value_twist", "filmic")
_HUES, _SATS, _VALS = 36, 6, 8


@dataclass(frozen=True)
class Look:
    """A DNG-style look: HueSatMap, LookTable and ProfileToneCurve, each optional."""

    hue_sat_map: HSVTable | None = None
    look_table: HSVTable | None = None
    tone_curve: ToneCurve | None = None


def parametric_look(hue_twist: float = 0.0, hue_phase: float = 0.0, saturation: float = 1.0,
                    value_twist: float = 0.0, filmic: float = 0.0) -> Look:
    """The look of the parameters (each 0, or 1 for ``saturation``, turns its part off).

    - HueSatMap (2-D, 36 hues x 6 saturations): hue shift ``hue_twist * sin(2 (h + phase))``
      degrees, zero for greys and full from saturation 0.2 up; saturation ``s' = k s / (1 + (k - 1)
      s)`` with ``k = 1 + (saturation - 1)(1 + 0.5 cos(h - phase))``: a boost of slope ``k`` at grey
      that leaves full saturation in place, so the table stays invertible.
    - LookTable (3-D, 36 x 6 x 8, sRGB-encoded value): the saturation change rolled off towards
      white (scale ``1 - 0.5 (saturation - 1) v^2``), value scaled by ``1 + value_twist s cos(h +
      phase)`` (greys untouched).
    - ProfileToneCurve: ``u' = (1 - filmic) u + filmic (3u^2 - 2u^3)`` on ``u = x^(1/2.2)``, an S
      about mid-grey, 33 points.
    """
    hue = np.arange(_HUES) * (360.0 / _HUES)
    th, ph = np.deg2rad(hue)[:, None], np.deg2rad(hue_phase)
    s = np.linspace(0, 1, _SATS)[None, :]
    hsm = lt = curve = None
    if hue_twist or saturation != 1.0:
        d = np.zeros((1, _HUES, _SATS, 3))
        d[0, ..., 0] = hue_twist * np.sin(2 * (th + ph)) * np.minimum(s / 0.2, 1.0)
        # s' = k s / (1 + (k - 1) s): slope k at grey, saturation 1 stays 1, never clamped
        k = 1 + (saturation - 1) * (1 + 0.5 * np.cos(th - ph))
        d[0, ..., 1] = k / (1 + (k - 1) * s)
        d[0, ..., 2] = 1.0
        hsm = HSVTable(d)
    if saturation != 1.0 or value_twist:
        v = np.linspace(0, 1, _VALS)[:, None, None]
        d = np.zeros((_VALS, _HUES, _SATS, 3))
        d[..., 1] = 1 - 0.5 * (saturation - 1) * v ** 2 + 0 * s
        d[..., 2] = 1 + value_twist * s * np.cos(th + ph)
        lt = HSVTable(d, srgb_value=True)
    if filmic:
        u = np.linspace(0, 1, 33)
        y = ((1 - filmic) * u + filmic * (3 * u ** 2 - 2 * u ** 3)) ** 2.2
        curve = ToneCurve(tuple(u ** 2.2), tuple(y))
    return Look(hsm, lt, curve)


def look_from_params(params: dict | None) -> Look | None:
    if not params:
        return None
    return _cached_look(tuple(float(params.get(k, 1.0 if k == "saturation" else 0.0)) for k in LOOK_PARAMS))


@functools.lru_cache(maxsize=64)
def _cached_look(values: tuple) -> Look:
    return parametric_look(**dict(zip(LOOK_PARAMS, values)))


def _matrix(x, m):
    from ..color import apply_matrix

    return apply_matrix(x, m)


def apply_pre_exposure(rgb, look: Look):
    """Linear sRGB -> linear ProPhoto with the HueSatMap applied (the DNG order: before exposure)."""
    x = _matrix(rgb, SRGB_TO_PROPHOTO)
    return apply_table(x, look.hue_sat_map) if look.hue_sat_map is not None else x


def apply_post_exposure(x, look: Look):
    """ProPhoto after exposure -> LookTable -> clip [0, 1] -> ProfileToneCurve -> linear sRGB."""
    if look.look_table is not None:
        x = apply_table(x, look.look_table)
    x = x.clip(0, 1)
    if look.tone_curve is not None:
        x = apply_tone_curve(x, look.tone_curve)
    return _matrix(x, PROPHOTO_TO_SRGB)


def invert_post_exposure(rgb, look: Look):
    x = _matrix(rgb, SRGB_TO_PROPHOTO)
    if look.tone_curve is not None:
        x = invert_tone_curve(x, look.tone_curve)
    if look.look_table is not None:
        x = invert_table(x, look.look_table)
    return x


def invert_pre_exposure(x, look: Look):
    if look.hue_sat_map is not None:
        x = invert_table(x, look.hue_sat_map)
    return _matrix(x, PROPHOTO_TO_SRGB)
