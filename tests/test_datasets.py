import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ispsim.datasets.build import build
from ispsim.datasets.loaders import ClipDataset, ImageDataset, PatchDataset
from ispsim.datasets.recipe import load_recipe, parse_recipe
from ispsim.datasets.sampling import ReferenceSampler
from ispsim.datasets.store import DatasetStore
from ispsim.cli.main import main
from ispsim.errors import ConfigError
from ispsim.pipeline import Pipeline, Record

from .conftest import psnr

SMALL = """
[dataset]
name = "small"
style = "nus"
seed = 7

[scenes]
source = "synthetic"

[isp]
cameras = ["sony", "samsung"]

[isp.pipeline]
local_tone = [0.2, 0.4]

[sizes.quick]
height = 48
width = 64
train = 3
val = 1
test = 2

[sizes.many]
height = 64
width = 96
train = 40
val = 0
test = 0
"""


def small(tmp_path, text=SMALL):
    f = tmp_path / "small.toml"
    f.write_text(text)
    return load_recipe(f)


def store_bytes(path):
    """Every array value and marker of a store, for byte-for-byte comparison."""
    s = DatasetStore(path)
    out = {}
    for split, n in s.counts.items():
        for name in s.fields if n else ():
            out[f"{split}/{name}"] = s.array(split, name)[:].tobytes()
    for p in sorted((Path(path) / "_samples").rglob("*.json")):
        out[str(p.relative_to(path))] = p.read_bytes()
    return out


def test_shipped_recipes_parse():
    for name in ("nus", "rvd", "rddm"):
        r = load_recipe(name)
        assert {"quick", "full"} <= set(r.sizes)
    bench = r.with_size("bench", 32, 48, test=2)
    assert bench.size("bench").counts == {"train": 0, "val": 0, "test": 2} and bench.digest() != r.digest()


@pytest.mark.parametrize("edit,match", [
    (("[dataset]", "[dataset]\ncolour = 1"), r"small.toml: \[dataset\].colour: unknown key"),
    (("seed = 7", ""), r"small.toml: \[dataset\].seed: missing required field"),
    (("local_tone = [0.2, 0.4]", "local_tone = [0.4, 0.2]"), r"\[isp.pipeline\].local_tone: a range is \[low, high\]"),
    (("source = \"synthetic\"", "source = \"synthetic\"\ncct_range = [100, 7000]"), r"\[scenes\].cct_range: expected low <= high within"),
    (("height = 48", "height = 50"), r"\[sizes.quick\]: height and width must be multiples of 16"),
    (("cameras = [\"sony\", \"samsung\"]", "cameras = [\"canon\"]"), r"\[isp\].cameras: camera 'canon' matches no camera"),
    (("[sizes.quick]", "[isp.looks.canon]\nlocal_tone = 0.1\n\n[sizes.quick]"), r"\[isp.looks.canon\]: camera 'canon' matches no camera"),
    (("[sizes.quick]", "[isp.looks.sony]\ntone = 0.1\n\n[sizes.quick]"), r"\[isp.looks.sony\].tone: unknown key"),
])
def test_recipe_errors_name_file_and_field(tmp_path, edit, match):
    with pytest.raises(ConfigError, match=match):
        small(tmp_path, SMALL.replace(*edit))


def test_per_camera_looks_override_the_shared_pipeline(tmp_path):
    r = small(tmp_path, SMALL.replace("[sizes.quick]", "[isp.looks.samsung]\nlocal_tone = 0.0\ntone_curve = 0.5\n\n[sizes.quick]"))
    sony, samsung = r.pipeline_for("sony_slt_a57"), r.pipeline_for("samsung_nx2000")
    assert sony.local_tone == (0.2, 0.4) and sony.tone_curve is None
    assert samsung.local_tone == 0.0 and samsung.tone_curve == 0.5
    from ispsim.datasets.generators import make_sample

    for i, (cam, lt, tc) in enumerate([("sony_slt_a57", (0.2, 0.4), None), ("samsung_nx2000", (0.0, 0.0), (0.5, 0.5))]):
        _, params = make_sample(r, "quick", "train", i)
        rec = params["record"]
        assert params["camera"] == cam and lt[0] <= rec["local_tone"] <= lt[1]
        if tc:
            assert rec["tone_curve"] == tc[0]


@pytest.mark.slow
def test_same_bytes_for_one_two_workers_and_dask(tmp_path):
    r = small(tmp_path)
    build(r, tmp_path / "one", "quick", workers=1, progress=False)
    build(r, tmp_path / "two", "quick", workers=2, progress=False)
    report = build(r, tmp_path / "dask", "quick", workers=2, dask="local", progress=False)
    assert report.built == 12 and not report.failed
    one = store_bytes(tmp_path / "one")
    assert one == store_bytes(tmp_path / "two") == store_bytes(tmp_path / "dask")
    assert DatasetStore(tmp_path / "one").verify() == []


