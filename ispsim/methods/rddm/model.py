"""RDDM's networks, built with diffusers and peft (imported only when RDDM is used).

- RVAE: diffusers' ``AutoencoderKL``. Its encoder takes the sensor mosaic in the three channels
  the linear pre-training used, either as the colour planes of the CFA (each photosite in its own
  colour's channel, zero in the other two) or repeated in all three; its decoder gives the linear
  image.
- The one-step diffusion network: a diffusers UNet run once at a fixed timestep ``t``; the refined
  latent is its x0 prediction ``(z - sqrt(1 - a_t) eps) / sqrt(a_t)`` (OSEDiff's one step), with
  ``a_t`` from the DDPM schedule of Stable Diffusion.
- CMB-LoRA: peft LoRA layers on every convolution and attention projection of the RVAE encoder
  and of the UNet, one adapter group per Bayer order (or one shared group: the all-in-one ablation);
  the group is chosen per sample.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel, UNet2DModel
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from torch import nn

from ...errors import ConfigError

BAYER = ("RGGB", "BGGR", "GRBG", "GBRG")
SHARED = "shared"


def _groups(widths) -> int:
    """GroupNorm groups: SD's 32 for wide networks, but at least 4 channels a group. One channel a
    group is instance normalisation, which erases each channel's level over the image: measured,
    an RVAE that autoencodes 64-pixel crops at 41 dB fell to 17 dB on the 256-pixel test images."""
    return math.gcd(*widths, max(1, min(32, min(widths) // 4)))


def build_rvae(widths, latent: int, layers: int, attention: bool = True) -> AutoencoderKL:
    """``attention``: the mid-block self-attention (SD has it; at full resolution it costs O(pixels^2))."""
    n = len(widths)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(widths),
                         layers_per_block=layers, latent_channels=latent, norm_num_groups=_groups(widths),
                         mid_block_add_attention=attention)


def build_unet(widths, latent: int, layers: int) -> UNet2DModel:
    n = len(widths)
    return UNet2DModel(in_channels=latent, out_channels=latent, block_out_channels=tuple(widths),
                       layers_per_block=layers, norm_num_groups=_groups(widths),
                       down_block_types=("DownBlock2D",) * (n - 1) + ("AttnDownBlock2D",),
                       up_block_types=("AttnUpBlock2D",) + ("UpBlock2D",) * (n - 1))


def load_stable_diffusion(path: str | Path):
    """(RVAE, conditional UNet, empty-prompt embedding) from a local Stable Diffusion 2.1 folder
    (``vae/``, ``unet/``, ``text_encoder/``, ``tokenizer/`` as diffusers saves them)."""
    path = Path(path).expanduser()
    missing = [d for d in ("vae", "unet", "text_encoder", "tokenizer") if not (path / d).is_dir()]
    if missing:
        raise ConfigError(f"rddm paper profile: Stable Diffusion 2.1 not found at {path} (missing {', '.join(missing)}/); "
                          "download it there, or use the cpu profile, which trains small networks from scratch")
    from transformers import CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(path / "tokenizer")
    text = CLIPTextModel.from_pretrained(path / "text_encoder")
    ids = tok([""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
    with torch.no_grad():
        prompt = text(ids)[0]
    return (AutoencoderKL.from_pretrained(path / "vae"), UNet2DConditionModel.from_pretrained(path / "unet"), prompt)


def lora_targets(module: nn.Module) -> list[str]:
    return [n for n, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and "lora_" not in n]


def add_lora(module: nn.Module, groups, rank: int) -> None:
    """One LoRA adapter per group on every convolution and linear layer of ``module``."""
    targets = lora_targets(module)
    for name in groups:
        inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=targets), module, adapter_name=name)


def set_group(module: nn.Module, name: str) -> None:
    for m in module.modules():
        if isinstance(m, LoraLayer):
            m.set_adapter(name)


class RDDMNet(nn.Module):
    """Sensor mosaic ``(B, 1, H, W)`` in [0, 1] -> linear image ``(B, 3, H, W)``."""

    def __init__(self, vae: AutoencoderKL, unet, timestep: int, prompt: torch.Tensor | None = None):
        super().__init__()
        self.vae, self.unet, self.timestep = vae, unet, int(timestep)
        sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        self.alpha_bar = float(sched.alphas_cumprod[self.timestep])
        self.register_buffer("prompt", prompt if prompt is not None else torch.zeros(0), persistent=False)
        # Saved with the weights: a fitted scale (Eq. 4) is part of what the UNet was trained on.
        self.register_buffer("latent_scale", torch.tensor(float(vae.config.scaling_factor)))

    def downsampling(self) -> int:
        """The factor an input side must divide by: the RVAE's and the UNet's downsamplings."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1 + len(self.unet.config.block_out_channels) - 1)

    def encode(self, x3: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(2 * x3 - 1).latent_dist.mode() * self.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (self.vae.decode(z / self.latent_scale).sample + 1) / 2

    @torch.no_grad()
    def fit_latent_scale(self, linear: torch.Tensor) -> float:
        """RDDM's Eq. 4: the scale that gives the latents of training images ``(B, 3, H, W)`` unit
        standard deviation (SD's 0.18215 was fitted to SD's own VAE, not to one retrained on linear
        images)."""
        z = torch.cat([self.vae.encode(2 * x - 1).latent_dist.mode() for x in linear.split(8)])
        self.latent_scale.fill_(1.0 / float(z.std()))
        return float(self.latent_scale)

    def refine(self, z: torch.Tensor) -> torch.Tensor:
        t = torch.full((len(z),), self.timestep, dtype=torch.long)
        if isinstance(self.unet, UNet2DConditionModel):
            eps = self.unet(z, t, encoder_hidden_states=self.prompt.expand(len(z), -1, -1)).sample
        else:
            eps = self.unet(z, t).sample
        return (z - math.sqrt(1 - self.alpha_bar) * eps) / math.sqrt(self.alpha_bar)

    def forward(self, mosaic: torch.Tensor, planes: torch.Tensor | None = None) -> torch.Tensor:
        """``planes``: the CFA's colour masks ``(3, H, W)`` to spread the mosaic over; None repeats it."""
        x3 = mosaic.expand(-1, 3, -1, -1) if planes is None else mosaic * planes
        return self.decode(self.refine(self.encode(x3)))

    def autoencode(self, linear: torch.Tensor) -> torch.Tensor:
        """The RVAE pre-training path: linear -> latent -> linear, no diffusion step."""
        return self.decode(self.encode(linear))
