"""PriorRAW's networks: the pixel-searching encoder, assembly through the affinity, and the
reconstructor (prior fusion, reliable attention, attention over the bank, U-Net with a fused
prior feature map). Shapes: images ``(B, 3, H, W)``; features ``(B, D, H/2, W/2)``; a bank is
``feat (K, D)``, ``srgb (K, 3)``, ``raw (K, 3)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nn import double_conv


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x):
        return F.relu(x + self.body(x))


class SearchEncoder(nn.Module):
    """ResNet-like and small (the similarity is a low-level feature), total downsampling 2.

    Features are unit vectors times ``sqrt(temperature)`` (learned): the affinity stays an inner
    product, as the paper's, but one that a large feature norm cannot win by itself, so the
    nearest pixels under inner product are the most similar ones, for k-means and for search.
    """

    def __init__(self, width: int = 32, dim: int = 32, blocks: int = 2, temperature: float = 30.0):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True), _Res(width),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            *[_Res(2 * width) for _ in range(blocks)], nn.Conv2d(2 * width, dim, 1),
        )

    def forward(self, srgb):
        if srgb.shape[-1] % 2 or srgb.shape[-2] % 2:
            raise ValueError(f"SearchEncoder: height and width must be even, got {tuple(srgb.shape[-2:])}")
        return F.normalize(self.net(srgb), dim=1) * (0.5 * self.log_temperature).exp()


def rows(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` -> ``(B h w, C)``: one row per pixel, the layout of the affinity."""
    return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


def half(x: torch.Tensor) -> torch.Tensor:
    """Images at the encoder's resolution: 2x2 means."""
    return F.avg_pool2d(x, 2)


def assemble(feat: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, chunk: int = 16384, topk: int = 0) -> torch.Tensor:
    """softmax(f_t . f_r^T) over the reference dimension, times the reference values.

    ``feat`` (B, D, h, w); ``keys`` (N, D); ``values`` (N, V) -> (B, V, h, w). Chunked over target
    pixels so that an image against a large bank fits in memory. ``topk`` > 0: the softmax runs over
    each pixel's ``topk`` largest affinities only (a bank's group means have flatter affinities
    than pixels, so the full softmax mixes distant entries).
    """
    b, _, h, w = feat.shape
    q = rows(feat)
    k = int(topk) if 0 < int(topk) < len(keys) else 0

    def part(a):
        if not k:
            return torch.softmax(a, dim=1) @ values
        top, idx = a.topk(k, dim=1)
        return torch.einsum("qk,qkv->qv", torch.softmax(top, dim=1), values[idx])

    out = torch.cat([part(q[i:i + chunk] @ keys.T) for i in range(0, len(q), chunk)])
    return out.reshape(b, h, w, -1).permute(0, 3, 1, 2)


class PriorUNet(nn.Module):
    """U-Net whose decoder also fuses the prior feature map at every level (resized, 1x1 conv).
    Returns logits."""

    def __init__(self, cin: int, prior: int, widths=(16, 32, 64, 128)):
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for wdt in widths[:-1]:
            self.down.append(double_conv(c, wdt))
            c = wdt
        self.middle = double_conv(c, widths[-1])
        c = widths[-1]
        self.up, self.merge, self.fuse = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for wdt in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(c, wdt, 2, stride=2))
            self.fuse.append(nn.Conv2d(prior, wdt, 1))
            self.merge.append(double_conv(3 * wdt, wdt))
            c = wdt
        self.head = nn.Conv2d(c, 3, 1)
        self.levels = len(widths) - 1

    def forward(self, x, prior):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.middle(x)
        for up, fuse, merge, skip in zip(self.up, self.fuse, self.merge, reversed(skips)):
            p = fuse(F.interpolate(prior, size=skip.shape[-2:], mode="bilinear", align_corners=False))
            x = merge(torch.cat([up(x), skip, p], dim=1))
        return self.head(x)


class Reconstructor(nn.Module):
    """sRGB + prior (assembled sRGB/RAW, the bank) -> RAW.

    ``prior_raw``: feed the assembled RAW and the distance map; ``reliable``: gate the prior
    features with a sigmoid confidence; ``bank_attention``: multi-head attention from the features
    (queries, at 1/``pool`` resolution) to the bank (keys: features, values: RAW). With all three
    off it is the sRGB-only U-Net of the paper's ablation. The sigmoid head adds the network's
    logits to the assembled RAW's, so an untrained network starts from the pixel search's answer
    instead of from grey (800 CPU steps did not recover it from scratch: 34.7 dB vs the assembled
    35.8 on Sony).
    """

    def __init__(self, dim: int, channels: int = 32, heads: int = 4, widths=(16, 32, 64, 128), pool: int = 4,
                 prior_raw: bool = True, reliable: bool = True, bank_attention: bool = True):
        super().__init__()
        self.prior_raw, self.reliable, self.bank_attention, self.pool = prior_raw, reliable, bank_attention, pool
        cin = 9 if prior_raw else 3
        self.fuse = nn.Sequential(nn.Conv2d(cin, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        if reliable:
            self.conf = nn.Conv2d(channels, channels, 3, padding=1)
        if bank_attention:
            self.key = nn.Linear(dim, channels)
            self.value = nn.Linear(3, channels)
            self.mha = nn.MultiheadAttention(channels, heads, batch_first=True)
            self.ffn = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        self.unet = PriorUNet(channels + 3, channels, widths)
        self.factor = 2 ** (len(widths) - 1)

    def forward(self, srgb, assembled_srgb=None, assembled_raw=None, bank=None):
        h, w = srgb.shape[-2:]
        if self.prior_raw:
            up = lambda t: F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)  # noqa: E731
            a_srgb, a_raw = up(assembled_srgb), up(assembled_raw)
            x = torch.cat([(a_srgb - srgb).abs(), srgb, a_raw], dim=1)
            base = torch.logit(a_raw.clamp(1e-4, 1 - 1e-4))
        else:
            x, base = srgb, 0.0
        f = self.fuse(x)
        if self.reliable:
            f = f * torch.sigmoid(self.conf(f))
        if self.bank_attention:
            q = F.avg_pool2d(f, self.pool)
            b, c, qh, qw = q.shape
            tokens = q.flatten(2).transpose(1, 2)
            k = self.key(bank["feat"]).expand(b, -1, -1)
            v = self.value(bank["raw"]).expand(b, -1, -1)
            a, _ = self.mha(tokens, k, v, need_weights=False)
            g = self.ffn(a + tokens).transpose(1, 2).reshape(b, c, qh, qw)
            f = f + F.interpolate(g, size=(h, w), mode="bilinear", align_corners=False)
        return torch.sigmoid(base + self.unet(torch.cat([f, srgb], dim=1), f))
