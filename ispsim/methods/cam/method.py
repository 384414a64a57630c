"""CAM and CAM with test-time fine-tuning as ispsim methods; one model per camera.

``fit`` (see :class:`PerCameraModels`) loads ``methods/checkpoints/cam-<profile>-<camera>.pt``
when it ships, else trains on the store's training split for that camera. The reference is
learned: the runner asks :meth:`sample` for the camera's mask at capture time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..base import Method, MethodInfo, Reference
from ..checkpoints import PerCameraModels, save_checkpoint
from ..nn import pad_to, threads, validation_psnr
from .model import Reconstructor, Sampler
from .train import fine_tune, train_step


class CAM(PerCameraModels, Method):
    info = MethodInfo("cam", ("image",), "learned content-aware sampler + U-Net reconstructor",
                      trainable=True, needs_reference="learned", experimental=True,
                      paper="Nam et al., CVPR 2022 (CAM)")
    defaults = {
        "widths": [32, 64, 128, 256], "bottleneck": 512, "cell": 8, "patch": 128, "batch": 16, "steps": 2000,
        "lr": 1e-3, "lambda_s": 1e-4, "lambda_m": 0.01, "lambda_m_sony": 0.001, "meta_steps": 5, "meta_lr": 1e-3,
        "finetune_steps": 10, "finetune_lr": 1e-4, "seed": 0, "threads": 0,
    }
    fine_tuned = False

    def __init__(self, settings=None, profile="quick"):
        super().__init__(settings, profile)
        self._init_models()

    def _new(self):
        w, b = tuple(self.settings["widths"]), int(self.settings["bottleneck"])
        return Sampler(w, b, int(self.settings["cell"])), Reconstructor(w, b)

    def _load(self, camera, state):
        sampler, recon = self._new()
        sampler.load_state_dict(state["sampler"])
        recon.load_state_dict(state["reconstructor"])
        self.models[camera] = (sampler.eval(), recon.eval())

    def _train(self, camera, store, path: Path, progress: bool):
        from tqdm import tqdm

        from ...datasets.loaders import PatchDataset

        s = self.settings
        threads(int(s["threads"]))
        torch.manual_seed(int(s["seed"]))
        data = PatchDataset(store, "train", patch=int(s["patch"]), stride=int(s["patch"]) // 2, camera=camera,
                            fields=("srgb", "raw"))
        if len(data) == 0:
            raise ValueError(f"cam: no training patches for {camera} in {store.path}")
        g = torch.Generator().manual_seed(int(s["seed"]))
        loader = torch.utils.data.DataLoader(data, batch_size=int(s["batch"]), shuffle=True, generator=g, drop_last=False)
        sampler, recon = self._new()
        opt = torch.optim.Adam(list(sampler.parameters()) + list(recon.parameters()), lr=float(s["lr"]))
        lam_m = s["lambda_m_sony"] if camera.startswith("sony") else s["lambda_m"]
        steps, done = int(s["steps"]), 0
        bar = tqdm(total=steps, desc=f"train cam/{camera}", unit="step", disable=not progress)
        last = {}
        validate, curve = self._validation(store, camera, sampler, recon), []
        every = max(1, steps // 10)
        while done < steps:
            for item in loader:
                last = train_step(sampler, recon, opt, item["srgb"], item["raw"], rate=1 / s["cell"] ** 2,
                                  lambda_s=s["lambda_s"], lambda_m=lam_m, meta_steps=int(s["meta_steps"]),
                                  meta_lr=s["meta_lr"], generator=g)
                done += 1
                bar.update(1)
                bar.set_postfix(l1=f"{last['l1']:.4f}")
                if validate is not None and (done % every == 0 or done == steps):
                    curve.append([done, round(validate(), 4)])
                if done >= steps:
                    break
        bar.close()
        card = {"method": "cam", "camera": camera, "profile": self.profile, "settings": s,
                "data": {"recipe": store.recipe.name, "recipe_sha": store.recipe.digest(), "size": store.size_name,
                         "patches": len(data)}, "final_losses": last,
                **({"curve": curve, "curve_metric": "validation PSNR per image, learned samples (dB)"} if curve else {}),
                "command": f"bench train cam --profile {self.profile} --recipe {store.recipe.name} --size {store.size_name}"}
        save_checkpoint({"sampler": sampler.state_dict(), "reconstructor": recon.state_dict()}, path, card)
        self.models[camera] = (sampler.eval(), recon.eval())

    def _validation(self, store, camera, sampler, recon, limit: int = 4):
        """PSNR (peak 1, per image) of the reconstructor on the camera's first validation images,
        each with the sampler's own mask: the learning curve. None without validation images."""
        indices = [i for i in store.done_indices("val") if store.params("val", i)["camera"] == camera][:limit]
        if not indices:
            return None
        factor = max(2 ** len(self.settings["widths"]), int(self.settings["cell"]))
        arrays = [store.read_sample("val", i) for i in indices]
        srgb = pad_to(torch.from_numpy(np.stack([a["srgb"] for a in arrays])), factor)
        raw = torch.from_numpy(np.stack([a["raw"] for a in arrays]))
        h, w = raw.shape[-2:]

        def predict(_):
            mask = (sampler(srgb, pad_to(raw, factor))[0] > 0.5).float()
            return recon(srgb, pad_to(raw, factor) * mask, mask)[..., :h, :w]

        return validation_psnr(torch.nn.ModuleList([sampler, recon]), predict, raw)

    def sample(self, srgb: np.ndarray, raw: np.ndarray, camera: str) -> np.ndarray:
        """The camera's learned mask (H, W) for an (sRGB, RAW) pair, at capture time."""
        sampler, _ = self.models[camera]
        h, w = srgb.shape[-2:]
        factor = max(2 ** len(self.settings["widths"]), int(self.settings["cell"]))
        with torch.no_grad():
            mask, _ = sampler(pad_to(torch.from_numpy(srgb)[None], factor), pad_to(torch.from_numpy(raw)[None], factor))
        return mask[0, 0, :h, :w].numpy() > 0.5

    def reconstruct(self, inputs, reference: Reference):
        _, recon = self.models[inputs["camera"]]
        srgb = torch.from_numpy(np.asarray(inputs["srgb"], np.float32))[None]
        mask = torch.from_numpy(reference.mask.astype(np.float32))[None, None]
        raw = torch.from_numpy(np.asarray(reference.raw, np.float32))[None] * mask
        h, w = srgb.shape[-2:]
        factor = 2 ** len(self.settings["widths"])
        srgb, raw, mask = (pad_to(t, factor) for t in (srgb, raw, mask))
        if self.fine_tuned:
            recon = fine_tune(recon, srgb, raw, mask, steps=int(self.settings["finetune_steps"]),
                              lr=float(self.settings["finetune_lr"]))
        with torch.no_grad():
            out = recon.eval()(srgb, raw, mask)
        return out[0, :, :h, :w].numpy()


class CAMFineTuned(CAM):
    info = MethodInfo("cam-ft", ("image",), "CAM with test-time fine-tuning on the stored samples",
                      trainable=True, needs_reference="learned", experimental=True,
                      paper="Nam et al., CVPR 2022 (CAM)")
    fine_tuned = True
    settings_file = "cam"  # the same per-camera models as "cam": its settings and checkpoints
