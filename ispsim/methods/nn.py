"""Shared network blocks: plain ``nn.Module``s with plain constructor arguments."""

from __future__ import annotations

import math

import torch
from torch import nn


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015): ``len(widths)`` poolings, two 3x3 conv + BN + ReLU per
    block, transposed-convolution upsampling. Input sides must divide by ``2 ** len(widths)``."""

    def __init__(self, in_channels: int, out_channels: int, widths=(32, 64, 128, 256), bottleneck: int = 512):
        super().__init__()
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths:
            self.down.append(double_conv(c, w))
            c = w
        self.pool = nn.MaxPool2d(2)
        self.middle = double_conv(c, bottleneck)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        c = bottleneck
        for w in reversed(widths):
            self.up.append(nn.ConvTranspose2d(c, w, 2, stride=2))
            self.merge.append(double_conv(2 * w, w))
            c = w
        self.head = nn.Conv2d(c, out_channels, 1)
        self.levels = len(widths)

    def forward(self, x):
        factor = 2 ** self.levels
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"UNet: height and width must divide by {factor}, got {tuple(x.shape[-2:])}")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.middle(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def pad_to(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Replicate-pad the bottom and right so that height and width divide by ``factor``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    return nn.functional.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def tiled(fn, x: torch.Tensor, tile: int, stride: int, *, batch: int = 16) -> torch.Tensor:
    """``fn`` over overlapping ``tile`` x ``tile`` windows of ``x`` (1, C, H, W), blended with weights
    that ramp linearly across each overlap. Windows start at multiples of ``stride`` (the last one
    flush with the border), so an even ``tile`` and ``stride`` keep a mosaic's Bayer phase. Used to run
    a network at the size it was trained on: GroupNorm's statistics over a whole image are not those
    of the training crops."""
    if tile % 2 or stride % 2 or not 0 < stride <= tile:
        raise ValueError(f"tiled: tile and stride must be even with 0 < stride <= tile, got {tile}, {stride}")
    h, w = x.shape[-2:]
    if h < tile or w < tile or h % 2 or w % 2:
        raise ValueError(f"tiled: the image ({h} x {w}) must be at least one tile ({tile}) and of even sides")

    def starts(n):
        s = list(range(0, n - tile + 1, stride))
        return s + [n - tile] if s[-1] + tile < n else s

    ramp = torch.minimum(torch.arange(tile) + 0.5, tile - torch.arange(tile) - 0.5)
    ramp = (ramp / (tile - stride)).clamp(max=1.0) if stride < tile else torch.ones(tile)
    weight = ramp[:, None] * ramp[None, :]
    windows = [(y, z) for y in starts(h) for z in starts(w)]
    out, total = None, torch.zeros(h, w)
    for i in range(0, len(windows), batch):
        part = windows[i:i + batch]
        y = fn(torch.cat([x[..., a:a + tile, b:b + tile] for a, b in part]))
        if out is None:
            out = torch.zeros(1, y.shape[1], h, w, dtype=y.dtype)
        for (a, b), t in zip(part, y):
            out[0, :, a:a + tile, b:b + tile] += t * weight
            total[a:a + tile, b:b + tile] += weight
    return out / total


def _gaussian_taps(sigma: float, truncate: float, dtype) -> torch.Tensor:
    r = int(truncate * sigma + 0.5)
    x = torch.arange(-r, r + 1, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Differentiable SSIM of ``(B, C, H, W)`` batches, defined as :mod:`ispsim.bench.metrics` defines
    it (Gaussian sigma 1.5, 11 taps, valid region only, mean over pixels then channels then batch)."""
    from ..bench.metrics import SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_TRUNCATE

    c = x.shape[1]
    g = _gaussian_taps(SSIM_SIGMA, SSIM_TRUNCATE, x.dtype).to(x.device)
    gy, gx = g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), g.view(1, 1, 1, -1).repeat(c, 1, 1, 1)

    def f(t):
        return nn.functional.conv2d(nn.functional.conv2d(t, gy, groups=c), gx, groups=c)

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ux, uy = f(x), f(y)
    vx, vy, vxy = f(x * x) - ux * ux, f(y * y) - uy * uy, f(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(-2, -1)).mean()


