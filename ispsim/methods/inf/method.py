"""INF as an ispsim method: one network per tile, trained on the samples of its 3x3 tiles.

Self-supervised per image: nothing is pre-trained. All tiles train at once as stacked networks
(batched matmuls); ``batched = false`` trains them one by one (the reference the tests compare
against). Coordinates are in [0, 1] over the whole image.
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import Method, MethodInfo, Reference
from ..nn import threads
from .siren import StackedSiren


class INF(Method):
    info = MethodInfo("inf", ("image",), "two-branch SIREN per tile, trained on its neighbourhood's samples",
                      needs_reference="sampled", experimental=True, paper="Li et al., CVPR 2023 (INF)")
    defaults = {
        "tiles": [4, 4], "hidden": 256, "omega": 30.0, "iterations": 500, "lr": 1e-4,
        "decay_colour": 1e-4, "decay_spatial": 0.1, "decay_output": 1e-3, "step": 200, "gamma": 0.5,
        "batched": True, "seed": 0, "threads": 0,
    }

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
            model = [self._fit([seed], [idx], s, xy, r, dtype) for seed, idx in zip(seeds, sets)]
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
        model = StackedSiren(seeds, int(self.settings["hidden"]), float(self.settings["omega"]), dtype)
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
        srgb = np.asarray(inputs["srgb"], dtype=np.float32)
        h, w = srgb.shape[-2:]
        yx, s, r = reference.samples()
        models, (ys, xs) = self.train_tiles(srgb, yx, s, r)
        out = np.empty((3, h, w), np.float32)
        gy, gx = np.mgrid[0:h, 0:w]
        xy = np.stack([gx / max(w - 1, 1), gy / max(h - 1, 1)], -1).astype(np.float32)
        k = 0
        with torch.no_grad():
            for i in range(len(ys) - 1):
                for j in range(len(xs) - 1):
                    sl = (slice(ys[i], ys[i + 1]), slice(xs[j], xs[j + 1]))
                    col = torch.from_numpy(srgb[(slice(None),) + sl].reshape(3, -1).T.copy())[None]
                    pos = torch.from_numpy(xy[sl].reshape(-1, 2))[None]
                    model, idx = (models, k) if not isinstance(models, list) else (models[k], 0)
                    pred = model(col, pos, index=idx)
                    out[(slice(None),) + sl] = pred[0].T.reshape(3, ys[i + 1] - ys[i], xs[j + 1] - xs[j]).numpy()
                    k += 1
        return out

