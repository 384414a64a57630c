import numpy as np
import torch

from ispsim.datasets.sampling import ReferenceSampler
from ispsim.methods import Reference, create_method
from ispsim.methods.inf.siren import StackedSiren


def test_siren_initialisation_follows_the_paper():
    m = StackedSiren([1, 2], hidden=64)
    w0 = m.weights["colour0"]
    assert w0.shape == (2, 3, 64) and w0.abs().max() <= 1 / 3
    w1 = m.weights["colour1"]
    assert w1.abs().max() <= np.sqrt(6 / 64) / 30
    assert not torch.equal(w0[0], w0[1])  # each network has its own draw
    again = StackedSiren([2], hidden=64)
    assert torch.equal(again.weights["colour0"][0], w0[1])  # ... and the same one alone


def test_batched_tiles_train_to_the_same_weights_as_one_by_one(rng):
    h, w = 48, 64
    srgb = rng.random((3, h, w)).astype(np.float32)
    raw = (srgb**2.2 * 0.8).astype(np.float32)
    mask = ReferenceSampler("uniform", 1 / 16).mask(h, w)
    yx, s, r = Reference("sampled", srgb=srgb, raw=raw, mask=mask).samples()
    m = create_method("inf", "quick")
    m.settings.update(tiles=[2, 3], hidden=16, iterations=20)
    m.settings["batched"] = True
    batched, _ = m.train_tiles(srgb, yx, s, r, dtype=torch.float64)
    m.settings["batched"] = False
    alone, _ = m.train_tiles(srgb, yx, s, r, dtype=torch.float64)
    assert len(alone) == 6
    for name, p in batched.weights.items():
        for k, single in enumerate(alone):
            torch.testing.assert_close(p[k], single.weights[name][0], rtol=1e-9, atol=1e-11)


def test_inf_reconstructs_an_image(rng):
    h, w = 32, 48
    yy, xx = np.mgrid[0:h, 0:w] / 48
    srgb = np.stack([0.3 + 0.3 * np.sin(3 * xx), 0.4 + 0.2 * yy, 0.5 * xx * yy + 0.2]).astype(np.float32)
    raw = (srgb**2.2).astype(np.float32)
    ref = Reference("sampled", srgb=srgb, raw=raw, mask=ReferenceSampler("uniform", 1 / 16).mask(h, w))
    out = create_method("inf", "quick").reconstruct({"srgb": srgb}, ref)
    assert out.shape == (3, h, w)
    assert np.mean((out - raw) ** 2) < 0.1 * np.mean((raw - raw.mean()) ** 2)  # explains > 90% of the variance
