"""Faults found from the outside (clipped highlights, float mosaics, odd sizes, tensor gains,
recipe keys, split leakage, README snippets, CLI errors), each with the check that catches it."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import rawpy
import torch
from PIL import Image

from ispsim.cli.main import main
from ispsim.datasets.generators import partition_scenes, scene_plan
from ispsim.datasets.recipe import RECIPE_DIR, load_recipe, parse_recipe
from ispsim.errors import ConfigError
from ispsim.io import read_raw
from ispsim.pipeline import Pipeline, PipelineConfig, Record

from .conftest import psnr, smooth_raw_rgb

README = Path(__file__).resolve().parents[1] / "README.md"
PLAIN_SET = ["--set", "ccm=d65", "--set", "tone_curve=0", "--set", "local_tone=0", "--set", "exposure=1"]


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    import skimage.data

    d = tmp_path_factory.mktemp("astro")
    a = skimage.data.astronaut()
    Image.fromarray(a).save(d / "astro.png")
    assert main(["unprocess", str(d / "astro.png"), "-c", "sony", "-o", str(d / "astro.dng")]) == 0
    return d, a.astype(np.float64)


def _libraw(dng, bps=8):
    with rawpy.imread(str(dng)) as r:
        return r.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, use_camera_wb=True,
                             no_auto_bright=True, output_color=rawpy.ColorSpace.sRGB, gamma=(2.4, 12.92),
                             output_bps=bps, user_flip=0).astype(np.float64)


def test_astronaut_round_trip_matches_libraw_and_highlights_stay_white(astronaut):
    d, photo = astronaut
    white = photo.min(-1) >= 250
    assert white.sum() > 1000
    assert main(["render", str(d / "astro.dng"), "-c", "sony", "-o", str(d / "plain.png"), *PLAIN_SET]) == 0
    ours = np.asarray(Image.open(d / "plain.png")).astype(np.float64)
    theirs = _libraw(d / "astro.dng")
    np.testing.assert_array_less(np.abs(ours[white].mean(0) - theirs[white].mean(0)), 2.0)
    assert psnr(ours, theirs, 255.0) >= 45
    assert main(["render", str(d / "astro.dng"), "-c", "sony", "-o", str(d / "look.png")]) == 0
    look = np.asarray(Image.open(d / "look.png")).astype(np.float64)[white].mean(0)
    assert look.max() - look.min() <= 3.0  # neutral: magenta was (251.7, 218.0, 251.7)
    assert Record.from_json((d / "astro.json").read_text()).clipped > 0  # the blind inverse says it clipped


def test_saturated_sensor_renders_neutral_on_both_paths_and_backends():
    pipe = Pipeline("sony", PipelineConfig(local_tone=0.0))
    s = pipe.camera.sensor
    dn = np.full((16, 24), int(s.white_level), np.uint16)  # every photosite saturated
    dn[:, :8] = 900
    fused, rec = pipe.render_to_uint8(dn, 0, gains=(2.1, 1.0, 1.7))
    assert fused[:, 4:-1, 12:-1].std(axis=0).max() == 0 and fused[0, 8, 16] == 255
    assert rec.clipped > 0.5
    raw = ((dn.astype(np.float32) - s.black_level) / (s.white_level - s.black_level))[None]
    staged, rec2 = pipe.render(raw, 0, gains=(2.1, 1.0, 1.7))
    assert np.abs(staged * 255 - fused).max() <= 1.0
    assert rec2.clipped == pytest.approx(rec.clipped, abs=0.05)
    t, _ = pipe.render(torch.from_numpy(raw), 0, gains=(2.1, 1.0, 1.7))
    np.testing.assert_allclose(t.numpy(), staged, atol=2e-6)


def test_inverse_is_exact_where_nothing_clipped_and_a_lower_bound_where_it_did():
    pipe = Pipeline("sony", PipelineConfig(output_bits=16, local_tone=0.0))
    raw = smooth_raw_rgb(32, 48, (2.0, 1.0, 1.5)).astype(np.float64)
    raw[:, :8] = 1.0  # saturated rows
    srgb, rec = pipe.render(raw, 0, gains=(2.0, 1.0, 1.5))
    back, rec_back = pipe.unprocess(srgb, rec, mosaic=False)
    assert psnr(back[:, 10:], raw[:, 10:]) >= 60  # away from the clipped rows
    assert rec_back.clipped > 0.2
    rerender, _ = pipe.render(back, 0, gains=(2.0, 1.0, 1.5))
    assert psnr(rerender, srgb) >= 60  # the lower bound renders to the same image


def test_version_one_records_keep_their_rendering():
    d = Pipeline("sony").profile_record().to_dict()
    del d["highlight"], d["clipped"], d["source_size"]
    d["version"] = 1
    assert Record.from_dict(d).highlight == "none"


def test_render_of_its_own_raw_npy_equals_the_original_and_record_chain_stays_normalised(tmp_path):
    out = tmp_path / "o"
    assert main(["render", "-c", "sony", "-o", str(out)]) == 0
    npy = out / "demo_sony_slt_a57_raw.npy"
    assert main(["render", str(npy), "-c", "sony", "-o", str(tmp_path / "again.png")]) == 0
    a = np.asarray(Image.open(out / "demo_sony_slt_a57.png")).astype(float)
    b = np.asarray(Image.open(tmp_path / "again.png")).astype(float)
    assert psnr(a, b, 255.0) >= 50
    tif = tmp_path / "again.tiff"
    # Without local tone mapping the inverse is per pixel, so "where nothing clipped" is local.
    assert main(["render", str(npy), "-c", "sony", "--format", "tiff", "-o", str(tif), "--set", "local_tone=0"]) == 0
    back = tmp_path / "back.npy"
    assert main(["unprocess", str(tif), "-c", "sony", "--record", str(tif.with_suffix(".json")), "-o", str(back)]) == 0
    mosaic, got = np.load(npy)[0], np.load(back)
    assert got.dtype == np.float32 and len(np.unique(got)) > 1000  # not DN in {0, 1}
    rec = Record.from_json(back.with_suffix(".json").read_text())
    from scipy.ndimage import maximum_filter

    keep = maximum_filter(mosaic, size=5) < 0.4  # far from the highlight clip, demosaic support included
    assert psnr(got[keep], mosaic[keep]) >= 50 and rec.clipped > 0


def test_float_mosaic_ignores_the_profile_levels(tmp_path):
    np.save(tmp_path / "f.npy", np.full((8, 8), 0.25, np.float32))
    r = read_raw(tmp_path / "f.npy", defaults=Pipeline("sony").camera.sensor)
    assert (r.black, r.white) == (0.0, 1.0)


@pytest.mark.parametrize("size", [(512, 451), (451, 512), (451, 451)])
def test_odd_sized_photos_round_trip_through_dng(tmp_path, size):
    import skimage.data

    h, w = size
    a = skimage.data.astronaut()[:h, :w]
    Image.fromarray(a).save(tmp_path / "p.png")
    assert main(["unprocess", str(tmp_path / "p.png"), "-c", "sony", "-o", str(tmp_path / "p.dng")]) == 0
    rec = Record.from_json((tmp_path / "p.json").read_text())
    assert rec.source_size == (h, w)
    with rawpy.imread(str(tmp_path / "p.dng")) as raw:
        assert raw.raw_image_visible.shape == (h // 2 * 2, w // 2 * 2)
    assert main(["render", str(tmp_path / "p.dng"), "-c", "sony", "-o", str(tmp_path / "r.png"), *PLAIN_SET]) == 0
    ours = np.asarray(Image.open(tmp_path / "r.png")).astype(np.float64)
    assert ours.shape == (h // 2 * 2, w // 2 * 2, 3)
    assert psnr(ours, _libraw(tmp_path / "p.dng"), 255.0) >= 45


def test_odd_sized_bayer_png_and_foreign_odd_dng_are_cropped_to_whole_cells(tmp_path, rng):
    from ispsim.io import write_dng

    dn = rng.integers(200, 3000, (33, 47)).astype(np.uint16)
    Image.fromarray(dn).save(tmp_path / "b.png")
    write_dng(tmp_path / "d.dng", dn, cfa="RGGB", black=128, white=4095,
              color_matrix=Pipeline("sony").camera.calibration.matrix_1, as_shot_neutral=[0.5, 1, 0.7])
    for name in ("b.png", "d.dng"):
        out = tmp_path / f"{name}.out.png"
        assert main(["render", str(tmp_path / name), "-c", "sony", "-o", str(out)]) == 0
        assert np.asarray(Image.open(out)).shape == (32, 46, 3)
        assert Record.from_json(out.with_suffix(".json").read_text()).source_size == (33, 47)


def test_render_and_unprocess_gradcheck_with_tensor_gains_and_ccm():
    torch.manual_seed(0)
    raw = torch.rand(1, 6, 8, dtype=torch.float64) * 0.3 + 0.05  # below the highlight clip: smooth
    pipe = Pipeline("sony", PipelineConfig(output_bits=0))
    gains = torch.tensor([2.0, 1.0, 1.6], dtype=torch.float64, requires_grad=True)
    ccm = torch.tensor(np.asarray(pipe.profile_record().ccm).reshape(3, 3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda g, c: pipe.render(raw, 0, gains=g, ccm=c)[0], (gains, ccm),
                                    eps=1e-6, atol=1e-6)
    srgb, rec = pipe.render(raw, 0, gains=gains.detach())
    assert torch.autograd.gradcheck(lambda g, c: pipe.unprocess(srgb, rec, gains=g, ccm=c)[0], (gains, ccm),
                                    eps=1e-6, atol=1e-6)
    # Gains in the config: the same gradient as given to render.
    by_config = Pipeline("sony", PipelineConfig(output_bits=0, white_balance="gains", gains=gains))
    out, rec = by_config.render(raw, 0)
    (grad,) = torch.autograd.grad(out.sum(), gains)
    (ref,) = torch.autograd.grad(pipe.render(raw, 0, gains=gains)[0].sum(), gains)
    torch.testing.assert_close(grad, ref)
    assert rec.gains == (2.0, 1.0, 1.6)


_NUS = (RECIPE_DIR / "nus.toml").read_text()


def test_recipe_iso_takes_effect():
    from ispsim.datasets.generators import make_sample

    r = parse_recipe(_NUS.replace('white_balance = "as_shot"', 'white_balance = "as_shot"\nnoise = "heteroscedastic"\n'
                                  'iso = [100, 1600]'), "iso.toml")
    isos = [make_sample(r.with_size("t", 32, 32, train=8), "t", "train", i)[1]["iso"] for i in range(8)]
    assert all(100 <= v <= 1600 for v in isos) and np.ptp(isos) > 100


@pytest.mark.parametrize("edit, key", [
    (('[isp.pipeline]', '[isp.pipeline]\ncct = 5000'), "cct"),
    (('[isp.pipeline]', '[isp.pipeline]\niso = [100, 1600]'), "iso"),  # no noise: no effect
    (('[sizes.quick]', '[motion]\nframes = 3\n\n[sizes.quick]'), "[motion]"),
    (('[sizes.quick]', '[degradation]\niso = [100, 200]\n\n[sizes.quick]'), "[degradation]"),
    (('[isp.pipeline]', '[isp.pipeline]\nadc = true'), "adc"),
])
def test_a_recipe_key_the_style_does_not_use_is_an_error_naming_it(edit, key):
    assert edit[0] in _NUS
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_recipe(_NUS.replace(*edit, 1), "x.toml")


@pytest.mark.parametrize("name", ["nus", "rvd", "rddm", "lowlight"])
@pytest.mark.parametrize("size", ["quick", "full"])
def test_shipped_recipes_keep_scenes_apart_between_splits(name, size):
    r = load_recipe(name)
    plan = scene_plan(r, r.size(size))
    sets = {s: set(v) for s, v in plan.items()}
    assert all(len(plan[s]) == sum(1 for _ in plan[s]) for s in plan)
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert all(sets[s] for s in sets if r.size(size).counts[s])


def test_skimage_stereo_views_are_one_scene_and_too_few_scenes_are_refused():
    r = load_recipe("rddm")
    plan = scene_plan(r, r.size("full"))
    assert "stereo_motorcycle" in set().union(*map(set, plan.values()))
    with pytest.raises(ConfigError, match="has 2 distinct scene"):
        partition_scenes(["a", "b", "b"], {"train": 5, "val": 1, "test": 1}, 0)


def test_dataset_info_prints_the_scene_line(tmp_path, capsys):
    assert main(["dataset", "build", "rddm", "-o", str(tmp_path / "s"), "-q"]) == 0
    assert main(["dataset", "info", str(tmp_path / "s")]) == 0
    assert "scenes: train 3, val 1, test 1; shared between splits: 0" in capsys.readouterr().out


def test_every_readme_python_block_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("argv, named", [
    (["render", "-c", "sony", "--set", "local_tone=abc"], "--set local_tone"),
    (["unprocess", "x.png", "-c", "sony", "--record", "missing.json", "-o", "r.npy"], "--record missing.json"),
    (["dataset", "show", "STORE", "--split", "tset"], "--split 'tset'"),
    (["render", "-c", "sony", "-o", "/proc/no/such/dir"], "/proc/no"),
])
def test_cli_mistakes_get_one_line_naming_the_argument(argv, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    if "STORE" in argv:
        assert main(["dataset", "build", "rddm", "-o", "st", "-q"]) == 0
        argv = [a.replace("STORE", "st") for a in argv]
        capsys.readouterr()
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0] and "Traceback" not in err[0]


def test_files_named_after_the_options_are_inputs_too(tmp_path, rng):
    for name in ("a.npy", "b.npy"):
        np.save(tmp_path / name, rng.integers(200, 3000, (16, 24)).astype(np.uint16))
    assert main(["render", str(tmp_path / "a.npy"), "-c", "sony", str(tmp_path / "b.npy"), "-o", str(tmp_path / "o"),
                 "-q"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").glob("*.png")) == ["a.png", "b.png"]


def test_negative_sample_count_for_show_is_refused(tmp_path, capsys):
    assert main(["dataset", "build", "rddm", "-o", str(tmp_path / "s"), "-q"]) == 0
    assert main(["dataset", "show", str(tmp_path / "s"), "-n", "-3"]) == 2
    assert "-n -3" in capsys.readouterr().err
