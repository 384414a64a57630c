"""The RAWMamba network (Fig. 2): UME -> multi-scale search -> aggregation -> LTA-Mamba -> 3-D decoder.

One network for images and video. The input is a clip ``x (B, T, 3, H, W)`` of sRGB frames and one
metadata pair per clip, ``(x'_srgb, x'_raw)``, with a mask of the stored positions:
- image (Eq. 7): ``T = 1``, the sRGB and RAW at the sampled pixels (zero elsewhere), mask = samples;
- video (Eq. 6): the first frame's sRGB and RAW, mask = everywhere, and the optical flow from each
  frame to it, which moves LEB's reference points and position encodings.

Three ConvNeXt encoders (f1, f2, f3 of Eq. 8) give features at 1/4, 1/8 and 1/16; at each scale UME
embeds the metadata and a channel-wise transformer block (the search block) lets the sRGB features
read it; Eq. (13) sums the scales at 1/4, where the LTA-Mamba modules scan the (T, H/4, W/4) grid;
the decoder's 3-D convolutions upsample to full resolution. Its last layers also see, at full
resolution, the frame's sRGB and the metadata moved onto the frame (the stored samples and their
mask for images; the first frame's RAW and sRGB warped by the flow for video, as RVD warps the
previous RAW): at 1/4 resolution the features cannot carry every pixel's value.

With ``base`` (our addition, not the paper's), a classical colour fit of the metadata (global-fit:
inverse tone curves and a 3x3 matrix) gives a first camera-RGB estimate of every frame and of the
reference. The RAW encoder then reads the fit's residuals (``ref_raw - ref_base``); the head sees
them beside the moved reference RAW and the frame's base, and returns
``(1 - c) (base + residual) + c moved RAW``. For images ``c`` is the mask: a stored sample is the
truth. For video ``c`` is a learned per-pixel confidence in the warped first-frame RAW (RVD's
confidence fusion), starting at 1/2 beside a zero residual. A global colour model is what short
training learns last and a fit gets in closed form; the network spends its capacity on what a
global fit cannot do: local and temporal corrections, and where to trust the warped reference.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import LTAMamba
from .ume import MetadataEmbedding


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of ``(B, C, H, W)``."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt: depth-wise 7x7, LayerNorm, an inverted-bottleneck MLP, layer scale, residual."""

    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x):
        y = self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtEncoder(nn.Module):
    """ConvNeXt (Liu et al., 2022) of ``len(dims)`` stages: a 4x4 stride-4 stem, then 2x2 stride-2
    downsampling between stages. Returns every stage's output (1/4, 1/8, ...)."""

    def __init__(self, in_channels: int, dims, depths):
        super().__init__()
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(in_channels, dims[0], 4, stride=4), LayerNorm2d(dims[0]))])
        for a, b in zip(dims[:-1], dims[1:]):
            self.down.append(nn.Sequential(LayerNorm2d(a), nn.Conv2d(a, b, 2, stride=2)))
        self.stages = nn.ModuleList(nn.Sequential(*(ConvNeXtBlock(d) for _ in range(n))) for d, n in zip(dims, depths))

    def forward(self, x):
        out = []
        for down, stage in zip(self.down, self.stages):
            x = stage(down(x))
            out.append(x)
        return out


_TIMM_BLOCK = {"dw": "conv_dw", "norm": "norm", "mlp.0": "mlp.fc1", "mlp.2": "mlp.fc2"}


def timm_convnext_names(encoder: ConvNeXtEncoder) -> dict[str, str]:
    """Our parameter names -> timm's ConvNeXt names (``stem``, ``stages.i.downsample``,
    ``stages.i.blocks.j.{conv_dw, norm, mlp.fc1, mlp.fc2, gamma}``)."""
    names = {}
    for key in encoder.state_dict():
        part = key.split(".")
        if part[0] == "down":
            i, j, leaf = int(part[1]), part[2], ".".join(part[3:])
            names[key] = (f"stem.{j}." if i == 0 else f"stages.{i}.downsample.{j}.") + leaf
        else:
            _, i, j, *rest = part
            inner = "gamma" if rest == ["gamma"] else f"{_TIMM_BLOCK['.'.join(rest[:-1])]}.{rest[-1]}"
            names[key] = f"stages.{i}.blocks.{j}.{inner}"
    return names


