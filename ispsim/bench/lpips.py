"""LPIPS (Zhang et al. 2018, v0.1, AlexNet) as a plain module, with weights read from disk only.

Two files are needed: the ImageNet AlexNet backbone in torchvision's layout
(``alexnet-owt-7be5be79.pth``) and the LPIPS v0.1 linear heads (``alex.pth``, shipped inside the
``lpips`` package). They are looked up in ``$ISPSIM_LPIPS_DIR``, ``~/.cache/ispsim/lpips``,
torch hub's checkpoint cache and an installed ``lpips`` package; nothing is downloaded. Without
them :func:`load_lpips` says which file is missing and the leaderboard prints "LPIPS: no weights".
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

BACKBONE_FILE, HEADS_FILE = "alexnet-owt-7be5be79.pth", "alex.pth"
CHANNELS = (64, 192, 384, 256, 256)
TAPS = (1, 4, 7, 9, 11)  # outputs of relu1 .. relu5 in torchvision's AlexNet.features


def alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


class LPIPS(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = alexnet_features()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

    def _taps(self, x):
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, a, b):
        """Distance between sRGB batches ``(N, 3, H, W)`` in [0, 1]."""
        fa = self._taps((a * 2 - 1 - self.shift) / self.scale)
        fb = self._taps((b * 2 - 1 - self.shift) / self.scale)
        return sum(h((x - y) ** 2).mean(dim=(2, 3)) for h, x, y in zip(self.heads, fa, fb)).flatten()

    def load_files(self, backbone: Path, heads: Path) -> "LPIPS":
        feats = torch.load(backbone, map_location="cpu", weights_only=True)
        self.features.load_state_dict({k[len("features."):]: v for k, v in feats.items() if k.startswith("features.")})
        lin = torch.load(heads, map_location="cpu", weights_only=True)
        for i, h in enumerate(self.heads):
            h.weight.data.copy_(lin[f"lin{i}.model.1.weight"])
        return self.eval()


def search_dirs() -> list[Path]:
    dirs = [Path(os.environ["ISPSIM_LPIPS_DIR"])] if os.environ.get("ISPSIM_LPIPS_DIR") else []
    dirs += [Path.home() / ".cache" / "ispsim" / "lpips", Path(torch.hub.get_dir()) / "checkpoints"]
    spec = importlib.util.find_spec("lpips")
    if spec and spec.origin:
        dirs.append(Path(spec.origin).parent / "weights" / "v0.1")
    return dirs


def find(name: str) -> Path | None:
    return next((d / name for d in search_dirs() if (d / name).is_file()), None)


def load_lpips() -> tuple[LPIPS | None, str]:
    """(model, "") when both weight files are found, else (None, what is missing)."""
    backbone, heads = find(BACKBONE_FILE), find(HEADS_FILE)
    if backbone is None or heads is None:
        missing = [n for n, p in ((BACKBONE_FILE, backbone), (HEADS_FILE, heads)) if p is None]
        return None, f"LPIPS: no weights ({', '.join(missing)} not found in {', '.join(map(str, search_dirs()))})"
    return LPIPS().load_files(backbone, heads), ""
