"""PriorRAW as ispsim methods: one encoder, bank and reconstructor per camera.

Training (per camera, on the store's training split): the images are divided into a target and
a reference half; the pixel-searching encoder learns, contrastively, to assemble a target's
half-resolution RAW from reference pixels through ``softmax(f_t . f_r^T)``; the reference half's
features are compressed into the prior bank (faiss k-means); the reconstructor then learns with
the encoder frozen (L1 + SSIM). The bank ships inside the checkpoint: a model asset, so the
camera stores nothing per image (0 reference bytes).

``priorraw-search`` is the pixel search alone: the bank-assembled RAW, upsampled.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..base import Method, MethodInfo, Reference
from ..checkpoints import PerCameraModels, save_checkpoint
from ..nn import pad_to, ssim, threads, validation_psnr
from .bank import PriorBank, build_bank
from .model import Reconstructor, SearchEncoder, assemble, half, rows


def _load_images(store, camera):
    from ...datasets.loaders import ImageDataset

    data = ImageDataset(store, "train", fields=("srgb", "raw"), camera=camera)
    if len(data) < 2:
        raise ValueError(f"priorraw: {store.path} has {len(data)} training images of {camera}; it needs >= 2 "
                         "(a target and a reference half)")
    items = [data[k] for k in range(len(data))]
    return torch.stack([it["srgb"] for it in items]), torch.stack([it["raw"] for it in items])


def _crops(images, n, patch, g):
    """``n`` random ``patch`` crops (even offsets) from a list of aligned ``(N, C, H, W)`` tensors."""
    num, _, h, w = images[0].shape
    patch = min(patch, h, w) // 2 * 2
    i = torch.randint(num, (n,), generator=g)
    y = torch.randint((h - patch) // 2 + 1, (n,), generator=g) * 2
    x = torch.randint((w - patch) // 2 + 1, (n,), generator=g) * 2
    return [torch.stack([t[a, :, b:b + patch, c:c + patch] for a, b, c in zip(i, y, x)]) for t in images]


def pixels(encoder, srgb, raw, batch: int = 4):
    """Every reference pixel at the encoder's resolution: feat (N, D), srgb (N, 3), raw (N, 3)."""
    feats = []
    with torch.no_grad():
        for k in range(0, len(srgb), batch):
            feats.append(encoder(srgb[k:k + batch]))
    return rows(torch.cat(feats)).numpy(), rows(half(srgb)).numpy(), rows(half(raw)).numpy()