@pytest.mark.slow
def test_killed_build_resumes_to_identical_bytes(tmp_path):
    r = small(tmp_path)
    build(r, tmp_path / "whole", "many", progress=False)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "ispsim.cli.main", "dataset", "build", str(tmp_path / "small.toml"),
           "-o", str(out), "--size", "many", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "_samples").rglob("*.json"))) < 8:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = DatasetStore(out)
    pending = store.pending()
    total = sum(store.counts.values())
    assert total == 80 and 0 < len(pending) < total, "the build must be interrupted mid-way"
    # A chunk left half-written by the kill must not survive the resume.
    chunk = out / "train" / "raw" / "c" / str(pending[0][1]) / "0" / "0" / "0"
    chunk.parent.mkdir(parents=True, exist_ok=True)
    chunk.write_bytes(b"half-written")
    report = build(r, out, "many", progress=False)
    assert report.built == len(pending) and report.skipped == total - len(pending)
    assert store_bytes(out) == store_bytes(tmp_path / "whole")


def test_verify_names_corrupt_and_missing_samples(tmp_path):
    r = small(tmp_path)
    out = tmp_path / "s"
    build(r, out, "quick", progress=False)
    chunk = out / "train" / "srgb" / "c" / "2" / "0" / "0" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    (out / "_samples" / "test" / "000001.json").unlink()
    problems = [str(p) for p in DatasetStore(out).verify()]
    assert len(problems) == 2
    assert any(p.startswith("train/2: corrupt:") and "field 'srgb'" in p for p in problems)
    assert "test/1: missing: no completion marker" in problems
    from ispsim.cli.main import main

    assert main(["dataset", "verify", str(out)]) == 1


def test_failed_scene_is_recorded_and_the_build_goes_on(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "d.png"):
        Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(folder / name)
    (folder / "c.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    text = SMALL.replace('source = "synthetic"', f'source = "srgb_folder"\npath = "{folder}"').replace(
        'cameras = ["sony", "samsung"]', 'cameras = ["sony"]')
    r = small(tmp_path, text)
    out = tmp_path / "s"
    report = build(r, out, "quick", progress=False)
    from ispsim.datasets.generators import scene_plan

    plan = scene_plan(r, r.size("quick"))  # each split reads its own scenes only
    reads_c = [(s, i) for s, names in plan.items() for i, name in enumerate(names) if name == "c"]
    assert reads_c and sorted((s, i) for s, i, _ in report.failed) == sorted(reads_c)
    assert "c.jpg: cannot read as an image" in report.failed[0][2]
    assert report.built == 6 - len(reads_c)
    store = DatasetStore(out)
    assert store.failures()[0]["error"] == report.failed[0][2]
    assert [p.kind for p in store.verify()] == ["failed"]
    # Fixing the file and resuming builds just that sample.
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(folder / "c.jpg")
    report = build(r, out, "quick", progress=False)
    assert report.built == len(reads_c) and store.verify() == [] and store.failures() == []


def test_nus_local_tone_mapping_is_real():
    """Inverting without undoing the local tone map scores >= 3 dB below the full inverse."""
    r = load_recipe("nus-localtone")  # the first calibration; nus itself has no local tone now
    from ispsim.datasets.generators import make_sample

    full, partial = [], []
    size = r.size("quick")
    for split in ("train", "val", "test"):
        first = r.cameras.index("samsung_nx2000")  # the camera whose look has a strong local tone map
        for i in range(first, size.counts[split] * len(r.cameras), len(r.cameras)):
            arrays, params = make_sample(r, "quick", split, i)
            assert params["camera"] == "samsung_nx2000"
            record = Record.from_dict(params["record"])
            full.append(psnr(arrays["raw"], Pipeline.invert(arrays["srgb"], record, mosaic=False)))
            partial.append(psnr(arrays["raw"], Pipeline.invert(arrays["srgb"], replace(record, local_tone=0.0), mosaic=False)))
    assert np.mean(full) - np.mean(partial) >= 3