def load_convnext(encoder: ConvNeXtEncoder, path) -> int:
    """Copy ImageNet ConvNeXt weights (timm's names: ``.safetensors``, ``.pth`` or ``.bin``, read
    from a local file) into ``encoder``'s stages; a stem with more input channels than the file's
    three gets zeros for the extra ones (the mask). Returns the number of tensors copied."""
    from pathlib import Path

    path = Path(path).expanduser()
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    own = encoder.state_dict()
    copied = 0
    for ours, theirs in timm_convnext_names(encoder).items():
        if theirs not in state:
            continue
        w = state[theirs]
        if ours == "down.0.0.weight" and w.shape[1] < own[ours].shape[1]:
            w = torch.cat([w, w.new_zeros(w.shape[0], own[ours].shape[1] - w.shape[1], *w.shape[2:])], 1)
        if w.shape != own[ours].shape:
            raise ValueError(f"{path}: {theirs} has shape {tuple(w.shape)}, the encoder's {ours} {tuple(own[ours].shape)}")
        own[ours] = w
        copied += 1
    if copied == 0:
        raise ValueError(f"{path}: no ConvNeXt tensors with timm's names (e.g. stem.0.weight) found")
    encoder.load_state_dict(own)
    return copied


class SearchBlock(nn.Module):
    """The search block: a channel-wise (transposed, Restormer MDTA) transformer block in which the
    sRGB features query the metadata embedding, then a gated depth-wise feed-forward (GDFN)."""

    def __init__(self, dim: int, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.norm_q, self.norm_kv, self.norm_ff = LayerNorm2d(dim), LayerNorm2d(dim), LayerNorm2d(dim)
        self.q = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim))
        self.kv = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1), nn.Conv2d(2 * dim, 2 * dim, 3, padding=1, groups=2 * dim))
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Conv2d(dim, dim, 1)
        hidden = 2 * dim
        self.ff_in = nn.Sequential(nn.Conv2d(dim, 2 * hidden, 1), nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden))
        self.ff_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, f, e):
        b, c, h, w = f.shape
        q = self.q(self.norm_q(f)).view(b, self.heads, c // self.heads, h * w)
        k, v = (t.reshape(b, self.heads, c // self.heads, h * w) for t in self.kv(self.norm_kv(e)).chunk(2, dim=1))
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2)) * self.temperature  # (B, heads, c, c)
        f = f + self.proj((attn.softmax(dim=-1) @ v).view(b, c, h, w))
        a, g = self.ff_in(self.norm_ff(f)).chunk(2, dim=1)
        return f + self.ff_out(F.gelu(a) * g)


class RAWMambaNet(nn.Module):
    def __init__(self, dims=(32, 64, 96), depths=(1, 1, 1), modules: int = 3, heads: int = 4, points: int = 4,
                 d_state: int = 16, geb: bool = True, leb: bool = True, local: bool = True, global_: bool = True,
                 base: bool = False):
        super().__init__()
        self.base = base
        self.f1 = ConvNeXtEncoder(3, dims, depths)
        self.f2 = ConvNeXtEncoder(4, dims, depths)  # reference sRGB + mask
        self.f3 = ConvNeXtEncoder(4, dims, depths)  # reference RAW + mask
        self.ume = nn.ModuleList(MetadataEmbedding(d, heads, points, geb, leb) for d in dims)
        self.search = nn.ModuleList(SearchBlock(d, max(1, heads // 2)) for d in dims)
        self.lift = nn.ModuleList(nn.Conv2d(d, dims[0], 1) for d in dims)
        self.fuse = nn.Conv2d(dims[0], dims[0], 3, padding=1)  # Eq. (13)'s Conv
        dim = dims[0]
        self.lta = nn.ModuleList(LTAMamba(dim, local, global_, d_state) for _ in range(modules))
        self.refine = nn.ModuleList(nn.Conv3d(dim, dim, 3, padding=1) for _ in range(modules))
        half, quarter = max(8, dim // 2), max(8, dim // 4)
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=False), nn.Conv3d(dim, half, 3, padding=1), nn.GELU(),
            nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=False), nn.Conv3d(half, quarter, 3, padding=1), nn.GELU())
        # the head also sees, at full resolution, the frame's sRGB and the metadata moved onto it
        # (reference RAW, reference sRGB, mask; warped by the flow in video); with a base, also the
        # reference's residuals and the frame's base, and a fourth output is the logit of the
        # video's confidence in the warped RAW. Zero weights: a zero residual and c = 1/2 to start.
        self.head = nn.Sequential(nn.Conv3d(quarter + 10 + 6 * base, quarter, 3, padding=1), nn.GELU(),
                                  nn.Conv3d(quarter, 3 + base, 3, padding=1))
        if base:
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)
        self.factor = 2 ** (len(dims) + 1)

    def forward(self, x, ref_srgb, ref_raw, mask=None, flow=None, base=None, ref_base=None):
        """``x (B, T, 3, H, W)``; ``ref_* (B, 3, H, W)``; ``mask (B, 1, H, W)`` (None: all stored);
        ``flow (B, T, 2, H, W)`` from each frame to the reference, pixels (x, y) (None: aligned);
        with ``self.base``: ``base (B, T, 3, H, W)`` and ``ref_base (B, 3, H, W)``, the fit's
        estimates of the frames and of the reference. H and W divide by ``self.factor``. Returns
        the camera RGB ``(B, T, 3, H, W)``."""
        b, t, _, h, w = x.shape
        if h % self.factor or w % self.factor:
            raise ValueError(f"RAWMambaNet: height and width must divide by {self.factor}, got {h}x{w}")
        if self.base:
            if base is None or ref_base is None:
                raise ValueError("RAWMambaNet: a network built with base=True needs base and ref_base")
            resid = ref_raw - ref_base
        if mask is None:
            mask = torch.ones(b, 1, h, w, dtype=x.dtype, device=x.device)
        mask = mask.to(x.dtype)
        fx = self.f1(x.flatten(0, 1))
        fs = self.f2(torch.cat([ref_srgb * mask, mask], 1))
        fr = self.f3(torch.cat([(resid if self.base else ref_raw) * mask, mask], 1))
        total = 0
        for i, (q, ks, vs) in enumerate(zip(fx, fs, fr)):
            hs, ws = q.shape[-2:]
            scale = h // hs
            valid = F.max_pool2d(mask, scale) > 0  # (B, 1, hs, ws): cells holding a stored pixel
            ks, vs, valid = (z.repeat_interleave(t, 0) for z in (ks, vs, valid))
            f = None
            if flow is not None:
                f = F.avg_pool2d(flow.flatten(0, 1), scale) / scale
            e = self.ume[i](q, ks, vs, valid[:, 0], f)
            s = self.search[i](q, e)
            total = total + F.interpolate(self.lift[i](s), size=fx[0].shape[-2:], mode="bilinear", align_corners=False)
        feat = self.fuse(total)
        feat = feat.view(b, t, *feat.shape[1:]).transpose(1, 2)  # (B, C, T, h, w)
        for lta, conv in zip(self.lta, self.refine):
            feat = conv(lta(feat))
        meta = torch.cat([ref_raw * mask, ref_srgb * mask, mask, *([resid * mask] if self.base else [])], 1)
        meta = meta.repeat_interleave(t, 0) if flow is None else warp(meta.repeat_interleave(t, 0), flow.flatten(0, 1))
        meta = meta.view(b, t, *meta.shape[1:]).transpose(1, 2)
        if not self.base:
            return self.head(torch.cat([self.up(feat), x.transpose(1, 2), meta], 1)).transpose(1, 2)
        base = base.transpose(1, 2)  # (B, 3, T, H, W)
        out = self.head(torch.cat([self.up(feat), x.transpose(1, 2), meta, base], 1))
        confidence = meta[:, 6:7] if flow is None else torch.sigmoid(out[:, 3:])  # images: the mask
        return (base + out[:, :3] + confidence * (meta[:, :3] - base - out[:, :3])).transpose(1, 2)


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``img (B, C, H, W)`` read at p + flow(p) (``flow (B, 2, H, W)``, pixels (x, y)), bilinear."""
    b, _, h, w = img.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=img.dtype, device=img.device),
                            torch.arange(w, dtype=img.dtype, device=img.device), indexing="ij")
    gx = (xx + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    gy = (yy + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    return F.grid_sample(img, torch.stack([gx, gy], -1), align_corners=True, padding_mode="border")


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def pad_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Reflect-pad the last two axes to multiples of ``factor``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if not (ph or pw):
        return x
    shape = x.shape
    y = F.pad(x.reshape(-1, *shape[-3:]), (0, pw, 0, ph), mode="replicate")
    return y.view(*shape[:-2], h + ph, w + pw)

