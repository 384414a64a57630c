"""INF as an ispsim method: one network per tile, trained on the samples of its 3x3 tiles.

Self-supervised per image: nothing is pre-trained. All tiles train at once as stacked networks
(batched matmuls); ``batched = false`` trains them one by one (the reference the tests compare
against). Coordinates are in [0, 1] over the whole image.

``inf`` is the paper's method (its ``paper`` profile as the authors' code). ispsim's variants, each
still self-supervised on the image's stored samples alone:

- ``omega_colour``: the colour branch's sine frequency (the paper: 30, as every layer); ``inf-omega3``
  is the ablation at 3.
- ``base = "global-fit"`` (``inf-gf``): the networks fit the residual of the image's own global fit
  (an inverse tone curve and a 3x3 matrix fitted to the same samples), so they learn what a global
  colour mapping leaves, not the whole mapping.
- ``clipped = "fill"``: where the 8-bit sRGB is clipped, colour no longer determines RAW, so those
  samples leave the fits and those pixels take the RAW of the nearest clipped samples (inverse
  distance over the 4 nearest): position is all that is left there.
"""

from __future__ import annotations

import numpy as np
import torch

from ...errors import ConfigError
from ..base import Method, MethodInfo, Reference
from ..nn import map_on_cores, threads
from .siren import StackedSiren

CLIP = 254.5 / 255  # an 8-bit sRGB value at or above this was clipped


class INF(Method):
    info = MethodInfo("inf", ("image",), "two-branch SIREN per tile, trained on its neighbourhood's samples",
                      needs_reference="sampled", experimental=True, paper="Li et al., CVPR 2023 (INF)")
    defaults = {
        "tiles": [4, 4], "hidden": 256, "omega": 30.0, "iterations": 500, "lr": 1e-4,
        "decay_colour": 1e-4, "decay_spatial": 0.1, "decay_output": 1e-3, "step": 200, "gamma": 0.5,
        "batched": True, "seed": 0, "threads": 0, "omega_colour": 0.0, "base": "none", "clipped": "keep",
    }
    # the variants' settings at the values that reproduce the paper's method (0: omega for every layer)
    legacy_settings = {"omega_colour": 0.0, "base": "none", "clipped": "keep"}

    def _tiles(self, h, w):
        ty, tx = self.settings["tiles"]
        ys = np.linspace(0, h, ty + 1).astype(int)
        xs = np.linspace(0, w, tx + 1).astype(int)
        return ys, xs

    def train_tiles(self, srgb, yx, s, r, dtype=torch.float32):
        """Train the networks; returns (model or list of models, tile bounds)."""
        h, w = srgb.shape[-2:]
        ys, xs = self._tiles(h, w)
        ty, tx = len(ys) - 1, len(xs) - 1
        tile_of = np.stack([np.searchsorted(ys, yx[:, 0], "right") - 1, np.searchsorted(xs, yx[:, 1], "right") - 1], 1)
        xy = yx[:, ::-1] / np.array([max(w - 1, 1), max(h - 1, 1)])
        sets = []
        for i in range(ty):
            for j in range(tx):
                near = (np.abs(tile_of[:, 0] - i) <= 1) & (np.abs(tile_of[:, 1] - j) <= 1)
                sets.append(np.flatnonzero(near))
        seeds = [int(self.settings["seed"]) * 100003 + k for k in range(len(sets))]
        if self.settings["batched"]:
            model = self._fit(seeds, sets, s, xy, r, dtype)
        else:
            model = map_on_cores(lambda job: self._fit([job[0]], [job[1]], s, xy, r, dtype), list(zip(seeds, sets)))
        return model, (ys, xs)

    def _fit(self, seeds, sets, s, xy, r, dtype):
        n = max(len(idx) for idx in sets)
        p = len(sets)
        colour = torch.zeros(p, n, 3, dtype=dtype)
        coords = torch.zeros(p, n, 2, dtype=dtype)
        target = torch.zeros(p, n, 3, dtype=dtype)
        weight = torch.zeros(p, n, 1, dtype=dtype)
        for k, idx in enumerate(sets):  # padded to the longest set; the padding has weight 0
            colour[k, : len(idx)] = torch.as_tensor(s[idx], dtype=dtype)
            coords[k, : len(idx)] = torch.as_tensor(xy[idx], dtype=dtype)
            target[k, : len(idx)] = torch.as_tensor(r[idx], dtype=dtype)
            weight[k, : len(idx)] = 1.0 / max(len(idx), 1) / 3
        model = StackedSiren(seeds, int(self.settings["hidden"]), float(self.settings["omega"]), dtype,
                             omega_colour=float(self.settings["omega_colour"]) or None)
        decay = {"colour": self.settings["decay_colour"], "spatial": self.settings["decay_spatial"],
                 "output": self.settings["decay_output"]}
        opt = torch.optim.Adam(model.param_groups(decay), lr=float(self.settings["lr"]))
        sched = torch.optim.lr_scheduler.StepLR(opt, int(self.settings["step"]), float(self.settings["gamma"]))
        for _ in range(int(self.settings["iterations"])):
            opt.zero_grad(set_to_none=True)
            # Sum over tiles of each tile's own mean squared error: tiles do not interact.
            loss = (((model(colour, coords) - target) ** 2) * weight).sum()
            loss.backward()
            opt.step()
            sched.step()
        return model

    def reconstruct(self, inputs, reference: Reference):
        threads(int(self.settings["threads"]))
        s_ = self.settings
        if s_["base"] not in ("none", "global-fit") or s_["clipped"] not in ("keep", "fill"):
            raise ConfigError(f"{self.info.name}: base must be 'none' or 'global-fit' and clipped 'keep' or 'fill'; "
                              f"got {s_['base']!r}, {s_['clipped']!r}")
        srgb = np.asarray(inputs["srgb"], dtype=np.float32)
        h, w = srgb.shape[-2:]
        yx, s, r = reference.samples()
        keep = np.ones(len(yx), bool) if s_["clipped"] == "keep" else s.max(axis=1) < CLIP
        if keep.sum() < 16:  # (nearly) all clipped: nothing to learn a colour mapping from
            keep[:] = True
        base = self._base(srgb, s[keep], r[keep])
        target = r if base is None else r - base[:, yx[:, 0], yx[:, 1]].T
        models, (ys, xs) = self.train_tiles(srgb, yx[keep], s[keep], target[keep])
        out = np.empty((3, h, w), np.float32)
        gy, gx = np.mgrid[0:h, 0:w]
        xy = np.stack([gx / max(w - 1, 1), gy / max(h - 1, 1)], -1).astype(np.float32)
        cells = [(slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1])) for i in range(len(ys) - 1) for j in range(len(xs) - 1)]

        def predict(k):
            sl = cells[k]
            col = torch.from_numpy(srgb[(slice(None),) + sl].reshape(3, -1).T.copy())[None]
            pos = torch.from_numpy(xy[sl].reshape(-1, 2))[None]
            model, idx = (models, k) if not isinstance(models, list) else (models[k], 0)
            with torch.no_grad():
                pred = model(col, pos, index=idx)
            out[(slice(None),) + sl] = pred[0].T.reshape(3, sl[0].stop - sl[0].start, sl[1].stop - sl[1].start).numpy()

        if isinstance(models, list):
            map_on_cores(predict, list(range(len(cells))))
        else:
            for k in range(len(cells)):
                predict(k)
        if base is not None:
            out += base
        if s_["clipped"] == "fill" and (~keep).any():
            out = _fill_clipped(out, srgb, yx[~keep], r[~keep])
        return out

    def _base(self, srgb, s, r):
        """The image's global fit (``base = "global-fit"``) on the given samples, or None."""
        if self.settings["base"] == "none":
            return None
        from .. import create_method

        gf = create_method("global-fit", self.profile)
        return gf.apply_mapping(gf.fit_curves(s.astype(np.float64), r.astype(np.float64)), srgb)


