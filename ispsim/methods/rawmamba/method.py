"""RAWMamba as an ispsim method: one architecture for the image and the video track.

- Image (NUS-style store): the reference is the sampled pixels (the suite's sampler; training
  draws the same sampler's mask); one model for all the store's cameras.
- Video (RVD-style store): the first frame's sRGB and RAW are the reference; every later frame
  queries it through the DIS optical flow computed from the sRGB frames; the clip's frames are
  scanned together in the (T, H, W) grid.

``fit`` loads ``methods/checkpoints/rawmamba-<profile>-{image,video}.pt`` when it ships, else
trains on the store's training split (MSE + 0.5 (1 - SSIM), the paper's loss). The ablations of
the paper's Table 3 are methods of their own: ``rawmamba-no-geb``, ``-no-leb``, ``-no-local``,
``-no-global``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch.nn import functional as F

from ...datasets.sampling import ReferenceSampler
from ...errors import ConfigError
from ..base import Method, MethodInfo, Reference
from ..checkpoints import PerCameraModels, save_checkpoint
from ..nn import random_windows, ssim, train_loop, validation_psnr
from .flow import clip_flows
from .model import RAWMambaNet, count_parameters, pad_multiple

BASES = ("", "global-fit")


class RAWMamba(PerCameraModels, Method):
    info = MethodInfo("rawmamba", ("image", "video"), "UME (GEB + flow-warped LEB) + LTA-Mamba (Hilbert and line scans)",
                      trainable=True, needs_reference="sampled", paper="RAWMamba, 2025")
    settings_file = "rawmamba"
    defaults = {
        "dims": [96, 192, 384], "depths": [3, 3, 9], "modules": 3, "heads": 4, "points": 4, "d_state": 16,
        "geb": True, "leb": True, "local": True, "global": True,
        "steps": 20000, "lr": 2e-4, "batch": 64, "patch": 128, "video_steps": 80000, "video_batch": 4, "video_patch": 256,
        "ssim_weight": 0.5, "rate": 0.015625, "flow_preset": "medium", "encoder_weights": "", "base": "", "seed": 0, "threads": 0,
    }
    overrides: dict = {}

    def __init__(self, settings=None, profile="quick"):
        super().__init__({**(settings or {}), **self.overrides}, profile)
        if self.settings.get("base", "") not in BASES:
            raise ConfigError(f"{self.info.name}: base: expected one of {', '.join(map(repr, BASES))}, "
                              f"got {self.settings['base']!r}")
        self._init_models()

    def model_keys(self, store) -> list[str]:
        return ["video" if store.recipe.style == "rvd" else "image"]

    def model_key(self, camera: str, track: str = "image") -> str:
        return "video" if track == "video" else "image"

    def checkpoint_name(self, key: str) -> str:
        return f"{self.info.name}-{self.profile}-{key}.pt"

    def _net(self) -> RAWMambaNet:
        s = self.settings
        return RAWMambaNet(tuple(s["dims"]), tuple(s["depths"]), s["modules"], s["heads"], s["points"], s["d_state"],
                           s["geb"], s["leb"], s["local"], s["global"], bool(s["base"]))

    def _load(self, key, state):
        net = self._net()
        net.load_state_dict(state)
        self.models[key] = net.eval()

    def _model(self, key: str) -> RAWMambaNet:
        if key not in self.models:
            raise ConfigError(f"{self.info.name}: no trained {key} model; call fit(store) on a "
                              f"{'rvd' if key == 'video' else 'nus'}-style store first (bench run does)")
        return self.models[key]

    # -- training ---------------------------------------------------------------------------
    def _loss(self, pred, target):
        p, t = pred.flatten(0, 1), target.flatten(0, 1)
        return F.mse_loss(p, t) + self.settings["ssim_weight"] * (1 - ssim(p, t))

    def _train(self, key, store, path, progress):
        s = self.settings
        torch.manual_seed(s["seed"])  # the initial weights too: same seed, same bytes
        net = self._net().train()
        pretrained = self._pretrained(net)
        data = (_VideoClips if key == "video" else _Images)(store, s)
        steps = s["video_steps"] if key == "video" else s["steps"]
        validate, curve = (self._validation(store, net) if key == "image" else None), []
        loss = train_loop(net.parameters(), lambda g: self._loss(*data.batch(net, g)), s, progress,
                          f"{self.info.name} ({key})", steps, validate=validate, every=max(1, steps // 10), curve=curve)
        net.eval()
        card = {"method": self.info.name, "profile": self.profile, "settings": s, "track": key,
                "parameters": count_parameters(net), "final_loss": loss,
                **({"curve": curve, "curve_metric": "validation PSNR per image, sampled pixels (dB)"} if curve else {}),
                "data": {"recipe": store.recipe.name, "digest": store.recipe.digest(), "size": store.size_name,
                         "train": len(data)},
                "command": f"bench train {self.info.name} --profile {self.profile} --recipe {store.recipe.name} "
                           f"--size {store.size_name}",
                "note": (f"ConvNeXt encoders from ImageNet weights ({s['encoder_weights']})" if pretrained
                         else "ConvNeXt encoders from scratch (no ImageNet weights)")
                        + (f"; the network corrects a {s['base']} base fitted to the metadata (not in the paper)"
                           if s["base"] else "")}
        save_checkpoint(net.state_dict(), path, card)
        self.models[key] = net

    def _validation(self, store, net, per_camera: int = 2):
        """PSNR (peak 1, per image) of the image track on each camera's first validation images,
        with the suite's sampler and the base fitted as ``reconstruct`` does: the learning curve.
        None without validation images."""
        by_camera: dict = {}
        for i in store.done_indices("val"):
            by_camera.setdefault(store.params("val", i)["camera"], []).append(i)
        indices = sorted(i for v in by_camera.values() for i in v[:per_camera])
        if not indices:
            return None
        arrays = [store.read_sample("val", i) for i in indices]
        srgb = [np.asarray(a["srgb"], np.float32) for a in arrays]
        raw = torch.from_numpy(np.stack([a["raw"] for a in arrays]).astype(np.float32))
        mask = ReferenceSampler("uniform", self.settings["rate"]).mask(*raw.shape[-2:])
        bases = [self._base(x, r, mask, x[None]) for x, r in zip(srgb, raw.numpy())]

        def predict(net):
            return torch.from_numpy(np.stack([self._run(net, x[None], x, r, mask, None, b)[0]
                                              for x, r, b in zip(srgb, raw.numpy(), bases)]))

        return validation_psnr(net, predict, raw)

    def _pretrained(self, net) -> bool:
        """ImageNet ConvNeXt weights into the three encoders, from ``encoder_weights`` (a local file
        with timm's names) when set and present; otherwise the run says it trains from scratch."""
        from pathlib import Path

        from .model import load_convnext

        path = self.settings["encoder_weights"]
        if not path:
            return False
        if not Path(path).expanduser().is_file():
            print(f"{self.info.name}: ImageNet ConvNeXt weights not found at {path}; the encoders train from scratch",
                  file=sys.stderr)
            return False
        for enc in (net.f1, net.f2, net.f3):
            load_convnext(enc, path)
        return True

    # -- inference --------------------------------------------------------------------------
    def _run(self, net, x, ref_srgb, ref_raw, mask, flow, base=None):
        """Numpy in (unpadded), numpy out: ``x (T, 3, H, W)`` -> ``(T, 3, H, W)``; ``base``: the fit's
        estimates ``(T + 1, 3, H, W)`` of the reference then of the frames."""
        h, w = x.shape[-2:]
        t = lambda a: pad_multiple(torch.from_numpy(np.ascontiguousarray(a, np.float32))[None], net.factor)  # noqa: E731
        with torch.no_grad():
            out = net(t(x), t(ref_srgb), t(ref_raw), None if mask is None else t(mask[None]),
                      None if flow is None else t(flow), None if base is None else t(base[1:]),
                      None if base is None else t(base[0]))
        return out[0, :, :, :h, :w].numpy()

    def _base(self, ref_srgb, ref_raw, mask, frames):
        """The base fit (``base`` setting) of the metadata applied to the reference and to
        ``frames (T, 3, H, W)``: ``(T + 1, 3, H, W)``, or None without a base."""
        if not self.settings["base"]:
            return None
        return base_estimates(ref_srgb, ref_raw, mask, frames)

    def reconstruct(self, inputs, reference: Reference):
        if reference.source != "sampled":
            raise ConfigError(f"{self.info.name}: the image track needs a sampled reference, got {reference.source!r}")
        srgb = np.asarray(inputs["srgb"], np.float32)
        base = self._base(reference.srgb, reference.raw, reference.mask, srgb[None])
        return self._run(self._model("image"), srgb[None], reference.srgb, reference.raw, reference.mask, None, base)[0]

    def reconstruct_video(self, inputs, reference: Reference) -> np.ndarray:
        """Frames ``(T, 3, H, W)`` -> camera RGB of frames 1..T-1, all scanned together."""
        frames = np.asarray(inputs["srgb"], np.float32)
        flows = clip_flows(frames, 0, self.settings["flow_preset"])[1:]
        base = self._base(reference.srgb, reference.raw, None, frames[1:])
        return self._run(self._model("video"), frames[1:], reference.srgb, reference.raw, None, flows, base)


def base_estimates(ref_srgb, ref_raw, mask, frames) -> np.ndarray:
    """global-fit (its default settings) fitted to the reference pairs (``mask``; None: a whole
    first frame, fitted on the grid the video baselines use) and applied to the reference sRGB and
    to each of ``frames``: ``(T + 1, 3, H, W)`` float32."""
    from ..baselines import GlobalFit

    fit = GlobalFit(dict(GlobalFit.defaults))
    state = fit.fit_pairs(np.asarray(ref_srgb), np.asarray(ref_raw), mask)
    return np.stack([fit.apply_mapping(state, f) for f in (ref_srgb, *frames)])


class _Crops:
    """Training data of one store style, in memory, drawn as random crops."""

    style, unit = "", "samples"

    def __init__(self, store):
        if store.recipe.style != self.style:
            raise ConfigError(f"{store.path}: rawmamba's {self.track} model trains on {self.style}-style stores, "
                              f"not {store.recipe.style!r}")
        self.indices = store.done_indices("train")
        if not self.indices:
            raise ConfigError(f"{store.path}: no finished training {self.unit}")

    def __len__(self):
        return len(self.indices)


class _Images(_Crops):
    """Random crops of the NUS-style training images with the sampler's mask (the suite's)."""

    style, track = "nus", "image"

    def __init__(self, store, s):
        super().__init__(store)
        arrays = [store.read_sample("train", i) for i in self.indices]
        self.srgb = torch.from_numpy(np.stack([a["srgb"] for a in arrays]).astype(np.float32))
        self.raw = torch.from_numpy(np.stack([a["raw"] for a in arrays]).astype(np.float32))
        mask = ReferenceSampler("uniform", s["rate"]).mask(*self.srgb.shape[-2:])
        self.mask = torch.from_numpy(mask)
        self.base = None
        if s["base"]:  # the fit of each whole image's samples, as at test time
            self.base = torch.from_numpy(np.stack([base_estimates(a["srgb"], a["raw"], mask, [])[0] for a in arrays]))
        self.n, self.patch = s["batch"], s["patch"]

    def batch(self, net, g):
        crop, _ = random_windows(len(self), self.srgb.shape[-2:], self.n, self.patch, g, multiple=net.factor)
        srgb, raw = crop(self.srgb), crop(self.raw)
        mask = crop(self.mask.expand(len(self), -1, -1))[:, None]
        base = torch.zeros_like(raw) if self.base is None else crop(self.base)  # ignored by a network without base
        return net(srgb[:, None], srgb, raw, mask, None, base[:, None], base), raw[:, None]


class _VideoClips(_Crops):
    """Random crops of the RVD-style training clips: frames 1..T-1 query frame 0 through the flow
    computed (once per clip, at full size) from the sRGB frames."""

    style, track, unit = "rvd", "video", "clips"

    def __init__(self, store, s):
        from ...stages import cfa, demosaic

        super().__init__(store)
        srgb, raw, flows, bases = [], [], [], []
        for i in self.indices:
            a, pattern = store.read_sample("train", i), store.params("train", i)["records"][0]["cfa"]
            frames = np.asarray(a["srgb"], np.float32)
            srgb.append(frames)
            raw.append(np.stack([demosaic.demosaic(cfa.unpack(f, pattern), pattern) for f in a["raw"]]).astype(np.float32))
            flows.append(clip_flows(frames, 0, s["flow_preset"]))
            if s["base"]:
                bases.append(base_estimates(frames[0], raw[-1][0], None, frames[1:]))
        self.srgb, self.raw, self.flow = (torch.from_numpy(np.stack(v)) for v in (srgb, raw, flows))
        self.base = torch.from_numpy(np.stack(bases)) if bases else None
        self.n, self.patch = s["video_batch"], s["video_patch"]

    def batch(self, net, g):
        crop, _ = random_windows(len(self), self.srgb.shape[-2:], self.n, self.patch, g, multiple=net.factor, step=2)
        srgb, raw, flow = crop(self.srgb), crop(self.raw), crop(self.flow)
        base = torch.zeros_like(raw) if self.base is None else crop(self.base)  # ignored by a network without base
        return net(srgb[:, 1:], srgb[:, 0], raw[:, 0], None, flow[:, 1:], base[:, 1:], base[:, 0]), raw[:, 1:]


def _ablation(name: str, overrides: dict, row: str, paper="RAWMamba, 2025, Table 3"):
    info = MethodInfo(f"rawmamba-{name}", ("image", "video"), f"RAWMamba ablation: {row}", trainable=True,
                      needs_reference="sampled", experimental=True, paper=paper)
    return type(f"RAWMamba_{name.replace('-', '_')}", (RAWMamba,), {"info": info, "overrides": overrides})


RAWMambaNoGEB = _ablation("no-geb", {"geb": False}, "without GEB")
RAWMambaNoLEB = _ablation("no-leb", {"leb": False}, "without LEB")
RAWMambaNoLocal = _ablation("no-local", {"local": False}, "without the local (Hilbert) scan")
RAWMambaNoGlobal = _ablation("no-global", {"global": False}, "without the global (line) scan")
RAWMambaNoBase = _ablation("no-base", {"base": "", "ssim_weight": 0.5},
                           "the paper's network and loss alone, without the global-fit base", "RAWMamba, 2025, as published")
