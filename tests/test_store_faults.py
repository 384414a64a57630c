"""Fault injection on dataset stores: each damage is found, named, and healed by the next build."""

import shutil
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from ispsim.cli.main import main
from ispsim.datasets.loaders import ImageDataset, PatchDataset
from ispsim.datasets.store import DatasetStore
from ispsim.errors import DataError


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    out = tmp_path_factory.mktemp("pristine") / "s"
    assert main(["dataset", "build", "rddm", "-o", str(out), "-q"]) == 0
    return out


@pytest.fixture
def store(pristine, tmp_path):
    out = tmp_path / "s"
    shutil.copytree(pristine, out)
    return out


def _bytes(path):
    s = DatasetStore(path)
    return {(sp, i): {k: v.tobytes() for k, v in s.read_sample(sp, i).items()} for sp in s.counts for i in range(s.counts[sp])}


def _rebuild_heals(store, pristine, capsys):
    assert main(["dataset", "build", "rddm", "-o", str(store), "-q"]) == 0
    out = capsys.readouterr().out
    assert "repaired 0" not in out
    assert DatasetStore(store).verify() == []
    assert _bytes(store) == _bytes(pristine)


def test_flipped_byte_in_a_chunk_is_named_by_the_loader_and_rebuilt(store, pristine, capsys):
    s = DatasetStore(store)
    f = s.chunk_file("test", "linear", 1)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"sample test/1, field 'linear'"):
        [ImageDataset(store, "test")[k] for k in range(4)]
    _rebuild_heals(store, pristine, capsys)


def test_deleted_chunk_is_not_read_as_nan(store, pristine, capsys):
    s = DatasetStore(store)
    s.chunk_file("train", "lq_raw", 2).unlink()
    with pytest.raises(DataError, match=r"train/2, field 'lq_raw'.*sha256"):
        [PatchDataset(store, "train", patch=32)[k] for k in range(len(PatchDataset(store, "train", patch=32)))]
    _rebuild_heals(store, pristine, capsys)


def test_swapped_chunks_are_caught(store, pristine, capsys):
    s = DatasetStore(store)
    a, b = s.chunk_file("test", "hq_srgb", 0), s.chunk_file("test", "hq_srgb", 1)
    ta, tb = a.read_bytes(), b.read_bytes()
    a.write_bytes(tb)
    b.write_bytes(ta)
    with pytest.raises(DataError, match="test/0, field 'hq_srgb'"):
        s.read_sample("test", 0)
    _rebuild_heals(store, pristine, capsys)


def test_truncated_array_metadata_is_reported_once_and_rewritten(store, pristine, capsys):
    f = store / "train" / "lq_raw" / "zarr.json"
    f.write_text(f.read_text()[:40])
    problems = DatasetStore(store).verify()
    assert len(problems) == 1 and "train/lq_raw/zarr.json" in str(problems[0])
    _rebuild_heals(store, pristine, capsys)


def test_corrupt_marker_does_not_crash_info_and_is_rebuilt(store, pristine, capsys):
    m = DatasetStore(store).marker("val", 0)
    m.write_text(m.read_text()[:30])
    assert main(["dataset", "info", str(store)]) == 0
    out = capsys.readouterr().out
    assert "unreadable markers: val/0" in out and "not checked here" in out
    _rebuild_heals(store, pristine, capsys)


@pytest.mark.parametrize("command", ["info", "verify", "build"])
def test_truncated_root_metadata_gives_one_line_naming_the_file(store, capsys, command):
    f = store / "zarr.json"
    f.write_text(f.read_text()[:100])
    argv = ["dataset", command, str(store)] if command != "build" else ["dataset", "build", "rddm", "-o", str(store)]
    assert main(argv) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("ispsim: error")]
    assert len(err) == 1 and "zarr.json" in err[0] and "unreadable" in err[0]


