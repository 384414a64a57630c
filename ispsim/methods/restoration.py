"""The RAW-restoration track: training pairs, the dual-domain loss and two baselines.

A restoration method gets ``inputs = {"lq_raw": (1, H, W) mosaic, "bayer", "record", "camera",
"iso"}`` and returns the linear image ``(3, H, W)`` (camera RGB, demosaiced, restored). The record
is the camera's own metadata that a RAW file carries (white-balance gains, colour matrix, tone):
what the post-tone processing (PTP) needs to render sRGB, never the degradations.

Baselines, trained on the same RDDM-style data as RDDM:
- ``unet-raw`` (one stage): a U-Net from the packed RAW ``[R, Gr, Gb, B]`` to the linear image,
  a residual over the bilinear demosaic.
- ``isp-unet`` (two stages, ISP -> IR): classic demosaic (Malvar-He-Cutler) and non-local-means
  denoising, the camera's PTP to 8-bit sRGB, then an sRGB U-Net; the restored sRGB goes back to
  linear through the record's inverse PTP.
- ``classic-isp`` (nothing learned): that classic demosaic and denoising alone, in linear.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import ConfigError
from ..pipeline import Pipeline, Record
from ..stages import cfa, demosaic
from .base import Method, MethodInfo, Reference
from .checkpoints import PerCameraModels, save_checkpoint
from .nn import UNet, pad_to, random_windows, train_loop, validation_psnr


VALIDATE_EVERY = 250  # steps between validation scores (the model card's learning curve)


def finished(store, split: str, style: str, kind: str) -> list[int]:
    """The finished sample indices of ``split`` of a ``style`` store, which ``kind`` methods train on."""
    if store.recipe.style != style:
        raise ConfigError(f"{store.path}: {kind} methods train on {style}-style stores, this one is "
                          f"{store.recipe.style!r}")
    indices = store.done_indices(split)
    if not indices:
        raise ConfigError(f"{store.path}: no finished samples in split {split!r}")
    return indices


class Pairs:
    """The (LQ RAW, linear HQ) pairs of one split of an RDDM-style store, in memory."""

    def __init__(self, store, split: str = "train"):
        self.indices = finished(store, split, "rddm", "restoration")
        arrays = [store.read_sample(split, i) for i in self.indices]
        params = [store.params(split, i) for i in self.indices]
        self.lq = torch.from_numpy(np.stack([a["lq_raw"] for a in arrays]))
        self.linear = torch.from_numpy(np.stack([a["linear"] for a in arrays]))
        self.srgb = torch.from_numpy(np.stack([a["hq_srgb"] for a in arrays]))
        self.bayer = [p["bayer"] for p in params]
        self.records = [Record.from_dict(p["record"]) for p in params]
        self.iso = [float(p["iso"]) for p in params]
        self.cameras = [p["camera"] for p in params]

    def __len__(self):
        return len(self.indices)

    def batch(self, n: int, patch: int, g: torch.Generator, extra: torch.Tensor | None = None) -> dict:
        """``n`` random crops at even offsets (a crop keeps its mosaic's Bayer order)."""
        crop, idx = random_windows(len(self), self.lq.shape[-2:], n, patch, g, multiple=2, step=2)
        out = {"lq": crop(self.lq), "linear": crop(self.linear), "srgb": crop(self.srgb),
               "bayer": [self.bayer[i] for i in idx], "records": [self.records[i] for i in idx]}
        if extra is not None:
            out["extra"] = crop(extra)
        return out


def validation_curve(net, store, predict, metric: str = "linear") -> tuple:
    """``(validate, curve, metric name)`` for ``train_loop``: the PSNR of ``predict(net, pairs)``
    on the store's validation split (``metric``: "linear" or "srgb", the target the network is
    trained on); ``validate`` is None where the store has no validation samples."""
    curve: list = []
    if not store.done_indices("val"):
        return None, curve, ""
    val = Pairs(store, "val")
    validate = validation_psnr(net, lambda n: predict(n, val), val.linear if metric == "linear" else val.srgb)
    return validate, curve, f"validation PSNR, {'linear' if metric == 'linear' else 'sRGB'} (dB)"


def post_tone(x: torch.Tensor, records) -> torch.Tensor:
    """Differentiable PTP of a batch ``(B, 3, H, W)``, each image with its own record."""
    return torch.stack([Pipeline.post_tone(xi, r) for xi, r in zip(x, records)])


def dual_loss(pred, target, records, srgb_weight: float) -> torch.Tensor:
    """RDDM's dual-domain loss: MSE on the linear image + ``srgb_weight`` x MSE after the PTP."""
    loss = F.mse_loss(pred, target)
    if srgb_weight > 0:
        loss = loss + srgb_weight * F.mse_loss(post_tone(pred, records), post_tone(target, records))
    return loss


def bilinear_rgb(lq: torch.Tensor, patterns) -> torch.Tensor:
    """Bilinear demosaic of a batch of mosaics, each in its own Bayer order."""
    return torch.stack([demosaic.demosaic(m, p, "bilinear") for m, p in zip(lq, patterns)])


class RestorationModel(PerCameraModels, Method):
    """One trained model for every camera and Bayer order of a store (key ``all``)."""

    def __init__(self, settings=None, profile="quick"):
        super().__init__(settings, profile)
        self._init_models()

    def model_keys(self, store) -> list[str]:
        return ["all"]

    def model_key(self, camera: str, track: str = "restoration") -> str:
        return "all"

    def checkpoint_name(self, camera: str) -> str:
        return f"{self.info.name}-{self.profile}-{camera}.pt"

    def _card(self, store, camera, **extra) -> dict:
        return {"method": self.info.name, "profile": self.profile, "settings": self.settings,
                "data": {"recipe": store.recipe.name, "digest": store.recipe.digest(), "size": store.size_name,
                         "train_images": len(store.done_indices("train"))},
                "command": f"bench train {self.info.name} --profile {self.profile} --recipe {store.recipe.name} "
                           f"--size {store.size_name}", **extra}

    def _load(self, camera, state):
        net = self._net()
        net.load_state_dict(state)
        self.models[camera] = net.eval()

    def _model(self):
        if "all" not in self.models:
            raise ConfigError(f"{self.info.name}: no trained model; call fit(store) first (bench run does)")
        return self.models["all"]


class PackedUNet(torch.nn.Module):
    """Packed RAW (4, H/2, W/2) -> linear RGB (3, H, W): a residual over the bilinear demosaic."""

    def __init__(self, widths, bottleneck):
        super().__init__()
        self.net = UNet(4, 12, widths, bottleneck)

    def forward(self, lq, patterns):
        packed = torch.stack([cfa.pack(m, p) for m, p in zip(lq, patterns)])
        h, w = packed.shape[-2:]
        res = F.pixel_shuffle(self.net(pad_to(packed, 2 ** len(self.net.down)))[..., :h, :w], 2)
        return bilinear_rgb(lq, patterns) + res


class OneStageUNet(RestorationModel):
    info = MethodInfo("unet-raw", ("restoration",), "one-stage U-Net: packed RAW -> linear image (demosaic + denoise + restore)",
                      trainable=True, paper="the one-stage baseline of RDDM's comparison")
    settings_file = "restoration"
    defaults = {"widths": [32, 64, 128, 256], "bottleneck": 256, "steps": 20000, "patch": 128, "batch": 8,
                "lr": 1e-3, "srgb_weight": 1.0, "seed": 0, "threads": 0}

    def _net(self):
        return PackedUNet(self.settings["widths"], self.settings["bottleneck"])

    def _train(self, camera, store, path, progress):
        torch.manual_seed(self.settings["seed"])  # the initial weights too: same seed, same bytes
        pairs, net, s = Pairs(store), self._net(), self.settings

        def step(g):
            b = pairs.batch(s["batch"], s["patch"], g)
            return dual_loss(net(b["lq"], b["bayer"]), b["linear"], b["records"], s["srgb_weight"])

        validate, curve, metric = validation_curve(net, store, lambda n, v: n(v.lq, v.bayer))
        net.train()
        loss = train_loop(net.parameters(), step, s, progress, f"{self.info.name} train", validate=validate,
                          every=VALIDATE_EVERY, curve=curve)
        save_checkpoint(net.state_dict(), path, self._card(store, camera, final_loss=loss, curve=curve,
                                                           curve_metric=metric))
        self.models[camera] = net.eval()

    def reconstruct(self, inputs, reference: Reference):
        lq = torch.from_numpy(np.asarray(inputs["lq_raw"], np.float32))[None]
        with torch.no_grad():
            return self._model()(lq, [inputs["bayer"]])[0].numpy()


def classic_linear(lq: np.ndarray, bayer: str, camera: str, iso: float) -> np.ndarray:
    """A classic ISP's restoration, in linear camera RGB: Malvar-He-Cutler demosaic, then
    non-local means with the noise level the camera's ISO model gives at the image's mean signal."""
    from skimage.restoration import denoise_nl_means

    from ..cameras import load_camera

    rgb = demosaic.demosaic(np.asarray(lq, np.float32), bayer, "malvar2004").clip(0, None)
    shot, read = load_camera(camera).noise.levels(iso) if iso > 0 else (0.0, 0.0)
    sigma = math.sqrt(max(shot * float(rgb.mean()) + read, 1e-12))
    return denoise_nl_means(rgb, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6,
                            channel_axis=0).astype(np.float32)


def classic_isp(lq: np.ndarray, bayer: str, record: Record, camera: str, iso: float) -> np.ndarray:
    """Stage one of the two-stage baseline: :func:`classic_linear`, then the camera's PTP; 8-bit sRGB out."""
    return Pipeline.finish(classic_linear(lq, bayer, camera, iso), record).astype(np.float32)


class ClassicISP(Method):
    """What the learned restoration methods must beat: the classic stage one of ``isp-unet``,
    scored in linear (no 8-bit round trip), with nothing learned."""

    info = MethodInfo("classic-isp", ("restoration",),
                      "classic ISP, nothing learned: Malvar-He-Cutler demosaic + non-local means at the ISO's noise level",
                      paper="isp-unet's first stage alone (the floor its sRGB U-Net and RDDM must clear)")
    defaults: dict = {}

    def reconstruct(self, inputs, reference: Reference):
        return classic_linear(inputs["lq_raw"], inputs["bayer"], inputs["camera"], inputs["iso"])


class SrgbUNet(torch.nn.Module):
    """sRGB restoration network of the two-stage baseline: a residual U-Net."""

    def __init__(self, widths, bottleneck):
        super().__init__()
        self.net = UNet(3, 3, widths, bottleneck)

    def forward(self, x):
        h, w = x.shape[-2:]
        return x + self.net(pad_to(x, 2 ** len(self.net.down)))[..., :h, :w]


class TwoStage(RestorationModel):
    info = MethodInfo("isp-unet", ("restoration",), "two-stage ISP -> IR: classic demosaic + NLM denoise, PTP, sRGB U-Net",
                      trainable=True, paper="the two-stage (ISP -> restoration) baseline of RDDM's comparison")
    settings_file = "restoration"
    defaults = OneStageUNet.defaults

    def _net(self):
        return SrgbUNet(self.settings["widths"], self.settings["bottleneck"])

    def _train(self, camera, store, path, progress):
        from tqdm import tqdm

        torch.manual_seed(self.settings["seed"])
        pairs, net, s = Pairs(store), self._net(), self.settings
        stage1 = torch.from_numpy(np.stack([
            classic_isp(pairs.lq[k].numpy(), pairs.bayer[k], pairs.records[k], pairs.cameras[k], pairs.iso[k])
            for k in tqdm(range(len(pairs)), desc="isp-unet stage one", unit="img", disable=not progress)]))

        def step(g):
            b = pairs.batch(s["batch"], s["patch"], g, extra=stage1)
            return F.mse_loss(net(b["extra"]), b["srgb"])

        val_stage1 = None

        def predict(n, v):  # stage one of the validation images once, the network each time
            nonlocal val_stage1
            if val_stage1 is None:
                val_stage1 = torch.from_numpy(np.stack([
                    classic_isp(v.lq[k].numpy(), v.bayer[k], v.records[k], v.cameras[k], v.iso[k]) for k in range(len(v))]))
            return n(val_stage1)

        validate, curve, metric = validation_curve(net, store, predict, metric="srgb")
        net.train()
        loss = train_loop(net.parameters(), step, s, progress, f"{self.info.name} train", validate=validate,
                          every=VALIDATE_EVERY, curve=curve)
        save_checkpoint(net.state_dict(), path, self._card(store, camera, final_loss=loss, curve=curve,
                                                           curve_metric=metric))
        self.models[camera] = net.eval()

    def reconstruct(self, inputs, reference: Reference):
        record = inputs["record"]
        srgb = classic_isp(inputs["lq_raw"], inputs["bayer"], record, inputs["camera"], inputs["iso"])
        with torch.no_grad():
            out = self._model()(torch.from_numpy(srgb)[None])[0].clamp(0, 1).numpy()
        return Pipeline.invert(out, record, mosaic=False)
