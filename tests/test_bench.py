import json

import numpy as np
import pandas as pd
import pytest
import torch

from ispsim.bench.report import bootstrap_ci
from ispsim.bench.runner import resolve_methods
from ispsim.bench.suite import load_suite
from ispsim.cli.bench import main
from ispsim.errors import ConfigError
from ispsim.methods import create_method, list_methods
from ispsim.methods.base import load_settings
from ispsim.methods.baselines import GlobalFit

RECIPE = """
[dataset]
name = "tiny"
style = "nus"
seed = 3

[scenes]
source = "synthetic"
exposure_range = [0.2, 0.6]

[isp]
cameras = ["sony", "olympus"]

[isp.pipeline]
local_tone = [0.2, 0.4]

[sizes.quick]
height = 64
width = 96
train = 0
val = 0
test = 2
"""


def write_suite(path, name, recipe, track, extra=""):
    """A one-dataset suite TOML on the quick profile and size."""
    path.write_text(f"""
[suite]
name = "{name}"
profile = "quick"
{extra}
[[datasets]]
recipe = "{recipe}"
size = "quick"
track = "{track}"
""")
    return path


@pytest.fixture
def suite(tmp_path):
    (tmp_path / "tiny.toml").write_text(RECIPE)
    return write_suite(tmp_path / "suite.toml", "tiny", tmp_path / "tiny.toml", "image", "error_maps = 2\n")


def run(tmp_path, suite, *extra):
    return main(["run", "--suite", str(suite), "--out", str(tmp_path / "report"), "--data-dir", str(tmp_path / "data"),
                 "-q", *extra])


def test_run_writes_the_report_and_caches(tmp_path, suite, monkeypatch, capsys):
    assert run(tmp_path, suite) == 0
    assert "rawmamba skipped on tiny/quick/test: it cannot be trained here" in capsys.readouterr().err  # no training split
    out = tmp_path / "report"
    for name in ("leaderboard.md", "results.csv", "index.html", "tiny_quick_test_error_maps.png",
                 "tiny_quick_test_psnr_vs_bytes.png", "tiny_quick_test_psnr_vs_time.png"):
        assert (out / name).is_file(), name
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 5 * 4 and set(df.method) == {"blind-unprocess", "global-fit", "sam-rbf", "oracle", "inf-gf"}
    assert (df[df.method == "blind-unprocess"].ref_bytes == 0).all()
    # 1/64 uniform sampling of 64 x 96: 96 pixels x 3 channels x (2 + 1) bytes, positions implied.
    assert (df[df.method == "sam-rbf"].ref_bytes == 96 * 9).all()
    md = (out / "leaderboard.md").read_text()
    assert "oracle (upper bound)" in md and "### sony_slt_a57" in md and "95% interval" in md
    # A second run reads the cache: no method is called again.
    monkeypatch.setattr(GlobalFit, "reconstruct", lambda *a: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert run(tmp_path, suite) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv"), df)
    assert main(["report", "--suite", str(suite), "--out", str(out)]) == 0


def test_interrupted_run_resumes(tmp_path, suite, monkeypatch):
    calls = []
    real = GlobalFit.reconstruct

    def flaky(self, inputs, reference):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, inputs, reference)

    monkeypatch.setattr(GlobalFit, "reconstruct", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, suite, "--methods", "global-fit")
    monkeypatch.setattr(GlobalFit, "reconstruct", real)
    counted = []
    monkeypatch.setattr(GlobalFit, "reconstruct", lambda self, i, r: counted.append(1) or real(self, i, r))
    assert run(tmp_path, suite, "--methods", "global-fit") == 0
    assert len(counted) == 2  # only the two images not done before the interruption
    assert len(pd.read_csv(tmp_path / "report" / "results.csv")) == 4