@pytest.mark.slow
def test_two_builds_on_one_folder_build_each_sample_once(tmp_path):
    out = tmp_path / "s"
    cmd = [sys.executable, "-c", "import sys; from ispsim.cli.main import main; sys.exit(main(sys.argv[1:]))",
           "dataset", "build", "rddm", "-o", str(out), "-q"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    built = sum(int(o.split("built ")[1].split(",")[0]) for o, _, _ in results)
    assert built == sum(DatasetStore(out).counts.values())  # nobody built a sample twice
    assert DatasetStore(out).verify() == []


_RDDM = (Path(__file__).resolve().parents[1] / "datasets" / "rddm.toml").read_text()
_NUS = (Path(__file__).resolve().parents[1] / "datasets" / "nus.toml").read_text()


@pytest.mark.parametrize("base, old, new, named", [
    (_NUS, 'white_balance = "as_shot"', 'white_balance = "as_shot"\nexposure = inf', "exposure"),
    (_NUS, 'hue_twist = [8.0, 12.0]', 'hue_twist = [8.0, 40.0]', "hue_twist"),
    (_NUS, 'cct_range = [2800, 7500]', 'cct_range = [nan, 7500]', "cct_range"),
    (_RDDM, 'gamma = 2.2', 'gamma = 0', "gamma"),
    (_RDDM, 'cameras = ["sony", "phone"]', 'cameras = [1]', "cameras"),
    (_RDDM, 'seed = 2025', 'seed = -1', "seed"),
    (_RDDM, 'bayer = ["RGGB", "BGGR", "GRBG", "GBRG"]', 'bayer = []', "bayer"),
    (_RDDM, 'height = 96', 'height = 100000', "height"),
    (_RDDM, 'train = 4', 'train = 1000000000000', "train"),
    (_RDDM, 'source = "skimage"', 'source = "srgb_folder"\npath = "/nonexistent/photos"', "/nonexistent/photos"),
])
def test_bad_recipe_values_are_refused_up_front_naming_the_field(tmp_path, capsys, base, old, new, named):
    f = tmp_path / "r.toml"
    assert old in base  # the edit lands: a recipe rewritten under the test would make it vacuous
    f.write_text(base.replace(old, new))
    assert main(["dataset", "build", str(f), "-o", str(tmp_path / "out"), "-q"]) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("ispsim: error")]
    assert len(err) == 1 and named in err[0]
    assert not (tmp_path / "out").exists()  # nothing allocated, nothing written


def test_large_sizes_pass_with_allow_large_and_the_size_is_estimated():
    from ispsim.datasets.recipe import check_size, load_recipe, parse_recipe

    r = parse_recipe(_RDDM.replace("height = 96", "height = 9600"), "big.toml")
    with pytest.raises(Exception, match="above the limit of 8192"):
        check_size(r, "quick")
    assert check_size(r, "quick", allow_large=True) == 4 * (1 + 3 + 3) * 9600 * 128 * (4 + 1 + 2) * 2
    assert check_size(load_recipe("rddm"), "quick") == 4 * 7 * 96 * 128 * 14


@pytest.mark.parametrize("stale", [False, True])
def test_a_second_build_waits_for_the_lock_and_names_a_live_holder_only(tmp_path, capsys, stale):
    import time

    from ispsim.datasets.build import build_lock

    out = tmp_path / "store"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    overwrite = f"os.pwrite(fd, b'{dead.stdout.strip()}\\n', 0)" if stale else "pass"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import os, sys, time
from pathlib import Path
from ispsim.datasets.build import build_lock
with build_lock(Path({str(out)!r})):
    fd = os.open({str(tmp_path / '.store.lock')!r}, os.O_RDWR)
    {overwrite}
    print("held", flush=True)
    time.sleep(1.5)
"""], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    start = time.monotonic()
    with build_lock(out):
        waited = time.monotonic() - start
    holder.wait()
    err = capsys.readouterr().err
    assert "waiting for it to finish" in err and waited > 0.5
    assert ("another process" in err) if stale else (f"pid {holder.pid}" in err)
