"""The low-light denoising track (ELD's comparison): packed noisy RAW, amplified by the exposure
ratio, in; packed clean RAW out.

- ``denoise-g``, ``denoise-pg``, ``denoise-physics``: one small U-Net each, the same network and
  schedule, trained on the same clean scenes with the input noise formed by a different model:
  Gaussian read noise alone (``G``), Poisson + Gaussian (``P+G``), or the full physics model
  (``P+TL+R+Q+C``). ELD's question: on data that the full model made, does training under it win?
- ``nlm-known``: non-local means on the packed planes at the noise level the sample's own camera
  parameters give (a baseline that needs no training and is told the truth about the noise).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from ..errors import ConfigError
from .base import Method, MethodInfo, Reference
from .checkpoints import save_checkpoint
from .nn import UNet, pad_to, random_windows, train_loop, validation_psnr
from .restoration import RestorationModel, finished


def training_pairs(store, components: str, split: str = "train"):
    """(input, gt) packed pairs of ``split``: the store's own where its noise model is
    ``components``, else the same scenes and draws regenerated with that model's noise."""
    from ..datasets.generators import make_sample
    from ..datasets.recipe import parse_recipe

    indices = finished(store, split, "lowlight", "denoising")
    own = store.recipe.lowlight.components
    if components == own:
        arrays = [store.read_sample(split, i) for i in indices]
    else:
        text = store.recipe.text.replace(f'components = "{own}"', f'components = "{components}"')
        if text == store.recipe.text:
            raise ConfigError(f"{store.path}: cannot restate the recipe's [lowlight].components as {components!r}")
        if components in ("G", "P+G"):
            text = text.replace('read = "TL"', 'read = "G"')
        recipe = parse_recipe(text, f"{store.recipe.path} ({components})")
        arrays = [make_sample(recipe, store.size_name, split, i)[0] for i in indices]
    return (torch.from_numpy(np.stack([a["input"] for a in arrays])),
            torch.from_numpy(np.stack([a["gt"] for a in arrays])))


class CleanScenes:
    """The clean packed ground truths of one split of a lowlight store, with what each sample's
    noise was made from (its camera's calibrated profile, CFA, ratio range): ELD trains on noise
    synthesised on the fly, a fresh virtual camera, ratio and draw for every crop."""

    def __init__(self, store, split: str = "train"):
        from ..stages.noise.physics import load_calibrated

        self.indices = finished(store, split, "lowlight", "denoising")
        self.gt = torch.from_numpy(np.stack([store.read_sample(split, i)["gt"] for i in self.indices]))
        params = [store.params(split, i) for i in self.indices]
        self.cfa = [p["cfa"] for p in params]
        profiles = {p["noise_profile"] for p in params}
        self.sensors = {name: load_calibrated(name) for name in profiles}
        self.profile = [p["noise_profile"] for p in params]
        self.ratio = tuple(store.recipe.lowlight.ratio)

    def noisy(self, clean: torch.Tensor, idx, components: str, rng: np.random.Generator,
              g: torch.Generator) -> torch.Tensor:
        """The amplified short exposures of packed clean crops ``(B, 4, h, w)`` under ``components``."""
        from ..stages import cfa
        from ..stages.noise.physics import add_physics_noise

        read = "G" if "G" in components.split("+") else "TL"
        out = []
        for x, i in zip(clean, idx):
            i = int(i)
            params = self.sensors[self.profile[i]].sample(rng, read=read)
            ratio = float(np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]))))
            span = params.white - params.black
            long = cfa.unpack(x[None].double(), self.cfa[i]) * span
            short = add_physics_noise(long / ratio, params, g, self.cfa[i], components)
            out.append(cfa.pack(short * ratio / span, self.cfa[i])[0].float())
        return torch.stack(out)


class PackedDenoiser(torch.nn.Module):
    def __init__(self, widths, bottleneck):
        super().__init__()
        self.net = UNet(4, 4, widths, bottleneck)

    def forward(self, x):
        h, w = x.shape[-2:]
        return x + self.net(pad_to(x, 2 ** len(self.net.down)))[..., :h, :w]