def test_a_method_failing_on_one_image_is_reported_and_the_run_completes(tmp_path, suite, monkeypatch, capsys):
    real = GlobalFit.reconstruct

    def broken_on_one(self, inputs, reference):
        if float(inputs["srgb"].mean()) == first_mean:
            raise ValueError("cannot fit this image")
        return real(self, inputs, reference)

    from ispsim.datasets.store import DatasetStore

    assert run(tmp_path, suite, "--methods", "blind-unprocess") == 0
    store = DatasetStore(next(p for p in (tmp_path / "data").iterdir() if p.is_dir()))
    first_mean = float(store.read_sample("test", 0)["srgb"].mean())
    monkeypatch.setattr(GlobalFit, "reconstruct", broken_on_one)
    assert run(tmp_path, suite, "--methods", "global-fit,sam-rbf") == 1
    assert "global-fit failed on tiny/quick/test #0: ValueError: cannot fit this image" in capsys.readouterr().err
    df = pd.read_csv(tmp_path / "report" / "results.csv")
    assert len(df) == 12 and df[df.method == "global-fit"].psnr.notna().sum() == 3  # blind-unprocess kept
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## Failures (1 images, left out of the means)" in md and "ValueError: cannot fit this image" in md
    assert "| global-fit |" in md.split("## image track")[1] and "| sam-rbf |" in md  # the rest completed
    # Fixed, the next run fills in the failed image (successes came from the cache).
    monkeypatch.setattr(GlobalFit, "reconstruct", real)
    assert run(tmp_path, suite, "--methods", "global-fit,sam-rbf") == 0
    assert "Failures" not in (tmp_path / "report" / "leaderboard.md").read_text()
    assert main(["report", "--suite", str(suite), "--out", str(tmp_path / "report")]) == 0


def test_report_drops_error_maps_of_stale_datasets(tmp_path, suite):
    stale = tmp_path / "report" / "cache" / "maps" / "global-fit-0123456789ab-0.npy"
    stale.parent.mkdir(parents=True)
    np.save(stale, np.zeros((2, 2)))
    assert run(tmp_path, suite, "--methods", "blind-unprocess", "--no-lpips") == 0
    maps = sorted(p.name for p in stale.parent.glob("*.npy"))
    assert not stale.exists() and maps and all(n.startswith(("blind-unprocess-", "srgb-")) for n in maps)
    # A dataset this run left out keeps its maps while its results are cached.
    other = stale.parent / "global-fit-fedcba987654-0.npy"
    np.save(other, np.zeros((2, 2)))
    (stale.parent.parent / "global-fit-0123456789ab-fedcba987654.jsonl").write_text("")
    assert run(tmp_path, suite, "--methods", "blind-unprocess", "--no-lpips") == 0
    assert other.exists()


def test_lpips_column_says_no_weights(tmp_path, suite):
    assert run(tmp_path, suite, "--methods", "blind-unprocess", "--no-lpips") == 0
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| not computed |" in md and "LPIPS: not computed (--no-lpips)" in md


@pytest.mark.slow
def test_baselines_order_on_the_quick_suite(tmp_path):
    """oracle > sam-rbf > global-fit > blind-unprocess on every camera (the issue's ordering)."""
    assert main(["run", "--suite", "quick", "--out", str(tmp_path / "r"), "--data-dir", str(tmp_path / "d"), "-q"]) == 0
    df = pd.read_csv(tmp_path / "r" / "results.csv")
    assert set(df[df.track == "restoration"].method) == {"unet-raw", "isp-unet", "classic-isp", "rddm"}
    df = df[df.track != "restoration"]  # de-rendering baselines: the image and video tracks
    means = df.pivot_table(index="camera", columns="method", values="psnr")
    assert (means["sam-rbf"] > means["global-fit"]).all()
    assert (means["global-fit"] > means["blind-unprocess"]).all()
    assert (means["oracle"] > means["sam-rbf"]).all()
    # The oracle sees the record and the same samples: its bytes are both.
    image = df[df.track == "image"].groupby("method").ref_bytes.mean()
    assert image["oracle"] > image["sam-rbf"] > image["blind-unprocess"] == 0


