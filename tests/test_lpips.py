import numpy as np
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
