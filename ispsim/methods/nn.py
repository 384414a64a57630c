"""Shared network blocks: plain ``nn.Module``s with plain constructor arguments."""

from __future__ import annotations

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
