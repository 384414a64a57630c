"""Classic baselines, so that every leaderboard has references.

- ``blind-unprocess``: the camera profile's inverse ISP with its default rendering; no reference.
- ``global-fit``: in the spirit of RIR (Nguyen & Brown, CVPR 2016): a global per-channel inverse
  tone curve (piecewise linear) and a 3x3 colour transform, fitted jointly by alternating least
  squares to the sampled (sRGB, RAW) pairs.
- ``sam-rbf``: Punnappurath & Brown's spatially aware metadata (WACV 2021): RBF interpolation
  with a linear kernel over (y, x, sRGB) -> RAW, one interpolant per tile fitted on the samples
  of its 3x3 neighbourhood of tiles.
- ``oracle``: inverts the ISP with the true record, an upper bound no real method reaches (its
  limit is 8-bit quantisation and clipping).
"""

from __future__ import annotations

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


class GlobalFit(Method):
    info = MethodInfo("global-fit", ("image",), "global inverse tone curve + 3x3 colour transform (RIR-style)",
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

    def reconstruct(self, inputs, reference: Reference):
        _, s, r = reference.samples()
        v, m = self.fit_curves(s.astype(np.float64), r.astype(np.float64))
        srgb = inputs["srgb"].astype(np.float64)
        knots = np.linspace(0, 1, v.shape[1])
        t = np.stack([np.interp(srgb[c], knots, v[c]) for c in range(3)])
        return np.einsum("ic,chw->ihw", m, t).astype(np.float32)


class SamRBF(Method):
    info = MethodInfo("sam-rbf", ("image",), "tiled RBF interpolation over (y, x, sRGB), linear kernel (SAM)",
                      needs_reference="sampled", paper="Punnappurath & Brown, WACV 2021 (SAM)")
    defaults = {"tile": 64, "position_weight": 0.25, "smoothing": 1e-5, "kernel": "linear"}

    def reconstruct(self, inputs, reference: Reference):
        from scipy.interpolate import RBFInterpolator

        srgb = inputs["srgb"].astype(np.float64)
        _, h, w = srgb.shape
        yx, s, r = reference.samples()
        tile = int(self.settings["tile"])
        scale = self.settings["position_weight"] / max(h, w)
        feats = np.concatenate([yx * scale, s], axis=1)
        ty, tx = yx[:, 0] // tile, yx[:, 1] // tile
        out = np.empty((3, h, w))
        yy, xx = np.mgrid[0:h, 0:w]
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                near = (np.abs(ty - y0 // tile) <= 1) & (np.abs(tx - x0 // tile) <= 1)
                if near.sum() < 8:  # too few samples to interpolate: use all of them
                    near = np.ones(len(yx), bool)
                rbf = RBFInterpolator(feats[near], r[near], kernel=self.settings["kernel"],
                                      smoothing=self.settings["smoothing"], degree=1)
                sl = (slice(y0, y0 + tile), slice(x0, x0 + tile))
                q = np.concatenate([np.stack([yy[sl].ravel(), xx[sl].ravel()], 1) * scale,
                                    srgb[(slice(None),) + sl].reshape(3, -1).T], axis=1)
                out[(slice(None),) + sl] = rbf(q).T.reshape((3,) + yy[sl].shape)
        return out.astype(np.float32)


class Oracle(Method):
    info = MethodInfo("oracle", ("image",), "inverse ISP with the true record (upper bound)",
                      needs_reference="record", upper_bound=True)
    defaults: dict = {}

    def reconstruct(self, inputs, reference: Reference):
        return Pipeline.invert(inputs["srgb"], reference.record, mosaic=False)
