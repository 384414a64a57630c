"""Classic baselines, so that every leaderboard has references.

- ``blind-unprocess``: the camera profile's inverse ISP with its default rendering; no reference.
- ``global-fit``: in the spirit of RIR (Nguyen & Brown, CVPR 2016): a global per-channel inverse
  tone curve (piecewise linear) and a 3x3 colour transform, fitted jointly by alternating least
  squares to the sampled (sRGB, RAW) pairs.
- ``sam-rbf``: Punnappurath & Brown's spatially aware metadata (WACV 2021): RBF interpolation
  with a linear kernel over (y, x, sRGB) -> RAW, one interpolant per tile fitted on the samples
  of its 3x3 neighbourhood of tiles.
- ``oracle``: inverts the ISP with the true record, an upper bound for the methods that see the
  same samples. The exact inverse of an 8-bit image is not the best estimate: where the sRGB
  clipped no record can invert it, and quantisation bias (one per flat region), the curve's flat
  top and a local tone map's base computed from quantised or clipped values leave errors that the
  stored RAW samples reveal; so it adds the SAM-style interpolation of its own residual at the
  samples, and wins where sam-rbf would read what the ISP destroyed.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..pipeline import Pipeline
from ..stages import tone
from .base import Method, MethodInfo, Reference


class BlindUnprocess(Method):
    info = MethodInfo("blind-unprocess", ("image",), "camera-profile inverse ISP, no reference",
                      paper="Brooks et al., CVPR 2019 (unprocessing)")
    defaults: dict = {}

    def reconstruct(self, inputs, reference: Reference):
        pipe = Pipeline(inputs["camera"])
        return Pipeline.invert(inputs["srgb"], pipe.profile_record(), mosaic=False)


def _hat_basis(s: np.ndarray, knots: int) -> np.ndarray:
    """(N, K) piecewise-linear interpolation weights of values ``s`` in [0, 1] on K knots."""
    pos = np.clip(s, 0, 1) * (knots - 1)
    lo = np.minimum(np.floor(pos).astype(int), knots - 2)
    frac = pos - lo
    b = np.zeros((s.size, knots))
    b[np.arange(s.size), lo] = 1 - frac
    b[np.arange(s.size), lo + 1] = frac
    return b


class MappingMethod(Method):
    """A method that fits an sRGB -> RAW mapping to reference pairs, then applies it.

    Image track: fit on the sampled pixels of the image itself. Video track (RVD's setting): fit
    on the first frame, whose RAW the camera stored, and apply to every later frame.
    """

    video_rate = 1 / 16  # first-frame pixels used for the fit (uniform grid)

    def fit_mapping(self, reference: Reference, shape: tuple[int, int]):
        raise NotImplementedError

    def apply_mapping(self, state, srgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reconstruct(self, inputs, reference: Reference):
        srgb = np.asarray(inputs["srgb"])
        return self.apply_mapping(self.fit_mapping(reference, srgb.shape[-2:]), srgb)

    def fit_pairs(self, srgb: np.ndarray, raw: np.ndarray, mask: np.ndarray | None = None):
        """The mapping fitted to a reference pair at ``mask`` (None: a whole first frame, fitted on
        the uniform ``video_rate`` grid)."""
        from ..datasets.sampling import ReferenceSampler

        if mask is None:
            mask = ReferenceSampler("uniform", self.video_rate).mask(*srgb.shape[-2:])
        return self.fit_mapping(Reference("sampled", srgb=srgb, raw=raw, mask=mask), srgb.shape[-2:])

    def reconstruct_video(self, inputs, reference: Reference) -> np.ndarray:
        """Frames ``(T, 3, H, W)`` -> camera RGB of frames 1..T-1, from the first frame's pair."""
        state = self.fit_pairs(reference.srgb, reference.raw)
        return np.stack([self.apply_mapping(state, f) for f in np.asarray(inputs["srgb"])[1:]])


class GlobalFit(MappingMethod):
    info = MethodInfo("global-fit", ("image", "video"), "global inverse tone curve + 3x3 colour transform (RIR-style)",
                      needs_reference="sampled", paper="Nguyen & Brown, CVPR 2016 (RIR)")
    defaults = {"knots": 16, "iterations": 10, "smoothness": 1e-4}

    def fit_curves(self, s: np.ndarray, r: np.ndarray):
        """Per-channel knot values (3, K) and matrix M (3, 3) with r ~ M @ curve(s)."""
        k = int(self.settings["knots"])
        knots = np.linspace(0, 1, k)
        v = np.stack([tone.decode_srgb(knots.astype(np.float64))] * 3)
        basis = [_hat_basis(s[:, c], k) for c in range(3)]
        d2 = np.diff(np.eye(k), 2, axis=0) * np.sqrt(self.settings["smoothness"] * len(s))
        for _ in range(int(self.settings["iterations"])):
            t = np.stack([basis[c] @ v[c] for c in range(3)], axis=1)
            m = np.linalg.lstsq(t, r, rcond=None)[0].T
            # r[:, i] = sum_c m[i, c] * basis[c] @ v[c]: linear in v.
            a = np.concatenate([np.concatenate([m[i, c] * basis[c] for c in range(3)], axis=1) for i in range(3)])
            reg = np.kron(np.eye(3), d2)
            sol = np.linalg.lstsq(np.concatenate([a, reg]), np.concatenate([r.T.ravel(), np.zeros(len(reg))]), rcond=None)[0]
            v = sol.reshape(3, k)
        t = np.stack([basis[c] @ v[c] for c in range(3)], axis=1)
        m = np.linalg.lstsq(t, r, rcond=None)[0].T
        return v, m

    def fit_mapping(self, reference, shape):
        _, s, r = reference.samples()
        return self.fit_curves(s.astype(np.float64), r.astype(np.float64))

    def apply_mapping(self, state, srgb):
        v, m = state
        knots = np.linspace(0, 1, v.shape[1])
        t = np.stack([np.interp(srgb[c].astype(np.float64), knots, v[c]) for c in range(3)])
        return np.einsum("ic,chw->ihw", m, t).astype(np.float32)


def _rbf(feats, values, settings):
    """SAM's interpolant with an affine term, or a constant one where the samples lie on a
    lower-dimensional set (a flat, clipped or grey patch: one sRGB colour, or r = g = b): there
    the affine term is undetermined and scipy either raises or, with rounding, solves for
    coefficients of 1e14 that blow up off that set (-216 dB on a 816 x 1216 image)."""
    from scipy.interpolate import RBFInterpolator

    args = dict(kernel=settings["kernel"], smoothing=settings["smoothing"])
    try:
        rbf = RBFInterpolator(feats, values, degree=1, **args)
        if np.abs(rbf._coeffs).max() < 1e6:
            return rbf
    except np.linalg.LinAlgError:
        pass
    return RBFInterpolator(feats, values, degree=0, **args)


class SamRBF(MappingMethod):
    info = MethodInfo("sam-rbf", ("image", "video"), "tiled RBF interpolation over (y, x, sRGB), linear kernel (SAM)",
                      needs_reference="sampled", paper="Punnappurath & Brown, WACV 2021 (SAM)")
    defaults = {"tile": 64, "position_weight": 0.25, "smoothing": 1e-5, "kernel": "linear"}
    version = 2  # 2: a constant term where the samples leave the affine one undetermined

    def fit_mapping(self, reference, shape):
        """One RBF interpolant per tile, fitted on the samples of its 3x3 neighbourhood of tiles."""
        from scipy.interpolate import RBFInterpolator

        h, w = shape
        yx, s, r = reference.samples()
        tile = int(self.settings["tile"])
        scale = self.settings["position_weight"] / max(h, w)
        feats = np.concatenate([yx * scale, s.astype(np.float64)], axis=1)
        ty, tx = yx[:, 0] // tile, yx[:, 1] // tile
        interpolants = {}
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                near = (np.abs(ty - y0 // tile) <= 1) & (np.abs(tx - x0 // tile) <= 1)
                if near.sum() < 8:  # too few samples to interpolate: use all of them
                    near = np.ones(len(yx), bool)
                interpolants[y0, x0] = _rbf(feats[near], r[near].astype(np.float64), self.settings)
        return tile, scale, interpolants

    def apply_mapping(self, state, srgb):
        tile, scale, interpolants = state
        srgb = srgb.astype(np.float64)
        _, h, w = srgb.shape
        out = np.empty((3, h, w))
        yy, xx = np.mgrid[0:h, 0:w]
        for (y0, x0), rbf in interpolants.items():
            sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
            q = np.concatenate([np.stack([yy[sl].ravel(), xx[sl].ravel()], 1) * scale,
                                srgb[(slice(None),) + sl].reshape(3, -1).T], axis=1)
            out[(slice(None),) + sl] = rbf(q).T.reshape((3,) + yy[sl].shape)
        return out.astype(np.float32)


class Oracle(Method):
    info = MethodInfo("oracle", ("image",), "inverse ISP with the true record, corrected by the samples (upper bound)",
                      needs_reference="record", upper_bound=True)
    defaults: dict = {}
    version = 2

    def __init__(self, settings: dict | None = None, profile: str = "quick"):
        from . import create_method

        super().__init__(settings, profile)
        self.residual = create_method("sam-rbf", profile)

    def settings_digest(self) -> str:  # its results change with sam-rbf's settings too
        return hashlib.sha256((super().settings_digest() + self.residual.settings_digest()).encode()).hexdigest()[:12]

    def reconstruct(self, inputs, reference: Reference):
        out = Pipeline.invert(np.asarray(inputs["srgb"]), reference.record, mosaic=False)
        if reference.mask is None:
            return out
        residual = Reference("sampled", srgb=reference.srgb, raw=reference.raw - out, mask=reference.mask)
        return out + self.residual.reconstruct(inputs, residual)
