import warnings

import numpy as np
import pytest
import torch

warnings.filterwarnings("ignore", module="colour")
torch.set_num_threads(2)

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def psnr(a, b, peak=1.0):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mse = np.mean((a - b) ** 2)
    return np.inf if mse == 0 else 10 * np.log10(peak**2 / mse)


def smooth_raw_rgb(h, w, gains, lo=0.05, hi=0.3):
    """Camera RGB with no clipping anywhere in the pipeline: a near-neutral smooth image."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = lo + (hi - lo) * (0.5 + 0.5 * np.sin(6 * xx + 3 * yy))
    tint = 1 + 0.1 * np.stack([np.sin(9 * yy), np.cos(7 * xx), np.sin(5 * xx * yy)])
    return (base[None] / np.asarray(gains)[:, None, None] * tint).astype(np.float32)


@pytest.fixture
def olympus_store(tmp_path, monkeypatch):
    """The NUS-style quick store for Olympus alone, with the checkpoint cache in ``tmp_path``."""
    from ispsim.datasets.build import build
    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.store import DatasetStore

    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    text = open(load_recipe("nus").path).read().replace('cameras = ["sony", "samsung", "olympus"]', 'cameras = ["olympus"]')
    (tmp_path / "r.toml").write_text(text)
    build(load_recipe(tmp_path / "r.toml"), tmp_path / "s", "quick", progress=False)
    return DatasetStore(tmp_path / "s")