def test_oracle_beats_the_bare_inverse_where_the_srgb_clips():
    from ispsim.datasets.generators import make_sample
    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.sampling import ReferenceSampler
    from ispsim.bench.metrics import peak_signal_noise_ratio as psnr
    from ispsim.methods.base import Reference
    from ispsim.pipeline import Pipeline, Record

    r = load_recipe("nus")
    arrays, params = make_sample(r, "quick", "test", 2)  # an Olympus image with clipped highlights
    srgb, raw = arrays["srgb"], arrays["raw"]
    assert (srgb >= 254.5 / 255).any()
    record = Record.from_dict(params["record"])
    mask = ReferenceSampler("uniform", 1 / 64).mask(*raw.shape[-2:])
    ref = Reference("record", record=record, srgb=srgb, raw=raw, mask=mask)
    oracle = create_method("oracle", "quick").reconstruct({"srgb": srgb}, ref)
    bare = Pipeline.invert(srgb, record, mosaic=False)
    assert psnr(raw, oracle) > psnr(raw, bare) + 1


def test_registry_settings_and_errors(tmp_path):
    names = [m.name for m in list_methods()]
    assert names == ["blind-unprocess", "global-fit", "sam-rbf", "oracle", "inf", "inf-gf", "inf-omega3", "cam", "cam-ft", "priorraw",
                     "priorraw-search", "unet-raw", "isp-unet", "classic-isp", "rddm", "rddm-allinone", "rddm-rawloss", "denoise-g",
                     "denoise-pg", "denoise-physics", "nlm-known", "rawmamba",
                     "rawmamba-no-geb", "rawmamba-no-leb", "rawmamba-no-local", "rawmamba-no-global", "rawmamba-no-base"]
    assert create_method("sam-rbf", "cpu").settings["tile"] == 96
    assert create_method("sam-rbf", "quick").settings_digest() != create_method("sam-rbf", "cpu").settings_digest()
    with pytest.raises(ConfigError, match="unknown; registered methods"):
        create_method("rawmambo")
    with pytest.raises(ConfigError, match="quick, cpu, paper"):
        load_settings("sam-rbf", "huge", {})
    assert main(["run", "--methods", "nope", "--suite", "quick"]) == 2
    everything = resolve_methods("all")
    assert "cam" not in everything and "sam-rbf" in everything
    assert resolve_methods("all,cam,sam-rbf") == everything + ["cam"]  # all, plus named ones, each once
    with pytest.raises(ConfigError, match="shipped suites"):
        load_suite("nonexistent")


def test_global_fit_recovers_a_known_mapping(rng):
    s = rng.random((2000, 3))
    curve = lambda x: x**2.2  # noqa: E731
    m = np.array([[1.5, -0.3, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.4, 1.4]])
    r = curve(s) @ m.T
    v, m_fit = GlobalFit({"knots": 32, "iterations": 20, "smoothness": 1e-8}).fit_curves(s, r)
    knots = np.linspace(0, 1, 32)
    t = np.stack([np.interp(s[:, c], knots, v[c]) for c in range(3)], axis=1)
    assert np.abs(t @ m_fit.T - r).max() < 5e-3


def test_bootstrap_interval_covers_the_mean(rng):
    v = rng.normal(40, 2, 200)
    lo, hi = bootstrap_ci(v, 2000, 0)
    assert lo < v.mean() < hi and hi - lo == pytest.approx(2 * 1.96 * 2 / np.sqrt(200), rel=0.2)