def test_rvd_flow_aligns_frames(tmp_path):
    text = open(load_recipe("rvd").path).read().replace("drift = 0.15", "drift = 0.0")
    r = parse_recipe(text, tmp_path / "rvd.toml")
    from ispsim.datasets.generators import make_sample
    from scipy.ndimage import map_coordinates

    arrays, params = make_sample(r, "quick", "train", 1)
    srgb, flow = arrays["srgb"], arrays["flow"]
    t, _, h, w = srgb.shape
    assert arrays["raw"].shape == (t, 4, h // 2, w // 2)
    assert np.all(flow[0] == 0)
    yy, xx = np.mgrid[0:h, 0:w]
    gains = []
    for k in range(1, t):
        dx, dy = flow[k]
        warped = np.stack([map_coordinates(srgb[k - 1, c], [yy + dy, xx + dx], order=1, mode="nearest") for c in range(3)])
        inner = (slice(None), slice(6, -6), slice(6, -6))
        gains.append(psnr(srgb[k][inner], warped[inner]) - psnr(srgb[k][inner], srgb[k - 1][inner]))
    assert min(gains) > 3


def test_rddm_linear_ground_truth_renders_to_hq():
    r = load_recipe("rddm")
    from ispsim.datasets.generators import make_sample

    seen = set()
    for i in range(6):
        arrays, params = make_sample(r, "quick", "train", i)
        record = Record.from_dict(params["record"])
        assert record.cfa == params["bayer"] and params["iso"] >= 100
        assert psnr(arrays["hq_srgb"], Pipeline.finish(arrays["linear"], record)) > 40
        assert psnr(arrays["hq_srgb"], Pipeline.finish(arrays["linear"], record)) > psnr(arrays["hq_srgb"], np.zeros_like(arrays["hq_srgb"])) + 20
        seen.add(params["bayer"])
    assert len(seen) >= 2


def test_torch_readers(tmp_path):
    r = small(tmp_path)
    build(r, tmp_path / "s", "quick", progress=False)
    ds = PatchDataset(tmp_path / "s", "train", patch=32, stride=16, camera="sony_slt_a57",
                      reference=ReferenceSampler("random", 1 / 64))
    assert len(ds) == 3 * 2 * 3  # 3 Sony samples x 2 rows x 3 columns of patches
    item = ds[4]
    assert item["srgb"].shape == (3, 32, 32) and item["raw"].dtype == torch.float32
    assert int(item["mask"].sum()) == 16 and torch.equal(ds[4]["mask"], item["mask"])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    batch = next(iter(loader))
    assert batch["srgb"].shape == (4, 3, 32, 32)
    whole = ImageDataset(tmp_path / "s", "test", reference=ReferenceSampler("uniform", 1 / 64))
    assert len(whole) == 4 and whole[0]["srgb"].shape == (3, 48, 64)
    assert int(whole[0]["mask"].sum()) == (48 // 8) * (64 // 8)
    with pytest.raises(ConfigError, match="no fields"):
        PatchDataset(tmp_path / "s", "train", fields=("flow",))


def test_clip_reader_and_cli(tmp_path, capsys):
    from ispsim.cli.main import main

    out = tmp_path / "rvd"
    assert main(["dataset", "build", "rvd", "-o", str(out), "-q"]) == 0
    clips = ClipDataset(out, "test")
    item = clips[0]
    assert item["raw"].shape == (5, 4, 32, 48) and item["flow"].shape == (5, 2, 64, 96)
    assert main(["dataset", "info", str(out)]) == 0
    assert "train 3/3 complete" in capsys.readouterr().out
    assert main(["dataset", "show", str(out), "-o", str(tmp_path / "sheet.png"), "-n", "2"]) == 0
    from PIL import Image

    assert Image.open(tmp_path / "sheet.png").size[0] > 4 * 96


def test_mosaic_patches_keep_the_bayer_phase(tmp_path):
    out = tmp_path / "rddm"
    build(load_recipe("rddm"), out, "quick", progress=False)
    ds = PatchDataset(out, "train", patch=33, stride=7)
    assert ds.patch == (32, 32)
    assert all(y % 2 == 0 and x % 2 == 0 for _, y, x in ds.items)
    item = ds[3]
    assert item["lq_raw"].shape == (1, 32, 32) and item["linear"].shape == (3, 32, 32)


def test_a_kill_while_the_store_is_created_leaves_nothing_or_a_resumable_store(tmp_path):
    """kill -9 at an injected point inside creation (after the group's zarr.json, before the
    attributes), then build again: it must build, not refuse the folder."""
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "s"
    code = textwrap.dedent(f"""
        import os, signal
        import zarr
        from ispsim.datasets.recipe import load_recipe
        from ispsim.datasets.store import DatasetStore
        real = zarr.Group.create_array
        def create_array(self, *a, **k):
            os.kill(os.getpid(), signal.SIGKILL)  # dies with the group's zarr.json written, nothing else
        zarr.Group.create_array = create_array
        DatasetStore.create_or_open({str(out)!r}, load_recipe("rddm"), "quick")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    assert not out.exists()  # the half-made skeleton sits under a hidden temporary name
    assert main(["dataset", "build", "rddm", "-o", str(out), "-q"]) == 0
    assert not list(tmp_path.glob(".s.creating-*"))
    assert DatasetStore(out).verify() == []
