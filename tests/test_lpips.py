import os
from pathlib import Path

import numpy as np
import pytest
import torch

from ispsim.bench import lpips


def fake_weights(folder):
    """Weight files in the real formats, with values the test makes."""
    torch.manual_seed(0)
    net = lpips.alexnet_features()
    torch.save({f"features.{k}": v for k, v in net.state_dict().items()}, folder / lpips.BACKBONE_FILE)
    torch.save({f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(lpips.CHANNELS)},
               folder / lpips.HEADS_FILE)
    return net


def test_missing_weights_are_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("ISPSIM_LPIPS_DIR", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    model, why = lpips.load_lpips()
    if model is None:  # an lpips package or a torch cache may hold real weights on a user's machine
        assert why.startswith("LPIPS: no weights") and lpips.BACKBONE_FILE in why


def test_loaded_model_is_a_distance(tmp_path, monkeypatch, rng):
    monkeypatch.setenv("ISPSIM_LPIPS_DIR", str(tmp_path))
    net = fake_weights(tmp_path)
    model, why = lpips.load_lpips()
    assert model is not None and why == ""
    assert torch.equal(model.features[0].weight, net[0].weight)  # the backbone really loaded
    a = torch.from_numpy(rng.random((2, 3, 64, 64)).astype(np.float32))
    b = (a + 0.1 * torch.randn_like(a)).clamp(0, 1)
    with torch.no_grad():
        d_same, d_ab, d_ba = model(a, a), model(a, b), model(b, a)
        d_far = model(a, torch.zeros_like(a))
    assert d_same.shape == (2,) and torch.allclose(d_same, torch.zeros(2), atol=1e-6)
    assert torch.allclose(d_ab, d_ba, atol=1e-6) and (d_ab > 0).all() and (d_far > d_ab).all()


FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "lpips"


def _standard_model():
    model, why = lpips.load_lpips()
    if model is None:
        msg = f"standard LPIPS weights are absent ({why}); run `ispsim weights lpips`"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI fetches them first (.ci/run): absence there is a failure
        pytest.skip(msg)
    return model


@pytest.mark.parametrize("other, expected", [("ex_p0.png", 0.72188), ("ex_p1.png", 0.13757)])
def test_standard_weights_give_the_published_values_on_the_reference_pair(other, expected):
    from PIL import Image

    assert FIXTURES.is_dir(), f"{FIXTURES}: the LPIPS fixture pair is missing"
    model = _standard_model()
    load = lambda n: torch.from_numpy(np.asarray(Image.open(FIXTURES / n).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    with torch.no_grad():
        d = float(model(load("ex_ref.png"), load(other))[0])
    assert abs(d - expected) < 1e-4, d


def test_the_restricted_unpickler_refuses_anything_but_arrays():
    import pickle

    evil = pickle.dumps({"x": os.system})
    with pytest.raises(pickle.UnpicklingError, match="refused global"):
        lpips._restricted_load(evil)
    tree = {"a": np.arange(3, dtype=np.float32)}
    np.testing.assert_array_equal(lpips._restricted_load(pickle.dumps(tree))["a"], tree["a"])