class DenoiseUNet(RestorationModel):
    settings_file = "denoise"
    components = "P+TL+R+Q+C"
    # version 2: noise synthesised on the fly for every crop (ELD's training), not the store's one draw
    version = 2
    defaults = {"widths": [32, 64, 128, 256], "bottleneck": 256, "steps": 20000, "patch": 128, "batch": 8,
                "lr": 1e-3, "synthesis": "on-the-fly", "validate_every": 200, "seed": 0, "threads": 0}
    inference_only = ("validate_every",)

    def _net(self):
        return PackedDenoiser(self.settings["widths"], self.settings["bottleneck"])

    def _card(self, store, camera, **extra) -> dict:
        return super()._card(store, camera, noise_model=self.components, **extra)

    def _train(self, camera, store, path, progress):
        torch.manual_seed(self.settings["seed"])
        net, s = self._net(), self.settings
        if s["synthesis"] == "on-the-fly":
            scenes = CleanScenes(store)
            y = scenes.gt
            rng = np.random.default_rng(s["seed"])
        elif s["synthesis"] == "store":
            x, y = training_pairs(store, self.components)
        else:
            raise ConfigError(f"{self.info.name}: synthesis must be 'on-the-fly' or 'store', got {s['synthesis']!r}")
        patch = min(s["patch"], y.shape[-1], y.shape[-2])

        def step(g):
            crop, idx = random_windows(len(y), y.shape[-2:], s["batch"], patch, g)
            clean = crop(y)
            noisy = scenes.noisy(clean, idx, self.components, rng, g) if s["synthesis"] == "on-the-fly" else crop(x)
            return F.l1_loss(net(noisy.clamp(-0.1, 4.0)), clean)

        # The validation split's own inputs (the store's noise model, as the test split's).
        val = store.done_indices("val")
        vx = torch.from_numpy(np.stack([store.read_sample("val", i)["input"] for i in val])).clamp(-0.1, 4.0)
        vy = torch.from_numpy(np.stack([store.read_sample("val", i)["gt"] for i in val]))

        curve: list = []
        net.train()
        loss = train_loop(net.parameters(), step, s, progress, f"{self.info.name} train",
                          validate=validation_psnr(net, lambda n: n(vx), vy) if val else None,
                          every=int(s["validate_every"]), curve=curve)
        save_checkpoint(net.state_dict(), path, self._card(store, camera, final_loss=loss, curve=curve,
                                                           curve_metric="validation PSNR, packed RAW (dB)"))
        self.models[camera] = net.eval()

    def reconstruct(self, inputs, reference: Reference):
        x = torch.from_numpy(np.asarray(inputs["input"], np.float32))[None].clamp(-0.1, 4.0)
        with torch.no_grad():
            return self._model()(x)[0].clamp(0, 1).numpy()


class DenoiseG(DenoiseUNet):
    info = MethodInfo("denoise-g", ("denoising",), "U-Net trained under Gaussian read noise alone (ELD's G)",
                      trainable=True, paper="ELD's Gaussian-noise baseline")
    components = "G"


class DenoisePG(DenoiseUNet):
    info = MethodInfo("denoise-pg", ("denoising",), "U-Net trained under Poisson + Gaussian noise (ELD's G+P)",
                      trainable=True, paper="ELD's Poisson-Gaussian baseline")
    components = "P+G"


class DenoisePhysics(DenoiseUNet):
    info = MethodInfo("denoise-physics", ("denoising",), "U-Net trained under the full physics model (P+TL+R+Q+C)",
                      trainable=True, paper="ELD's physics-based noise formation")
    components = "P+TL+R+Q+C"


class NLMKnown(Method):
    info = MethodInfo("nlm-known", ("denoising",), "non-local means on the packed planes at the known noise level",
                      paper="a classic baseline told the true noise level")
    defaults = {"h": 0.8, "patch_size": 5, "patch_distance": 6}

    def reconstruct(self, inputs, reference: Reference):
        from skimage.restoration import denoise_nl_means

        x = np.asarray(inputs["input"], np.float32)
        span = inputs["white"] - inputs["black"]
        ratio, k = inputs["ratio"], inputs["K"]
        signal = float(np.clip(x, 0, None).mean())
        var = ratio * k * signal / span + (ratio / span) ** 2 * (inputs["read_scale"] ** 2 + inputs["row_scale"] ** 2 + 1 / 12)
        sigma = math.sqrt(max(var, 1e-12))
        s = self.settings
        out = denoise_nl_means(x, h=s["h"] * sigma, sigma=sigma, fast_mode=True, patch_size=s["patch_size"],
                               patch_distance=s["patch_distance"], channel_axis=0)
        return np.clip(out, 0, 1).astype(np.float32)
