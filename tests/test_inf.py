import numpy as np
import pytest
import torch

from ispsim.datasets.sampling import ReferenceSampler
from ispsim.errors import ConfigError
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


def test_tiles_on_several_cores_give_the_same_bytes_as_on_one(rng):
    """The cpu profile fits its tiles side by side, one per core: the result must not depend on
    the core count (same seed, same bytes on any machine), nor on the order the tiles finish."""
    h, w = 96, 128
    yy, xx = np.mgrid[0:h, 0:w] / 128
    srgb = np.stack([0.3 + 0.3 * np.sin(5 * xx), 0.4 + 0.2 * yy, 0.5 * xx * yy + 0.2]).astype(np.float32)
    raw = (srgb**2.2).astype(np.float32)
    ref = Reference("sampled", srgb=srgb, raw=raw, mask=ReferenceSampler("uniform", 1 / 16).mask(h, w))
    outs, before = [], torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            m = create_method("inf-gf", "cpu")
            m.settings.update(iterations=15, threads=threads)
            outs.append(m.reconstruct({"srgb": srgb}, ref))
            assert torch.get_num_threads() == threads  # the workers' single thread does not leak out
    finally:
        torch.set_num_threads(before)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_inf_reconstructs_an_image(rng):
    h, w = 32, 48
    yy, xx = np.mgrid[0:h, 0:w] / 48
    srgb = np.stack([0.3 + 0.3 * np.sin(3 * xx), 0.4 + 0.2 * yy, 0.5 * xx * yy + 0.2]).astype(np.float32)
    raw = (srgb**2.2).astype(np.float32)
    ref = Reference("sampled", srgb=srgb, raw=raw, mask=ReferenceSampler("uniform", 1 / 16).mask(h, w))
    out = create_method("inf", "quick").reconstruct({"srgb": srgb}, ref)
    assert out.shape == (3, h, w)
    assert np.mean((out - raw) ** 2) < 0.1 * np.mean((raw - raw.mean()) ** 2)  # explains > 90% of the variance


def test_colour_branch_frequency_is_its_own_setting():
    m = StackedSiren([1], hidden=64, omega_colour=3.0)
    assert m.weights["colour1"].abs().max() > np.sqrt(6 / 64) / 30  # drawn for omega 3 ...
    assert m.weights["colour1"].abs().max() <= np.sqrt(6 / 64) / 3
    assert m.weights["spatial1"].abs().max() <= np.sqrt(6 / 64) / 30  # ... the other branches keep 30
    x = torch.rand(1, 5, 3, generator=torch.Generator().manual_seed(0))
    h = torch.sin(3.0 * torch.baddbmm(m.biases["colour0"], x, m.weights["colour0"]))
    for i in (1, 2):
        h = torch.sin(3.0 * torch.baddbmm(m.biases[f"colour{i}"], h, m.weights[f"colour{i}"]))
    torch.testing.assert_close(m._branch("colour", x), h)


def test_the_paper_inf_keeps_its_results_key_and_variants_get_their_own():
    paper = create_method("inf", "cpu")
    assert "omega_colour" not in paper.named_settings() and "base" not in paper.named_settings()
    assert create_method("inf-omega3", "cpu").settings["omega_colour"] == 3.0
    gf = create_method("inf-gf", "cpu")
    assert gf.settings["base"] == "global-fit" and gf.settings["hidden"] == paper.settings["hidden"]
    assert len({paper.settings_digest(), gf.settings_digest(), create_method("inf-omega3", "cpu").settings_digest()}) == 3


def _local_gain_image(h=48, w=64):
    yy, xx = np.mgrid[0:h, 0:w] / 64
    srgb = np.clip(np.stack([0.3 + 0.3 * np.sin(5 * xx + 2 * yy), 0.4 + 0.3 * np.cos(4 * yy), 0.2 + 0.5 * xx * yy]), 0, 1)
    matrix = np.array([[0.9, 0.1, 0.0], [0.05, 0.8, 0.15], [0.0, 0.2, 0.7]])
    raw = np.einsum("ij,jhw->ihw", matrix, srgb**2.2) * (1 + 0.15 * xx)  # a global map and a smooth local gain
    return srgb.astype(np.float32), raw.astype(np.float32)


def test_inf_gf_learns_what_the_global_fit_leaves():
    srgb, raw = _local_gain_image()
    ref = Reference("sampled", srgb=srgb, raw=raw, mask=ReferenceSampler("uniform", 1 / 16).mask(*srgb.shape[-2:]))
    gf = create_method("global-fit", "quick").reconstruct({"srgb": srgb}, ref)
    m = create_method("inf-gf", "quick")
    out = m.reconstruct({"srgb": srgb}, ref)
    mse = lambda a: float(np.mean((a - raw) ** 2))  # noqa: E731
    assert mse(out) < 0.5 * mse(gf)  # the networks took out at least half of the global fit's error
    # with a tiny learning rate the networks stay near their start: the output is the global fit
    # plus the untrained networks' output, i.e. the base really is added
    m.settings.update(iterations=1, lr=1e-12)
    untrained = m.reconstruct({"srgb": srgb}, ref)
    m2 = create_method("inf", "quick")
    m2.settings.update(iterations=1, lr=1e-12)
    np.testing.assert_allclose(untrained - gf, m2.reconstruct({"srgb": srgb}, ref), atol=1e-5)


def test_clipped_pixels_take_the_raw_of_the_nearest_clipped_samples():
    srgb, raw = _local_gain_image()
    srgb[:, 10:30, 20:44] = 1.0  # a clipped highlight over a flat RAW value
    raw[:, 10:30, 20:44] = np.array([1.3, 1.1, 0.9])[:, None, None]
    ref = Reference("sampled", srgb=srgb, raw=raw, mask=ReferenceSampler("uniform", 1 / 16).mask(*srgb.shape[-2:]))
    m = create_method("inf-gf", "quick")
    m.settings["clipped"] = "fill"
    out = m.reconstruct({"srgb": srgb}, ref)
    np.testing.assert_allclose(out[:, 10:30, 20:44], raw[:, 10:30, 20:44], atol=1e-6)
    m.settings["clipped"] = "wrong"
    with pytest.raises(ConfigError, match="clipped"):
        m.reconstruct({"srgb": srgb}, ref)