def test_video_track_fits_on_the_first_frame(tmp_path):
    from pathlib import Path

    from ispsim.datasets.recipe import load_recipe

    text = Path(load_recipe("rvd").path).read_text().replace("train = 3", "train = 0").replace("val = 1", "val = 0")
    (tmp_path / "clips.toml").write_text(text)
    suite = write_suite(tmp_path / "video.toml", "video", tmp_path / "clips.toml", "video")
    assert run(tmp_path, suite, "--methods", "blind-unprocess,global-fit,sam-rbf") == 0
    df = pd.read_csv(tmp_path / "report" / "results.csv")
    assert set(df.method) == {"global-fit", "sam-rbf"}  # blind-unprocess has no video track: skipped
    import json

    frames = [json.loads(v) for v in df.psnr_frames]
    assert all(len(f) == 4 for f in frames)  # frames 2..5 of 5
    assert np.allclose(df.psnr, [np.mean(f) for f in frames], atol=1e-3)  # the CSV keeps 6 digits
    assert (df.ref_bytes == 4 * 32 * 48 * 2).all()  # the first frame's packed RAW, 16-bit
    assert (tmp_path / "report" / "clips_quick_test_psnr_vs_frame.png").is_file()


def test_perf_methods_times_every_method(capsys, monkeypatch, tmp_path):
    from ispsim.bench.perf_methods import main as perf
    from ispsim.methods.cam.method import CAM

    assert perf(["--size", "64x96", "--skip", "inf", "--scan-length", "256"]) == 0
    table = capsys.readouterr().out
    assert "selective scan, 256 tokens" in table and "x faster" in table
    for name in ("blind-unprocess", "global-fit", "sam-rbf", "oracle", "priorraw", "cam", "cam-ft", "rawmamba"):
        assert f"| {name} |" in table
    assert "untrained" not in table  # every trainable method here ships cpu weights: PSNRs are real
    # Without its checkpoint a method is timed with untrained weights, and its PSNR is not printed.
    monkeypatch.setattr(CAM, "shipped_checkpoint", lambda self, camera: tmp_path / "absent.pt")
    skip = "blind-unprocess,global-fit,sam-rbf,oracle,priorraw-search,priorraw,cam-ft,inf,rawmamba"
    assert perf(["--size", "64x96", "--skip", skip, "--scan-length", "64"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| cam |")]
    assert len(rows) == 1 and "| untrained |" in rows[0]


def test_list_names_only_the_checkpoints_a_method_loads(capsys):
    """An ablation shares its method's checkpoint names but not its settings: the list must not
    credit it with the method's shipped weights."""
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shipped = {lines[i].split()[0]: lines[i + 1] for i in range(len(lines) - 1) if "checkpoints:" in lines[i + 1]}
    assert "rddm-cpu-all" in shipped["rddm"]
    assert "none shipped" in shipped["rddm-allinone"] and "none shipped" in shipped["rddm-rawloss"]
    assert "rawmamba-no-base-cpu-image" in shipped["rawmamba-no-base"]
    assert "rawmamba-no-base" not in shipped["rawmamba-no-geb"]


def test_a_torn_last_cache_line_is_dropped_with_a_warning_and_rerun(tmp_path, capsys):
    from ispsim.bench.runner import read_cache

    cache = tmp_path / "m-abc-def.jsonl"
    cache.write_text(json.dumps({"index": 0, "psnr": 40.0}) + "\n" + '{"index": 1, "psn')  # killed mid-write
    done = read_cache(cache)
    assert list(done) == [0]
    assert "m-abc-def.jsonl: dropped 1 torn" in capsys.readouterr().err
    assert cache.read_text() == json.dumps({"index": 0, "psnr": 40.0}) + "\n"  # appends start on a whole line


def test_a_damaged_checkpoint_is_a_failure_on_the_leaderboard_and_the_run_exits_non_zero(tmp_path, suite, monkeypatch,
                                                                                        capsys):
    from ispsim.errors import DataError
    from ispsim.methods.checkpoints import load_checkpoint, write_card
    from ispsim.methods.rawmamba.method import RAWMamba

    bad = tmp_path / "w.pt"
    torch.save({"w": torch.zeros(3)}, bad)
    write_card(bad, {"sha256": "0" * 64})  # weights that are not the card's
    monkeypatch.setattr(RAWMamba, "fit", lambda self, store, progress=True: load_checkpoint(bad))
    assert run(tmp_path, suite, "--methods", "sam-rbf,rawmamba") == 1
    assert "rawmamba failed on tiny/quick/test" in capsys.readouterr().err
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## Failures" in board and "rawmamba" in board and "does not match its model card" in board
    assert "| sam-rbf |" in board  # the others still ranked
    card = bad.with_suffix(".json")
    card.write_text(card.read_text()[:10])
    with pytest.raises(DataError, match=r"w\.json: model card is unreadable"):
        load_checkpoint(bad)


@pytest.mark.slow
def test_a_partial_run_after_a_full_one_keeps_every_row_and_the_header_says_where(tmp_path, suite, capsys):
    assert run(tmp_path, suite, "--methods", "all") == 0
    out = tmp_path / "report"
    full = pd.read_csv(out / "results.csv")
    assert run(tmp_path, suite, "--methods", "global-fit") == 0
    after = pd.read_csv(out / "results.csv")
    key = ["method", "dataset", "index"]
    assert set(map(tuple, full[key].values)) == set(map(tuple, after[key].values))
    board = (out / "leaderboard.md").read_text()
    assert all(f"| {m} |" in board or f"| {m} (upper bound) |" in board for m in set(full.method))
    assert "Made " in board and " at commit `" in board and "cores" in board and "torch " in board and "numpy " in board
    assert "Command: `bench run --suite" in board
    assert {"commit", "machine"} <= set(after.columns) and after["machine"].str.contains("cores").all()
    # Removing the cache and rerunning one method still keeps the others, from results.csv.
    for f in (out / "cache").glob("*.jsonl"):
        if not f.name.startswith("global-fit"):
            f.unlink()
    assert run(tmp_path, suite, "--methods", "global-fit") == 0
    again = pd.read_csv(out / "results.csv")
    assert set(map(tuple, again[key].values)) == set(map(tuple, full[key].values))


@pytest.mark.slow
def test_quick_suite_uses_shipped_cpu_weights_where_they_fit_and_marks_smoke_rows(tmp_path):
    from ispsim.bench.report import summarise, _table
    from ispsim.bench.runner import Runner
    from ispsim.datasets.build import build
    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.store import DatasetStore

    build(load_recipe("rddm"), tmp_path / "rddm", "quick", progress=False)
    runner = Runner(load_suite("quick"), tmp_path / "out", data_dir=tmp_path, progress=False)
    assert runner._method_for("isp-unet", DatasetStore(tmp_path / "rddm")).profile == "cpu"  # its cpu weights ship
    assert runner._method_for("rddm-rawloss", DatasetStore(tmp_path / "rddm")).profile == "quick"  # none ship
    rows = pd.DataFrame([
        {"track": "image", "dataset": "d", "camera": "c", "method": m, "upper_bound": False, "psnr": p, "ssim": 0.9,
         "lpips": None, "sec_per_mp": 1.0, "peak_mb": 1.0, "ref_bytes": 0, "index": i, "note": note}
        for m, p, note in (("net", 40.0, "smoke: 10 training steps"), ("classic", 30.0, "")) for i in range(3)])
    table = _table(summarise(rows, 0).query("camera == 'all'"), "n/a")
    assert [r[0] for r in table[1:]] == ["classic", "net (smoke: 10 training steps)"]


def test_points_at_one_byte_count_are_spread_apart_and_centred():
    from ispsim.bench.report import _spread

    xs = _spread([100.0, 100.0, 100.0, 500.0], False)
    assert len(set(xs)) == 4 and abs(np.mean(xs[:3]) - 100.0) < 1e-9 and xs[3] == 500.0


@pytest.mark.slow
def test_denoising_track_scores_packed_raw_and_srgb_per_ratio_band(tmp_path, monkeypatch):
    from ispsim.methods.denoise import training_pairs

    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    suite = write_suite(tmp_path / "ll.toml", "ll", "lowlight", "denoising")
    assert run(tmp_path, suite, "--methods", "nlm-known,denoise-pg", "--no-lpips") == 0
    df = pd.read_csv(tmp_path / "report" / "results.csv")
    assert set(df.method) == {"nlm-known", "denoise-pg"} and df.psnr_srgb.notna().all() and df.ratio.between(100, 300).all()
    board = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "## denoising track: lowlight/quick/test" in board and "### ratio" in board
    pg = df[df.method == "denoise-pg"]
    assert (pg.profile == "cpu").all() or "denoise-pg (smoke:" in board  # shipped cpu weights, or marked smoke
    from ispsim.datasets.store import DatasetStore

    store = DatasetStore(next(p for p in (tmp_path / "data").iterdir() if p.is_dir()))
    x_pg, y_pg = training_pairs(store, "P+G")
    x_full, y_full = training_pairs(store, "P+TL+R+Q+C")
    assert torch.equal(y_pg, y_full) and not torch.equal(x_pg, x_full)  # same scenes, other noise


def test_rows_scored_with_weights_from_an_older_data_build_say_so(tmp_path, monkeypatch):
    import ispsim.methods.base as base
    from ispsim.bench.runner import stale_weights_note
    from ispsim.datasets.recipe import load_recipe
    from ispsim.methods.checkpoints import write_card

    monkeypatch.setattr(base, "SETTINGS_DIR", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    recipe = load_recipe("rddm")
    write_card(tmp_path / "checkpoints" / "unet-raw-cpu-all.pt", {"data": {"recipe": "rddm", "digest": "0" * 16}})
    assert stale_weights_note("unet-raw", "cpu", recipe) == "weights from an older build of the data"
    write_card(tmp_path / "checkpoints" / "unet-raw-cpu-all.pt", {"data": {"recipe": "rddm", "digest": recipe.digest()}})
    assert stale_weights_note("unet-raw", "cpu", recipe) == ""


def test_a_results_csv_of_stale_datasets_only_is_dropped_not_a_crash(tmp_path):
    from ispsim.bench.report import merge_results

    (tmp_path / "results.csv").write_text("method,dataset,index,dataset_hash,psnr\nx,d,0,oldhash,30\n")
    new = pd.DataFrame([{"method": "y", "dataset": "d", "index": 0, "dataset_hash": "newhash", "psnr": 31.0}])
    out = merge_results(tmp_path, new, {"newhash"})
    assert list(out["method"]) == ["y"]


def test_budget_rows_read_the_shipped_cards_beside_the_paper_profile():
    from ispsim.bench.budget import budget_rows, budget_table
    from ispsim.methods import create_method

    rows = {r["method"]: r for r in budget_rows([("cam", "cpu"), ("global-fit", "cpu"), ("denoise-physics", "cpu")])}
    assert "global-fit" not in rows  # nothing trained, no budget
    cam, paper = create_method("cam", "cpu").settings, create_method("cam", "paper").settings
    expected = cam["steps"] * cam["batch"] * cam["patch"] ** 2 / (paper["steps"] * paper["batch"] * paper["patch"] ** 2)
    assert rows["cam"]["models"] == 3 and rows["cam"]["share"] == pytest.approx(expected)
    table = budget_table(list(rows.values()))
    assert table[0][0] == "method" and len(table) == 3


def test_budget_of_a_method_partly_retrained_sums_what_was_stamped_and_says_so(monkeypatch):
    from ispsim.bench import budget

    cards = [{"track": "image", "settings": {"steps": 10, "batch": 2, "patch": 8}, "budget": {"train_seconds": 120.0, "threads": 1}},
             {"track": "video", "settings": {"steps": 10, "batch": 2, "patch": 8}}]
    monkeypatch.setattr(budget, "_cards", lambda method: cards)
    (row,) = budget.budget_rows([("rawmamba", "cpu")])
    assert row["minutes"] == 2.0 and row["budget_note"] == "image only; video trained before budgets were stamped"
    assert budget.budget_table([row])[1][4] == "2.0 (1 thread; image only; video trained before budgets were stamped)"


def test_learning_curves_share_a_panel_per_metric(tmp_path, monkeypatch):
    """The de-rendering methods' per-image validation PSNRs are one panel (the legend names each
    one's reference); other metrics get their own."""
    import matplotlib.axes

    from ispsim.bench.budget import learning_curves

    rows = [{"method": m, "curves": {"sony": [[1, 30.0], [2, 31.0]]}, "curve_metric": metric} for m, metric in (
        ("cam", "validation PSNR per image, learned samples (dB)"),
        ("priorraw", "validation PSNR per image, prior bank (dB)"),
        ("denoise-g", "validation PSNR, packed RAW (dB)"))]
    labels = []
    monkeypatch.setattr(matplotlib.axes.Axes, "legend", lambda ax, **kw: labels.append(
        [(ax.get_ylabel(), line.get_label()) for line in ax.get_lines()]))
    assert learning_curves(rows, tmp_path / "c.png") == "c.png" and (tmp_path / "c.png").is_file()
    assert labels == [[("validation PSNR per image (dB)", "cam (sony), learned samples"),
                       ("validation PSNR per image (dB)", "priorraw (sony), prior bank")],
                      [("validation PSNR, packed RAW (dB)", "denoise-g (sony)")]]


def test_learning_curves_wrap_into_rows_of_three_panels(tmp_path):
    import matplotlib.image

    from ispsim.bench.budget import learning_curves

    rows = [{"method": f"m{k}", "curves": {"all": [[1, 30.0], [2, 31.0]]}, "curve_metric": f"metric {k} (dB)"}
            for k in range(4)]
    learning_curves(rows, tmp_path / "c.png")
    h, w = matplotlib.image.imread(tmp_path / "c.png").shape[:2]
    assert (w, h) == (6 * 3 * 110, round(3.6 * 2 * 110))  # three columns, two rows, at 110 dpi


def test_rows_scored_with_weights_of_another_recipe_say_so():
    from ispsim.bench.runner import stale_weights_note
    from ispsim.datasets.recipe import load_recipe

    cam_recipe = load_recipe("nus")  # cam's shipped cards name the nus recipe at its current digest
    assert stale_weights_note("cam", "cpu", cam_recipe) == ""
    assert stale_weights_note("cam", "cpu", load_recipe("nus-localtone")) == "weights trained on other data (nus)"


def test_sam_rbf_fits_a_flat_patch_whose_samples_share_one_colour():
    """A clipped sky: every sample of a tile has one sRGB colour, so the affine term of the RBF
    is undetermined (it raised LinAlgError on a 816 x 1216 test image); the fit stays constant."""
    from ispsim.methods import create_method
    from ispsim.methods.base import Reference

    h, w = 128, 192
    srgb = np.ones((3, h, w), np.float32)
    srgb[:, :, 128:] = np.linspace(0.2, 0.8, 64, dtype=np.float32)  # the right third varies
    raw = (srgb ** 2.2 * np.array([0.5, 0.9, 0.7], np.float32)[:, None, None]).astype(np.float32)
    mask = np.zeros((h, w), bool)
    mask[::8, ::8] = True
    out = create_method("sam-rbf", "cpu").reconstruct({"srgb": srgb, "camera": "sony"},
                                                      Reference("sampled", srgb=srgb, raw=raw, mask=mask))
    np.testing.assert_allclose(out[:, :121, :64], raw[:, :121, :64], atol=1e-3)  # within the samples, to the smoothing


def test_commit_is_dirty_for_changed_code_not_for_reports_being_written(tmp_path):
    import subprocess

    from ispsim.bench.provenance import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "reports").mkdir()
    (tmp_path / "code.py").write_text("a = 1\n")
    (tmp_path / "reports" / "results.csv").write_text("x\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "one")
    clean = git_commit(tmp_path)
    assert len(clean) >= 7 and "dirty" not in clean
    (tmp_path / "reports" / "results.csv").write_text("x\ny\n")  # a bench run writing its report
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("a = 2\n")
    assert git_commit(tmp_path) == clean + " dirty"
