"""Physics noise in DN (P+TL+R+Q+C) against closed forms, the backends against each other, and
calibration recovering known parameters from synthetic frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from ispsim.calibration import bias_fit, photon_transfer
from ispsim.cli.main import main
from ispsim.errors import ConfigError
from ispsim.stages.noise.physics import PhysicsParams, add_physics_noise, apply_draws, draw, parse_components

P = PhysicsParams(K=2.0, tl_lambda=-0.1, read_scale=3.0, row_scale=1.5, color_bias=(0.5, -0.3, 0.2, 0.8),
                  black=512, white=16383)


def test_components_are_named_as_the_field_names_them():
    assert parse_components("P+TL+R+Q+C") == ("P", "TL", "R", "Q", "C")
    with pytest.raises(ConfigError, match="TL and G"):
        parse_components("P+TL+G")
    with pytest.raises(ConfigError, match="expected names"):
        parse_components("P+X")


def test_shot_noise_mean_and_variance_are_K_times_the_signal():
    rng = np.random.default_rng(0)
    sig = np.full((1, 256, 256), 500.0)
    y = add_physics_noise(sig, P, rng, components="P")
    assert y.mean() == pytest.approx(500.0, rel=2e-3)
    assert y.var() == pytest.approx(P.K * 500.0, rel=0.02)


def test_row_noise_share_of_the_variance():
    rng = np.random.default_rng(1)
    y = add_physics_noise(np.zeros((1, 512, 512)), P, rng, components="TL+R")[0]
    rows = y.mean(axis=1)
    tl_var = stats.tukeylambda.var(P.tl_lambda) * P.read_scale**2
    assert np.var(rows) == pytest.approx(P.row_scale**2 + tl_var / 512, rel=0.15)
    assert y.var() == pytest.approx(P.row_scale**2 + tl_var, rel=0.05)


def test_tukey_samples_follow_scipy_tukeylambda():
    rng = np.random.default_rng(2)
    y = add_physics_noise(np.zeros((1, 200, 200)), P, rng, components="TL")[0].ravel() / P.read_scale
    (_, _), (slope, icpt, r) = stats.probplot(y[:20000], sparams=(P.tl_lambda,), dist="tukeylambda")
    assert r > 0.999 and slope == pytest.approx(1.0, abs=0.02) and abs(icpt) < 0.02
    assert stats.kstest(y[:20000], "tukeylambda", args=(P.tl_lambda,)).pvalue > 0.01


def test_quantisation_and_colour_bias_and_clipping():
    rng = np.random.default_rng(3)
    y = add_physics_noise(np.full((1, 64, 64), 100.0), P, rng, components="Q+C")[0]
    assert y[0::2, 0::2].mean() == pytest.approx(100.5, abs=0.02)  # R site of RGGB: +0.5
    assert y[1::2, 1::2].mean() == pytest.approx(100.8, abs=0.02)
    assert np.abs(y[0::2, 0::2] - 100.5).max() <= 0.5
    hot = add_physics_noise(np.full((1, 8, 8), 1e6), P, rng, components="P")
    assert hot.max() == P.white - P.black


def test_numpy_equals_pytorch_on_the_same_draws():
    rng = np.random.default_rng(4)
    sig = rng.uniform(0, 3000, (1, 32, 48))
    d = draw(sig, P, rng)
    a = apply_draws(sig, P, d)
    t = apply_draws(torch.from_numpy(sig), P, {k: None if v is None else torch.from_numpy(np.asarray(v)) for k, v in d.items()})
    np.testing.assert_allclose(t.numpy(), a, rtol=1e-6, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    out = add_physics_noise(torch.from_numpy(sig), P, g)  # torch draws with its own generator
    assert out.shape == sig.shape and torch.isfinite(out).all()


def _frames(p, rng, h=256, w=384, levels=(100, 300, 800, 2000, 5000, 9000), darks=4):
    flats = []
    for level in levels:
        for _ in range(2):
            flats.append(np.round(add_physics_noise(np.full((1, h, w), float(level)), p, rng)[0] + p.black))
    bias = [np.round(add_physics_noise(np.zeros((1, h, w)), p, rng)[0] + p.black) for _ in range(darks)]
    return flats, bias


@pytest.mark.parametrize("K, lam, scale", [(2.0, -0.1, 3.0), (0.5, 0.1, 2.0)])
def test_calibration_recovers_known_parameters(K, lam, scale):
    p = PhysicsParams(K=K, tl_lambda=lam, read_scale=scale, row_scale=1.0, black=512, white=16383)
    flats, bias = _frames(p, np.random.default_rng(5))
    pt = photon_transfer(flats, p.black, p.white)
    bf = bias_fit(bias, p.black)
    assert pt.K == pytest.approx(K, rel=0.03) and pt.K_interval[0] <= pt.K <= pt.K_interval[1]
    assert bf.read_scale == pytest.approx(scale, rel=0.05)
    assert abs(bf.tl_lambda - lam) <= 0.05
    assert bf.row_scale == pytest.approx(1.0, rel=0.15)


def test_noise_calibrate_cli_writes_a_profile_with_sources_and_a_plot(tmp_path, capsys):
    import tomllib

    flats, bias = _frames(P, np.random.default_rng(6), h=128, w=192, levels=(200, 1000, 4000), darks=2)
    names = []
    for i, f in enumerate(flats + bias):
        names.append(tmp_path / f"f{i}.npy")
        np.save(names[-1], f.astype(np.uint16))
    out = tmp_path / "noise.toml"
    assert main(["noise", "calibrate", "--flat", *map(str, names[:6]), "--dark", *map(str, names[6:]),
                 "--black", "512", "--white", "16383", "--cfa", "RGGB", "-o", str(out)]) == 0
    prof = tomllib.loads(out.read_text())
    assert prof["noise"]["K"] == pytest.approx(2.0, rel=0.05)
    assert all(f"noise.{k}" in prof["sources"] for k in prof["noise"])
    assert out.with_suffix(".png").is_file()
    assert "K = " in capsys.readouterr().out


def test_one_frame_photon_transfer_finds_K_from_flat_tiles_of_a_chart():
    """A chart of flat patches at many levels in one frame: the lower-envelope estimate lands
    near K (biased low by a few percent, as its note says)."""
    rng = np.random.default_rng(7)
    levels = rng.uniform(50, 8000, (8, 12))
    sig = np.kron(levels, np.ones((64, 64)))[None]
    frame = np.round(add_physics_noise(sig, P, rng, components="P+TL+Q")[0] + P.black)
    pt = photon_transfer([frame], P.black, P.white)
    assert pt.K == pytest.approx(P.K, rel=0.1) and pt.notes


def test_openisp_frame_gives_a_photon_transfer_estimate_with_its_interval(tmp_path):
    raw = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "raw" / "openisp_test.RAW"
    assert raw.is_file(), f"{raw}: the real sensor frame fixture is missing"
    a = np.fromfile(raw, dtype="<u2").reshape(1080, 1920)
    pt = photon_transfer([a], 0, 1023)
    lo, hi = pt.K_interval
    assert 0 < lo <= pt.K <= hi < 1.0 and len(pt.points) > 100  # 10-bit data: well under 1 DN per electron


@pytest.mark.parametrize("name", ["CanonEOS5D4", "CanonEOS70D", "CanonEOS700D", "NikonD850", "SonyA7S2"])
def test_eld_cameras_ship_and_sample_virtual_cameras_as_eld_does(name):
    import json

    from ispsim.stages.noise.physics import load_calibrated

    cam = load_calibrated(name)
    ref = json.loads((Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "noise" /
                      "eld_camera_params.json").read_text())[name]
    assert (cam.Kmin, cam.Kmax) == (ref["Kmin"], ref["Kmax"]) and list(cam.tl_shapes) == ref["G_shape"]
    rng = np.random.default_rng(0)
    draws = [cam.sample(rng) for _ in range(2000)]
    logk = np.log([d.K for d in draws])
    assert cam.Kmin <= min(np.exp(logk)) and max(np.exp(logk)) <= cam.Kmax
    assert stats.kstest((logk - np.log(cam.Kmin)) / np.log(cam.Kmax / cam.Kmin), "uniform").pvalue > 0.01
    slope, bias, sigma = cam.tl_scale
    resid = np.log([d.read_scale for d in draws]) - (slope * logk + bias)
    assert abs(resid.mean()) < 0.05 and resid.std() == pytest.approx(sigma, rel=0.1)
    assert {d.tl_lambda for d in draws} <= set(ref["G_shape"])


def test_camera_import_of_a_dng_ispsim_wrote_recovers_it_exactly(tmp_path, capsys):
    import tomllib

    from ispsim.cameras import load_camera
    from ispsim.io import write_dng

    sony = load_camera("sony")
    dn = np.random.default_rng(0).integers(128, 4095, (32, 48)).astype(np.uint16)
    write_dng(tmp_path / "x.dng", dn, cfa="GBRG", black=128, white=4095, color_matrix=sony.calibration.matrix_1,
              illuminant="D65", as_shot_neutral=[0.5, 1.0, 0.8], model="Sony SLT-A57")
    out = tmp_path / "cam.toml"
    assert main(["camera", "import", str(tmp_path / "x.dng"), "-o", str(out)]) == 0
    cam = load_camera(out)
    assert cam.sensor.cfa == "GBRG" and (cam.sensor.black_level, cam.sensor.white_level) == (128, 4095)
    assert cam.calibration.matrix_1 == sony.calibration.matrix_1 and cam.calibration.illuminant_1 == "D65"
    data = tomllib.loads(out.read_text())
    assert all(f"{s}.{k}" in data["sources"] for s in ("sensor", "color", "noise", "look") for k in data[s])
    assert "DNG ColorMatrix1" in data["sources"]["color.color_matrix_1"]


def test_camera_import_of_the_openisp_npy_with_flags(tmp_path):
    from ispsim.cameras import load_camera

    raw = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "raw" / "openisp_test.RAW"
    np.save(tmp_path / "openisp.npy", np.fromfile(raw, dtype="<u2").reshape(1080, 1920))
    out = tmp_path / "openisp.toml"
    assert main(["camera", "import", str(tmp_path / "openisp.npy"), "-o", str(out), "--black", "0", "--white", "1023",
                 "--cfa", "RGGB"]) == 2  # no colour matrix in a .npy: the user must say where to take one
    assert main(["camera", "import", str(tmp_path / "openisp.npy"), "-o", str(out), "--black", "0", "--white", "1023",
                 "--cfa", "RGGB", "--like", "sony"]) == 0
    cam = load_camera(out)
    assert (cam.sensor.cfa, cam.sensor.black_level, cam.sensor.white_level, cam.sensor.bit_depth) == ("RGGB", 0, 1023, 10)
    assert "--like sony" in cam.sources["color.color_matrix_1"] and cam.sources["sensor.black_level"] == "--black 0"


def test_lowlight_style_amplifies_a_short_exposure_with_shot_noise_of_the_closed_form():
    from ispsim.datasets.generators import make_sample, scene_plan
    from ispsim.datasets.recipe import RECIPE_DIR, load_recipe, parse_recipe

    r = load_recipe("lowlight")
    a, p = make_sample(r, "quick", "train", 0)
    b, _ = make_sample(r, "quick", "train", 0)
    assert a["input"].shape == a["gt"].shape == (4, 32, 48)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # same seed, same bytes
    assert 100 <= p["ratio"] <= 300 and p["noise_profile"] == "SonyA7S2"
    # Shot noise alone: the residual is zero-mean with variance ratio * K * gt / span per photosite.
    text = (RECIPE_DIR / "lowlight.toml").read_text().replace('components = "P+TL+R+Q+C"', 'components = "P"')
    rp = parse_recipe(text.replace("height = 64", "height = 256").replace("width = 96", "width = 256"), "p.toml")
    res, pred = [], []
    for i in range(4):
        s, q = make_sample(rp, "quick", "train", i)
        span = q["white"] - q["black"]
        res.append((s["input"] - s["gt"]).ravel())
        pred.append((q["ratio"] * q["K"] * s["gt"] / span).ravel())
    res, pred = np.concatenate(res), np.concatenate(pred)
    assert abs(res.mean()) < 3 * np.sqrt(pred.mean() / res.size)
    assert res.var() == pytest.approx(pred.mean(), rel=0.05)
    assert not set(scene_plan(r, r.size("full"))["test"]) & set(scene_plan(r, r.size("full"))["train"])


def test_lowlight_keys_belong_to_the_lowlight_style_only():
    from ispsim.datasets.recipe import RECIPE_DIR, parse_recipe

    nus = (RECIPE_DIR / "nus.toml").read_text()
    with pytest.raises(ConfigError, match=r"\[lowlight\]"):
        parse_recipe(nus + '\n[lowlight]\nnoise = "SonyA7S2"\n', "x.toml")
    ll = (RECIPE_DIR / "lowlight.toml").read_text()
    with pytest.raises(ConfigError, match="noise profile 'Nope'"):
        parse_recipe(ll.replace('noise = "SonyA7S2"', 'noise = "Nope"'), "x.toml")


def test_a_camera_names_a_calibrated_noise_profile_and_a_lowlight_recipe_can_use_it():
    from ispsim.cameras import load_camera
    from ispsim.datasets.generators import make_sample
    from ispsim.datasets.recipe import RECIPE_DIR, parse_recipe

    assert load_camera("phone").physics_noise == "SonyA7S2" and load_camera("sony").physics_noise is None
    text = (RECIPE_DIR / "lowlight.toml").read_text().replace('noise = "SonyA7S2"', 'noise = "camera"')
    with pytest.raises(ConfigError, match="sony_slt_a57 name no physics noise profile"):
        parse_recipe(text, "x.toml")
    r = parse_recipe(text.replace('cameras = ["sony"]', 'cameras = ["phone"]'), "x.toml")
    assert make_sample(r, "quick", "train", 0)[1]["noise_profile"] == "SonyA7S2"


def test_denoisers_synthesise_fresh_noise_of_the_closed_form_variance_on_the_fly():
    import torch

    from ispsim.methods.denoise import CleanScenes
    from ispsim.stages.noise.physics import CalibratedCamera

    k, ratio, span = 2.0, 100.0, 16383.0
    scenes = CleanScenes.__new__(CleanScenes)
    scenes.sensors = {"fixed": CalibratedCamera("fixed", k, k, (0, 0, 0), (0, 0, 0), (0, 0, 0), (0.0,), ((0, 0, 0, 0),),
                                                black=0.0, white=span)}
    scenes.profile, scenes.cfa, scenes.ratio = ["fixed"], ["RGGB"], (ratio, ratio)
    clean = torch.full((2, 4, 64, 64), 0.3)
    draw = lambda seed: scenes.noisy(clean, [0, 0], "P", np.random.default_rng(seed), torch.Generator().manual_seed(seed))  # noqa: E731
    a = draw(0)
    # shot noise alone: K * Poisson(I / K) at I = 0.3 * span / ratio, times ratio / span
    assert float(a.mean()) == pytest.approx(0.3, rel=2e-3)
    assert float(a.var()) == pytest.approx(ratio * k * 0.3 / span, rel=0.03)
    assert torch.equal(a, draw(0)) and not torch.equal(a, draw(1))  # same seed, same bytes; a new draw otherwise
    assert not torch.equal(a[0], a[1])  # every crop its own draw