def reference_split(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's random division of the training images into a target and a reference half."""
    perm = torch.randperm(n, generator=g)
    return perm[: n // 2], perm[n // 2:]


class PriorRAW(PerCameraModels, Method):
    info = MethodInfo("priorraw", ("image",), "prior bank searched by a learned encoder + fusion U-Net (no per-image metadata)",
                      trainable=True, needs_reference="prior_bank", experimental=True, paper="PriorRAW, ACM MM 2024")
    defaults = {
        "enc_width": 32, "dim": 64, "enc_blocks": 2, "enc_steps": 4000, "enc_patch": 64, "enc_targets": 4,
        "enc_references": 8, "enc_lr": 1e-3,
        "clusters": 5000, "group": 1000, "bank_topk": 0,
        "channels": 64, "heads": 4, "widths": [32, 64, 128, 256], "pool": 4,
        "prior_raw": True, "reliable": True, "bank_attention": True,
        "steps": 20000, "patch": 128, "batch": 8, "lr": 1e-3, "ssim_weight": 0.2, "seed": 0, "threads": 0,
    }
    assembled_only = False

    def __init__(self, settings=None, profile="quick"):
        super().__init__(settings, profile)
        self._init_models()

    def _new(self):
        s = self.settings
        enc = SearchEncoder(int(s["enc_width"]), int(s["dim"]), int(s["enc_blocks"]))
        rec = Reconstructor(int(s["dim"]), int(s["channels"]), int(s["heads"]), tuple(s["widths"]), int(s["pool"]),
                            bool(s["prior_raw"]), bool(s["reliable"]), bool(s["bank_attention"]))
        return enc, rec

    def _load(self, camera, state):
        enc, rec = self._new()
        enc.load_state_dict(state["encoder"])
        rec.load_state_dict(state["reconstructor"])
        bank = PriorBank(*(state["bank"][k].numpy() for k in ("feat", "srgb", "raw")))
        self.models[camera] = (enc.eval(), rec.eval(), bank)

    # -- training ----------------------------------------------------------------------------
    def train_encoder(self, encoder, targets, references, g, progress=True, desc="encoder"):
        """Contrastive training: assemble target RAW from reference pixels; L2 to the target RAW."""
        from tqdm import tqdm

        s = self.settings
        opt = torch.optim.Adam(encoder.parameters(), lr=float(s["enc_lr"]))
        steps = int(s["enc_steps"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        loss = torch.tensor(float("nan"))
        for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress):
            ts, tr = _crops(targets, int(s["enc_targets"]), int(s["enc_patch"]), g)
            rs, rr = _crops(references, int(s["enc_references"]), int(s["enc_patch"]), g)
            loss = F.mse_loss(assemble(encoder(ts), rows(encoder(rs)), rows(half(rr))), half(tr))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        return loss.item()

    def train_reconstructor(self, encoder, rec, bank, srgb, raw, g, progress=True, desc="reconstructor",
                            validate=None, curve: list | None = None):
        """L1 + SSIM with the encoder frozen; ``validate()`` (no random draws) every tenth of the
        steps and after the last, into ``curve`` as ``[step, dB]``."""
        from tqdm import tqdm

        s = self.settings
        b = bank.tensors()
        opt = torch.optim.Adam(rec.parameters(), lr=float(s["lr"]))
        steps = int(s["steps"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        patch = int(s["patch"]) // rec.factor // int(s["pool"]) * rec.factor * int(s["pool"])
        loss = torch.tensor(float("nan"))
        every = max(1, steps // 10)
        rec.train()
        for k in tqdm(range(steps), desc=desc, unit="step", disable=not progress):
            xs, xr = _crops([srgb, raw], int(s["batch"]), patch, g)
            out = rec(xs, *self._assembled(encoder, xs, b), bank=b)
            loss = F.l1_loss(out, xr) + float(s["ssim_weight"]) * (1 - ssim(out, xr))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if validate is not None and curve is not None and ((k + 1) % every == 0 or k + 1 == steps):
                curve.append([k + 1, round(validate(), 4)])
        return loss.item()

    def _validation(self, store, camera, encoder, rec, bank, limit: int = 4):
        """PSNR (peak 1, per image) of the whole pipeline on the camera's first validation images,
        as ``reconstruct`` runs it: the learning curve. None without validation images."""
        from ...datasets.loaders import ImageDataset

        data = ImageDataset(store, "val", fields=("srgb", "raw"), camera=camera)
        items = [data[k] for k in range(min(limit, len(data)))]
        if not items:
            return None
        b = bank.tensors()
        factor = math.lcm(2, rec.factor, int(self.settings["pool"]))
        srgb = pad_to(torch.stack([it["srgb"] for it in items]), factor)
        raw = torch.stack([it["raw"] for it in items])
        h, w = raw.shape[-2:]
        assembled = [self._assembled(encoder, srgb[k:k + 1], b) for k in range(len(items))]  # the encoder is frozen

        def predict(net):
            return torch.cat([net(srgb[k:k + 1], *assembled[k], bank=b) for k in range(len(items))])[..., :h, :w]

        return validation_psnr(rec, predict, raw)

    def _assembled(self, encoder, srgb, b):
        """The sRGB and RAW assembled from the bank (softmax over its ``bank_topk`` nearest entries;
        0: over all of them)."""
        with torch.no_grad():
            f = encoder(srgb)
            out = assemble(f, b["feat"], torch.cat([b["srgb"], b["raw"]], dim=1), topk=int(self.settings["bank_topk"]))
        return out[:, :3], out[:, 3:]

    def _train(self, camera, store, path: Path, progress: bool):
        s = self.settings
        threads(int(s["threads"]))
        torch.manual_seed(int(s["seed"]))
        g = torch.Generator().manual_seed(int(s["seed"]))
        srgb, raw = _load_images(store, camera)
        enc, rec = self._new()
        tgt, ref = reference_split(len(srgb), g)
        enc_loss = self.train_encoder(enc, [srgb[tgt], raw[tgt]], [srgb[ref], raw[ref]], g, progress,
                                      f"priorraw/{camera} encoder")
        enc.eval()
        feat, psrgb, praw = pixels(enc, srgb[ref], raw[ref])
        bank = build_bank(feat, psrgb, praw, clusters=int(s["clusters"]), group=int(s["group"]), seed=int(s["seed"]))
        curve: list = []
        rec_loss = self.train_reconstructor(enc, rec, bank, srgb, raw, g, progress, f"priorraw/{camera} reconstructor",
                                            self._validation(store, camera, enc, rec, bank), curve)
        card = {"method": "priorraw", "camera": camera, "profile": self.profile, "settings": s,
                "data": {"recipe": store.recipe.name, "recipe_sha": store.recipe.digest(), "size": store.size_name,
                         "images": len(srgb), "reference_images": [int(i) for i in ref], "reference_pixels": len(feat)},
                "bank": {"clusters": len(bank), "group": int(s["group"]), "bytes": bank.nbytes},
                "final_losses": {"encoder_mse": enc_loss, "reconstructor": rec_loss},
                **({"curve": curve, "curve_metric": "validation PSNR per image, prior bank (dB)"} if curve else {}),
                "note": "trained from scratch on ispsim's NUS-style data; not the paper's weights",
                "command": f"bench train priorraw --profile {self.profile} --recipe {store.recipe.name} --size {store.size_name}"}
        state = {"encoder": enc.state_dict(), "reconstructor": rec.state_dict(), "bank": bank.tensors()}
        save_checkpoint(state, path, card)
        self.models[camera] = (enc, rec.eval(), bank)

    # -- inference ---------------------------------------------------------------------------
    def reconstruct(self, inputs, reference: Reference):
        enc, rec, bank = self.models[inputs["camera"]]
        srgb = torch.from_numpy(np.asarray(inputs["srgb"], np.float32))[None]
        h, w = srgb.shape[-2:]
        b = bank.tensors()
        factor = math.lcm(2, rec.factor, int(self.settings["pool"]))
        x = pad_to(srgb, factor)
        a_srgb, a_raw = self._assembled(enc, x, b)
        with torch.no_grad():
            if self.assembled_only:
                out = F.interpolate(a_raw, size=x.shape[-2:], mode="bilinear", align_corners=False)
            else:
                out = rec(x, a_srgb, a_raw, bank=b)
        return out[0, :, :h, :w].numpy()


class PriorRAWSearch(PriorRAW):
    info = MethodInfo("priorraw-search", ("image",), "PriorRAW's pixel search alone: the bank-assembled RAW",
                      trainable=True, needs_reference="prior_bank", experimental=True,
                      paper="PriorRAW, ACM MM 2024 (Table 1)")
    assembled_only = True
    settings_file = "priorraw"  # the same per-camera models as "priorraw"