def random_windows(count: int, size: tuple[int, int], n: int, patch: int, g: torch.Generator, *, multiple: int = 1,
                   step: int = 1):
    """``n`` random windows over ``count`` items of ``size`` (H, W): the side is ``patch`` (at most
    the image) rounded down to ``multiple``, offsets are multiples of ``step`` (2 keeps a mosaic's
    Bayer phase). Returns ``(crop, idx)``: ``crop(t)`` stacks ``t[i, ..., window]``."""
    h, w = size
    p = min(patch, h, w) // multiple * multiple
    idx = torch.randint(count, (n,), generator=g)
    ys = torch.randint((h - p) // step + 1, (n,), generator=g) * step
    xs = torch.randint((w - p) // step + 1, (n,), generator=g) * step
    return (lambda t: torch.stack([t[i, ..., y:y + p, x:x + p] for i, y, x in zip(idx, ys, xs)])), idx


def threads(n: int):
    """Torch intra-op threads for training (0: leave as is)."""
    if n > 0:
        torch.set_num_threads(n)


def map_on_cores(fn, items: list, workers: int = 0) -> list:
    """``[fn(x) for x in items]`` with the items spread over ``workers`` threads (0: torch's
    thread count), each running its torch ops on one thread. For many small independent networks (INF's tiles)
    whole items per core beat splitting each small op across cores: the ops are too small to
    share well and the Python between them runs meanwhile. Every op here gives the same bits on
    one thread as on many (tested), so the result does not depend on the core count."""
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(items), workers or torch.get_num_threads())
    if workers <= 1:
        return [fn(x) for x in items]
    before = torch.get_num_threads()

    def one(x):
        torch.set_num_threads(1)  # an OpenMP thread count is per calling thread
        return fn(x)

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, items))
    finally:
        torch.set_num_threads(before)


def lr_schedule(opt, steps: int, warmup: int = 0):
    """Cosine decay to 0 over ``steps``; ``warmup`` > 0 multiplies a linear ramp over its first
    steps (diffusers' cosine-with-warmup). Measured on RDDM's cpu profile (AdamW at 1e-3, a UNet
    with attention from scratch): without it the score hung on the random draw."""
    if warmup > 0:
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda k: min(1.0, (k + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * k / steps)))
    # Without warmup, torch's own: the weights every method shipped before warmup existed stay byte for byte.
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)


def validation_psnr(net, predict, target: torch.Tensor):
    """A ``validate()`` for ``train_loop``: the mean over images of the PSNR (peak 1) of
    ``predict(net)`` clipped to [0, 1] against ``target``, the network in eval mode meanwhile
    (each module's mode restored after: a frozen part may be in eval mode already)."""

    def validate() -> float:
        modes = [(m, m.training) for m in net.modules()]
        net.eval()
        with torch.no_grad():
            pred = predict(net).clamp(0, 1)
        for m, mode in modes:
            m.train(mode)
        mse = ((pred - target) ** 2).flatten(1).mean(1).clamp(min=1e-12)
        return float((10 * torch.log10(1 / mse)).mean())

    return validate


def train_loop(params, step_loss, s: dict, progress: bool, desc: str, steps: int | None = None,
               lr: float | None = None, warmup: int = 0, validate=None, every: int = 0,
               curve: list | None = None) -> float:
    """AdamW with cosine decay over ``steps`` calls of ``step_loss(g)`` (which draws its own batch
    from the seeded generator ``g`` and returns the loss); returns the last loss. ``warmup`` > 0:
    the learning rate first ramps linearly over that many steps (diffusers' cosine-with-warmup).
    ``validate()`` (a validation PSNR, no random draws) runs every ``every`` steps and after the
    last; ``curve`` collects ``[step, value]``: the learning curve a model card carries."""
    from tqdm import tqdm

    threads(s["threads"])
    steps = steps or s["steps"]
    g = torch.Generator().manual_seed(s["seed"])
    torch.manual_seed(s["seed"])
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr or s["lr"])
    sched = lr_schedule(opt, steps, warmup)
    loss = torch.tensor(float("nan"))
    for k in tqdm(range(steps), desc=desc, unit="step", disable=not progress):
        opt.zero_grad()
        loss = step_loss(g)
        if loss.requires_grad:  # a step_loss may have run backward itself (per-group sub-batches)
            loss.backward()
        opt.step()
        sched.step()
        if validate is not None and curve is not None and ((every and (k + 1) % every == 0) or k + 1 == steps):
            curve.append([k + 1, round(float(validate()), 4)])
    return float(loss.detach())
