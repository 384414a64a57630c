"""RDDM as an ispsim method (restoration track).

Training follows the paper's strategy in two stages, on the store's training split:
1. RVAE pre-training on linear images: encoder and decoder learn linear -> latent -> linear
   (L1 on the linear image + L1 after the PTP, + LPIPS when its weights are present). Cached per
   (recipe, stage-one settings), so the ablation variants share it.
2. The decoder is frozen; CMB-LoRA groups are added to the RVAE encoder and the UNet, and the
   model learns sensor mosaic -> linear image through the one-step diffusion network with the
   dual-domain loss (MSE on the linear image + MSE after the PTP). Each sample's Bayer order picks
   its LoRA group: a batch is split by order and each part runs with its own group.

The paper starts from Stable Diffusion 2.1 (``paper`` profile: ``sd_path``) and trains only the
LoRA weights. Without those weights (``quick`` / ``cpu``) the RVAE and the UNet are small
networks trained from scratch, and the UNet's base weights train too (``train_unet_base``): there
is no pretrained prior for LoRA alone to adapt. The paper's VSD and GAN losses are left out.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import warnings

import numpy as np
import torch
from torch.nn import functional as F

from ...errors import ConfigError
from ..base import MethodInfo, Reference
from ..checkpoints import cache_dir, load_checkpoint, save_checkpoint
from ..nn import tiled, train_loop
from ..restoration import VALIDATE_EVERY, Pairs, RestorationModel, dual_loss, post_tone, validation_curve

STAGE_ONE = ("vae_widths", "vae_attention", "latent", "layers", "rvae_steps", "rvae_lr", "patch", "batch", "rvae_srgb_weight", "kl_weight",
             "lpips_weight", "seed", "sd_path")


class RDDM(RestorationModel):
    info = MethodInfo("rddm", ("restoration",), "RAW-domain one-step diffusion: RVAE + CMB-LoRA + PTP dual-domain loss",
                      trainable=True, paper="RDDM, 2025", extra="rddm")
    settings_file = "rddm"
    defaults = {
        "vae_widths": [128, 256, 512, 512], "vae_attention": True, "latent": 4, "layers": 2, "unet_widths": [320, 640, 1280, 1280],
        "timestep": 999, "rank": 4, "lora": "cmb", "train_unet_base": False, "train_encoder_base": False, "sd_path": "",
        "latent_scale": 0.0, "rvae_steps": 20000, "rvae_lr": 1e-4, "rvae_srgb_weight": 1.0, "kl_weight": 1e-6, "lpips_weight": 0.0,
        "steps": 150000, "lr": 5e-5, "warmup": 0, "patch": 128, "batch": 16, "srgb_weight": 1.0, "seed": 0, "threads": 0,
        "tile": 0, "encoder_input": "cfa",
    }
    inference_only = ("tile",)
    # The values these had before they were settings: SD's scaling factor (AutoencoderKL's config); no
    # warmup; the mosaic repeated in the encoder's three channels.
    legacy_settings = {"latent_scale": 0.18215, "warmup": 0, "encoder_input": "repeat"}
    overrides: dict = {}
    version = 3  # 2: GroupNorm with >= 4 channels a group; 3: the KL term on LDM's scale (both in the stage-one cache key too)

    def __init__(self, settings=None, profile="quick"):
        settings = {**(settings or {}), **self.overrides}
        if settings.get("lora", "cmb") not in ("cmb", "shared"):
            raise ConfigError(f"rddm: lora: expected 'cmb' or 'shared', got {settings['lora']!r}")
        scale = settings.get("latent_scale", 0.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale < 0:
            raise ConfigError(f"rddm: latent_scale: expected 0 (fit it: the paper's Eq. 4) or a positive scale, got {scale!r}")
        if settings.get("encoder_input", "cfa") not in ("cfa", "repeat"):
            raise ConfigError(f"rddm: encoder_input: expected 'cfa' (the mosaic in its colours' planes) or 'repeat', "
                              f"got {settings['encoder_input']!r}")
        warmup = settings.get("warmup", 0)
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"rddm: warmup: expected a number of steps >= 0, got {warmup!r}")
        super().__init__(settings, profile)

    # -- networks ---------------------------------------------------------------------------
    def groups(self):
        from .model import BAYER, SHARED

        return BAYER if self.settings["lora"] == "cmb" else (SHARED,)

    def group_of(self, bayer: str) -> str:
        return bayer if self.settings["lora"] == "cmb" else "shared"

    def _base(self):
        from .model import RDDMNet, build_rvae, build_unet, load_stable_diffusion

        s = self.settings
        if s["sd_path"]:
            vae, unet, prompt = load_stable_diffusion(s["sd_path"])
            return RDDMNet(vae, unet, s["timestep"], prompt)
        return RDDMNet(build_rvae(s["vae_widths"], s["latent"], s["layers"], s["vae_attention"]),
                       build_unet(s["unet_widths"], s["latent"], s["layers"]), s["timestep"])

    def _adapt(self, net):
        """Add the LoRA groups; only they (and, from scratch, the UNet's and the encoder's bases) train."""
        from .model import add_lora

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            add_lora(net.vae.encoder, self.groups(), self.settings["rank"])
            add_lora(net.unet, self.groups(), self.settings["rank"])
        s = self.settings
        base = (("unet.",) if s["train_unet_base"] else ()) + (("vae.encoder.", "vae.quant_conv.") if s["train_encoder_base"] else ())
        for name, p in net.named_parameters():
            p.requires_grad_("lora_" in name or name.startswith(base))
        return net

    def _net(self):
        return self._adapt(self._base())

    def run(self, net, mosaic: torch.Tensor, bayer, group: str | None = None) -> torch.Tensor:
        """Each sample through its own LoRA group (a batch is split by group; with the CFA's planes
        as the encoder's input, by Bayer order too, which the all-in-one group serves all four of).
        ``group``: one group for every sample instead (to see what the per-order groups learnt)."""
        if group is not None and group not in self.groups():
            raise ConfigError(f"{self.info.name}: no LoRA group {group!r}; it has {', '.join(self.groups())}")
        from ...stages.cfa import masks
        from .model import set_group

        h, w = mosaic.shape[-2:]
        cfa = self.settings["encoder_input"] == "cfa"
        out = torch.empty(len(mosaic), 3, h, w)
        parts = [b if cfa else self.group_of(b) for b in bayer]
        for part in dict.fromkeys(parts):
            idx = [k for k, p in enumerate(parts) if p == part]
            group_here = group or self.group_of(bayer[idx[0]])
            set_group(net.vae.encoder, group_here)
            set_group(net.unet, group_here)
            out[idx] = net(mosaic[idx], torch.from_numpy(masks(part, h, w)).to(mosaic.dtype) if cfa else None)
        return out

    # -- training ---------------------------------------------------------------------------
    def _stage_one_path(self, store):
        key = json.dumps({**{k: self.settings[k] for k in STAGE_ONE}, "version": self.version}, sort_keys=True)
        return cache_dir() / f"rddm-rvae-{store.recipe.digest()}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.pt"

    def pretrain_rvae(self, net, pairs, store, progress) -> tuple[float | None, dict | None]:
        """Stage one: the RVAE learns linear -> latent -> linear (cached). Returns its final loss
        (None when loaded) and, when loaded, what the budget must say of it (``cached_stage``)."""
        path = self._stage_one_path(store)
        steps = self.settings["rvae_steps"]
        if path.exists():
            try:
                state, card = load_checkpoint(path)
                net.vae.load_state_dict(state)
                seconds = card.get("train_seconds")
                return None, {"seconds": seconds, "note": (
                    f"stage one ({steps} RVAE steps) read from the cache of an earlier run on the same data, "
                    + (f"its {seconds / 60:.1f} min included" if seconds else "its time not recorded: stage two alone"))}
            except ConfigError as e:  # a cache entry without its card, or altered: never read as whole
                print(f"rddm: the cached stage one is unusable ({e}); training it again", file=sys.stderr)
        s = self.settings
        lpips = _lpips(s["lpips_weight"])
        params = list(net.vae.parameters())
        for p in params:
            p.requires_grad_(True)

        def step(g):
            b = pairs.batch(s["batch"], s["patch"], g)
            x = b["linear"]
            posterior = net.vae.encode(2 * x - 1).latent_dist
            y = (net.vae.decode(posterior.sample(generator=g)).sample + 1) / 2
            a, c = post_tone(y, b["records"]), post_tone(x, b["records"])
            # kl_weight is on LDM's scale, where the reconstruction term is a sum over the image's
            # values: against our mean, the KL sum is divided by their count. Against the mean
            # undivided, 1e-6 pushed most latent channels to the prior (posterior std ~1) and left
            # the decoder a noisy latent: 38.8 dB autoencoding at full resolution.
            kl = posterior.kl().mean() / x[0].numel()
            loss = F.l1_loss(y, x) + s["rvae_srgb_weight"] * F.l1_loss(a, c) + s["kl_weight"] * kl
            if lpips is not None:
                loss = loss + s["lpips_weight"] * lpips(a, c).mean()
            return loss

        net.vae.train()
        start = time.perf_counter()
        loss = train_loop(params, step, s, progress, "rddm stage one (RVAE)", s["rvae_steps"], s["rvae_lr"])
        net.vae.eval()
        save_checkpoint(net.vae.state_dict(), path, {"method": "rddm stage one (RVAE)", "settings": self.settings,
                                                     "recipe_digest": store.recipe.digest(), "final_loss": loss,
                                                     "train_seconds": round(time.perf_counter() - start, 1)})
        return loss, None

    def set_latent_scale(self, net, pairs) -> float:
        """The latent scale the UNet works at: given, or (0) fitted to 64 seeded training crops (Eq. 4)."""
        s = self.settings
        if s["latent_scale"] > 0:
            net.latent_scale.fill_(float(s["latent_scale"]))
            return float(s["latent_scale"])
        return net.fit_latent_scale(pairs.batch(64, s["patch"], torch.Generator().manual_seed(s["seed"]))["linear"])

    def _train(self, camera, store, path, progress):
        s = self.settings
        pairs = Pairs(store)
        torch.manual_seed(s["seed"])  # the initial weights too: same seed, same bytes
        net = self._base()
        rvae_loss, cached_stage = self.pretrain_rvae(net, pairs, store, progress)
        latent_scale = self.set_latent_scale(net, pairs)
        torch.manual_seed(s["seed"] + 1)  # LoRA's initial weights: the same whether stage one ran or loaded
        net = self._adapt(net)
        params = [p for p in net.parameters() if p.requires_grad]  # before groups toggle requires_grad

        lpips = _lpips(s["lpips_weight"])

        def step(g):
            b = pairs.batch(s["batch"], s["patch"], g)
            total = 0.0
            groups = [self.group_of(x) for x in b["bayer"]]
            for group in dict.fromkeys(groups):
                idx = [k for k, x in enumerate(groups) if x == group]
                pred = self.run(net, b["lq"][idx], [b["bayer"][k] for k in idx])
                records = [b["records"][k] for k in idx]
                loss = dual_loss(pred, b["linear"][idx], records, s["srgb_weight"])
                if lpips is not None:
                    loss = loss + s["lpips_weight"] * lpips(post_tone(pred, records), post_tone(b["linear"][idx], records)).mean()
                (loss * len(idx) / len(groups)).backward()
                total += float(loss.detach()) * len(idx) / len(groups)
            return torch.tensor(total)

        net.train()
        net.vae.decoder.eval()
        lora = "CMB-LoRA" if s["lora"] == "cmb" else "one shared LoRA"
        validate, curve, metric = validation_curve(
            net, store, lambda n, v: torch.cat([self._predict(n, v.lq[k:k + 1], v.bayer[k]) for k in range(len(v))]))
        loss = train_loop(params, step, s, progress, f"{self.info.name} stage two ({lora})", warmup=s["warmup"],
                          validate=validate, every=VALIDATE_EVERY, curve=curve)
        net.eval()
        card = self._card(store, camera, final_loss=loss, rvae_loss=rvae_loss, latent_scale=latent_scale, lpips_term=lpips is not None,
                          curve=curve, curve_metric=metric, **({"cached_stage": cached_stage} if cached_stage else {}),
                          note="quick/cpu: small RVAE and UNet trained from scratch (no Stable Diffusion weights); "
                               "no VSD or GAN loss" if not s["sd_path"] else "Stable Diffusion 2.1 from " + s["sd_path"])
        save_checkpoint(net.state_dict(), path, card)  # small models from scratch ship whole
        self.models[camera] = net

    def _load(self, camera, state):
        net = self._net()
        if "latent_scale" not in state and self.settings["latent_scale"] > 0:  # made before the scale was saved
            state = {**state, "latent_scale": torch.tensor(float(self.settings["latent_scale"]))}
        missing = set(net.state_dict()) - set(state)
        if missing:
            raise ConfigError(f"{self.info.name}: checkpoint lacks {len(missing)} tensors (e.g. {sorted(missing)[0]}); "
                              "it was made with other settings")
        net.load_state_dict(state)
        self.models[camera] = net.eval()

    def reconstruct(self, inputs, reference: Reference):
        """``tile`` > 0: the network runs on overlapping tiles of that size (half overlapping,
        blended), the crop size it trained on; 0: on the whole image. ``inputs["lora_group"]``, when
        given, runs the image through that LoRA group instead of its Bayer order's."""
        lq = torch.from_numpy(np.asarray(inputs["lq_raw"], np.float32))[None]
        with torch.no_grad():
            return self._predict(self._model(), lq, inputs["bayer"], inputs.get("lora_group"))[0].numpy()

    def _predict(self, net, lq: torch.Tensor, bayer: str, group: str | None = None) -> torch.Tensor:
        """One mosaic ``(1, 1, H, W)`` -> ``(1, 3, H, W)``, on tiles where ``tile`` asks."""
        h, w = lq.shape[-2:]
        tile, f = int(self.settings["tile"]), max(2, net.downsampling())  # multiples of 2 keep the Bayer phase
        if tile % f:
            raise ConfigError(f"{self.info.name}: tile = {tile} must divide by the network's downsampling ({f})")
        if tile and min(h, w) >= tile and not (h % 2 or w % 2):
            return tiled(lambda x: self.run(net, x, [bayer] * len(x), group), lq, tile, tile // 2)
        out = self.run(net, F.pad(lq, (0, (-w) % f, 0, (-h) % f), mode="reflect"), [bayer], group)
        return out[:, :, :h, :w]


def _lpips(weight: float):
    """The LPIPS loss term's network when ``weight`` > 0 and its weights are on disk, else None
    (and the run says that it trains without the term)."""
    if weight <= 0:
        return None
    from ...bench.lpips import load_lpips

    model, note = load_lpips()
    if model is None:
        print(f"rddm: training without the LPIPS loss term: {note}", file=sys.stderr)
        return None
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class RDDMAllInOne(RDDM):
    info = MethodInfo("rddm-allinone", ("restoration",), "RDDM ablation: one LoRA shared by all Bayer orders",
                      trainable=True, experimental=True, paper="RDDM, 2025, Table 7", extra="rddm")
    overrides = {"lora": "shared"}


class RDDMRawLoss(RDDM):
    info = MethodInfo("rddm-rawloss", ("restoration",), "RDDM ablation: RAW-domain loss only (no PTP sRGB term)",
                      trainable=True, experimental=True, paper="RDDM, 2025, Table 5", extra="rddm")
    overrides = {"srgb_weight": 0.0}