def _fill_clipped(out, srgb, yx, r, k: int = 4):
    """Pixels with a clipped sRGB channel take the inverse-distance mean of the RAW at the ``k``
    nearest clipped samples."""
    from scipy.spatial import cKDTree

    where = np.argwhere(srgb.max(axis=0) >= CLIP)
    if not len(where):
        return out
    k = min(k, len(yx))
    dist, idx = cKDTree(yx).query(where, k=k)
    dist, idx = dist.reshape(len(where), k), idx.reshape(len(where), k)
    wts = 1 / np.maximum(dist, 0.5)
    fill = (r[idx] * wts[..., None]).sum(1) / wts.sum(1, keepdims=True)
    out[:, where[:, 0], where[:, 1]] = fill.T
    return out


class INFGlobalFit(INF):
    # Not experimental: on the recalibrated cpu suite it beats sam-rbf per image on every camera.
    info = MethodInfo("inf-gf", ("image",), "INF on the residual of the image's own global fit (an ispsim variant)",
                      needs_reference="sampled",
                      paper="ispsim's variant of Li et al., CVPR 2023 (INF)")
    settings_file = "inf-gf"
    defaults = {**INF.defaults, "base": "global-fit"}


class INFOmega3(INF):
    info = MethodInfo("inf-omega3", ("image",), "INF with the colour branch's sine frequency at 3 (an ablation)",
                      needs_reference="sampled", experimental=True,
                      paper="ispsim's ablation of Li et al., CVPR 2023 (INF)")
    settings_file = "inf"
    defaults = {**INF.defaults, "omega_colour": 3.0}
