"""Fault injection against dataset stores, the loaders, ``bench run`` and checkpoints.

Builds a fresh quick store, damages copies of it in every way listed below, and runs the
commands a user would run next. Prints a table (case, expected, observed, pass) and writes it to
``reports/faults.md``. Exit status 1 if any case fails. Every command runs in its own process:
a traceback anywhere counts as a failure.

    python benchmarks/faults.py [-o reports/faults.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CASES = []


def case(name, expected):
    def wrap(fn):
        CASES.append((name, expected, fn))
        return fn
    return wrap


def ispsim(*args, env=None, timeout=600):
    return subprocess.run([PY, "-m", "ispsim.cli.main", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def bench(*args, env=None, timeout=900):
    return subprocess.run([PY, "-m", "ispsim.cli.bench", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def clean(p) -> bool:
    return "Traceback" not in p.stderr and "Traceback" not in p.stdout


def last(p) -> str:
    lines = (p.stderr.strip() or p.stdout.strip()).splitlines()
    return lines[-1][:160] if lines else ""


def sample_bytes(path):
    from ispsim.datasets.store import DatasetStore

    s = DatasetStore(path)
    return {(sp, i): {k: v.tobytes() for k, v in s.read_sample(sp, i).items()}
            for sp in s.counts for i in range(s.counts[sp])}


class Ctx:
    def __init__(self, work: Path):
        self.work = work
        self.pristine = work / "pristine"
        p = ispsim("dataset", "build", "rddm", "-o", self.pristine, "-q")
        if p.returncode:
            raise SystemExit(f"cannot build the quick store: {p.stderr}")
        self.reference = sample_bytes(self.pristine)
        self.n = 0

    def copy(self) -> Path:
        self.n += 1
        dst = self.work / f"s{self.n}"
        shutil.copytree(self.pristine, dst)
        return dst

    def heals(self, store) -> tuple[str, bool]:
        p = ispsim("dataset", "build", "rddm", "-o", store, "-q")
        v = ispsim("dataset", "verify", store)
        same = v.returncode == 0 and sample_bytes(store) == self.reference
        return (f"build rc {p.returncode} ({p.stdout.strip().split(': ', 1)[-1]}); verify rc {v.returncode}; "
                f"{'byte-identical' if same else 'DIFFERS'}"), p.returncode == 0 and same and clean(p) and clean(v)


def _loader_error(store, code) -> tuple[str, bool]:
    p = subprocess.run([PY, "-c", code, str(store)], capture_output=True, text=True)
    err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "no error"
    return err, "DataError" in err and "field" in err


@case("kill -9 while the store is created", "next build makes a whole store")
def kill_at_creation(ctx):
    out = ctx.work / "created"
    code = textwrap.dedent(f"""
        import os, signal, zarr
        from ispsim.datasets.recipe import load_recipe
        from ispsim.datasets.store import DatasetStore
        zarr.Group.create_array = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        DatasetStore.create_or_open({str(out)!r}, load_recipe("rddm"), "quick")
    """)
    k = subprocess.run([PY, "-c", code], capture_output=True)
    left = "nothing" if not out.exists() else "a folder"
    obs, ok = ctx.heals(out)
    return f"killed (rc {k.returncode}), left {left}; {obs}", ok and k.returncode == -9


@case("kill -9 during writing, 3 points", "resume is byte-identical, nothing lost")
def kill_while_writing(ctx):
    results = []
    for k in (1, 4, 9):
        out = ctx.work / f"killed{k}"
        proc = subprocess.Popen([PY, "-m", "ispsim.cli.main", "dataset", "build", "rddm", "-o", str(out), "-q"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while time.time() - t0 < 120:
            if len(list((out / "_samples").rglob("*.json"))) >= k or proc.poll() is not None:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        obs, ok = ctx.heals(out)
        results.append(ok)
    return f"{sum(results)} of {len(results)} resumed byte-identical", all(results)


IMAGES = ("import sys; from ispsim.datasets.loaders import ImageDataset as D; "
          "d = D(sys.argv[1], 'test'); [d[k] for k in range(len(d))]")
PATCHES = ("import sys; from ispsim.datasets.loaders import PatchDataset as D; "
           "d = D(sys.argv[1], 'train', patch=32); [d[k] for k in range(len(d))]")


def _damaged_chunks(ctx, damage, reader):
    """Damage a copy's chunks, read it as a user would, then build again: named, then healed."""
    from ispsim.datasets.store import DatasetStore

    s = ctx.copy()
    damage(DatasetStore(s))
    err, named = _loader_error(s, reader)
    obs, ok = ctx.heals(s)
    return f"{err[:90]} | {obs}", named and ok


def _flip(store):
    f = store.chunk_file("test", "linear", 1)
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))


def _swap(store):
    a, b = store.chunk_file("test", "hq_srgb", 0), store.chunk_file("test", "hq_srgb", 1)
    ta, tb = a.read_bytes(), b.read_bytes()
    a.write_bytes(tb)
    b.write_bytes(ta)


case("flipped byte in a chunk", "loader names it; build rebuilds it")(lambda ctx: _damaged_chunks(ctx, _flip, IMAGES))
case("deleted chunk", "loader names it (no NaN image); build rebuilds it")(
    lambda ctx: _damaged_chunks(ctx, lambda st: st.chunk_file("train", "lq_raw", 2).unlink(), PATCHES))
case("swapped chunks", "loader names them; build rebuilds both")(lambda ctx: _damaged_chunks(ctx, _swap, IMAGES))


@case("truncated train/lq_raw/zarr.json", "verify reports it once; build rewrites it")
def truncated_array_meta(ctx):
    s = ctx.copy()
    f = s / "train" / "lq_raw" / "zarr.json"
    f.write_text(f.read_text()[:40])
    v = ispsim("dataset", "verify", s)
    lines = [x for x in v.stdout.splitlines() if "corrupt" in x]
    obs, ok = ctx.heals(s)
    return f"verify: {len(lines)} problem line(s) | {obs}", len(lines) == 1 and clean(v) and ok


@case("truncated completion marker", "info runs and names it; build rebuilds it")
def truncated_marker(ctx):
    s = ctx.copy()
    m = s / "_samples" / "val" / "000000.json"
    m.write_text(m.read_text()[:30])
    i = ispsim("dataset", "info", s)
    named = "unreadable markers: val/0" in i.stdout and "not checked here" in i.stdout
    obs, ok = ctx.heals(s)
    return f"info rc {i.returncode}, names it: {named} | {obs}", i.returncode == 0 and named and clean(i) and ok


@case("truncated root zarr.json", "verify, info, build: one line naming the file, exit 2")
def truncated_root(ctx):
    s = ctx.copy()
    (s / "zarr.json").write_text((s / "zarr.json").read_text()[:100])
    runs = [ispsim("dataset", "verify", s), ispsim("dataset", "info", s), ispsim("dataset", "build", "rddm", "-o", s)]
    errors = [[x for x in p.stderr.splitlines() if x.startswith("ispsim: error")] for p in runs]
    ok = all(p.returncode == 2 and clean(p) and len(e) == 1 and "zarr.json" in e[0] for p, e in zip(runs, errors))
    return last(runs[0]), ok


@case("4 builds started at once on one folder", "no crash; every sample built once")
def concurrent(ctx):
    out = ctx.work / "concurrent"
    procs = [subprocess.Popen([PY, "-m", "ispsim.cli.main", "dataset", "build", "rddm", "-o", str(out), "-q"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    built = sum(int(o.split("built ")[1].split(",")[0]) for o, _, rc in outs if rc == 0 and "built " in o)
    total = sum(len(v) for v in [list(ctx.reference)])
    ok = all(rc == 0 and "Traceback" not in e for _, e, rc in outs) and built == total
    same = sample_bytes(out) == ctx.reference
    return f"exit codes {[rc for *_, rc in outs]}; samples built {built} of {total}; byte-identical {same}", ok and same


BAD_RECIPES = {
    "exposure = inf": ("nus", 'local_tone = [0.0, 0.1]', 'local_tone = [0.0, 0.1]\nexposure = inf'),
    "cct_range = [nan, 7500]": ("nus", 'cct_range = [2800, 7500]', 'cct_range = [nan, 7500]'),
    "gamma = 0": ("rddm", 'gamma = 2.2', 'gamma = 0'),
    "cameras = [1]": ("rddm", 'cameras = ["sony", "phone"]', 'cameras = [1]'),
    "seed = -1": ("rddm", 'seed = 2025', 'seed = -1'),
    "bayer = []": ("rddm", 'bayer = ["RGGB", "BGGR", "GRBG", "GBRG"]', 'bayer = []'),
    "height = 100000": ("rddm", 'height = 96', 'height = 100000'),
    "train = 10**12": ("rddm", 'train = 4', 'train = 1000000000000'),
    "missing scene folder": ("rddm", 'source = "skimage"', 'source = "srgb_folder"\npath = "/nonexistent/photos"'),
}


def _bad_recipe(ctx, label):
    base, old, new = BAD_RECIPES[label]
    f = ctx.work / "bad.toml"
    f.write_text((ROOT / "datasets" / f"{base}.toml").read_text().replace(old, new))
    t0 = time.time()
    p = ispsim("dataset", "build", f, "-o", ctx.work / "bad-out", "-q", timeout=60)
    one = len(p.stderr.strip().splitlines()) == 1
    return f"{last(p)} ({time.time() - t0:.1f} s)", p.returncode == 2 and clean(p) and one and not (ctx.work / "bad-out").exists()


for _label in BAD_RECIPES:
    case(f"recipe: {_label}", "refused up front, one line naming the field")(
        lambda ctx, _l=_label: _bad_recipe(ctx, _l))


def _suite(ctx, recipe, track, name):
    f = ctx.work / f"{name}.toml"
    f.write_text(f'[suite]\nname = "{name}"\nprofile = "quick"\n\n[[datasets]]\nrecipe = "{recipe}"\n'
                 f'size = "quick"\ntrack = "{track}"\n')
    return f


def _env(ctx):
    return {**os.environ, "ISPSIM_CACHE": str(ctx.work / "cache"), "ISPSIM_DATA": str(ctx.work / "data")}


@case("torn last line of a bench cache .jsonl", "warning naming the file; rerun completes")
def torn_cache(ctx):
    suite, out = _suite(ctx, "nus", "image", "torn"), ctx.work / "torn-report"
    p = bench("run", "--suite", suite, "--methods", "global-fit", "--out", out, "-q", "--no-lpips", env=_env(ctx))
    cache = next((out / "cache").glob("global-fit-*.jsonl"))
    text = cache.read_text()
    cache.write_text(text[: len(text) - 40])  # the last row cut mid-write
    q = bench("run", "--suite", suite, "--methods", "global-fit", "--out", out, "-q", "--no-lpips", env=_env(ctx))
    warned = cache.name in q.stderr and "torn" in q.stderr
    return f"first rc {p.returncode}, rerun rc {q.returncode}, warned {warned}", (
        p.returncode == 0 and q.returncode == 0 and warned and clean(q))


def _checkpoint_case(ctx, damage, label):
    # A copy of the recipe under another name: no shipped weights fit it, so the run trains its
    # own into the cache, which is what gets damaged (the shipped files are never touched).
    recipe = ctx.work / "faultcopy.toml"
    recipe.write_text((ROOT / "datasets" / "rddm.toml").read_text().replace('name = "rddm"', 'name = "faultcopy"'))
    suite, out = _suite(ctx, recipe, "restoration", f"ck-{label}"), ctx.work / f"ck-{label}"
    env = _env(ctx)
    p = bench("run", "--suite", suite, "--methods", "unet-raw,isp-unet", "--out", out, "-q", "--no-lpips", env=env)
    ck = next((ctx.work / "cache" / "checkpoints").glob("unet-raw-quick-*.pt"))
    damage(ck)
    q = bench("run", "--suite", suite, "--methods", "unet-raw,isp-unet", "--out", out, "-q", "--no-lpips", env=env)
    board = (out / "leaderboard.md").read_text()
    listed = "## Failures" in board and "| unet-raw |" in board.split("## Failures")[1].split("\n## ")[0]
    others = "| isp-unet" in board  # ranked (as a smoke row: quick weights)
    return f"first rc {p.returncode}; after damage rc {q.returncode}, failure listed {listed}, others ranked {others}", (
        p.returncode == 0 and q.returncode == 1 and listed and others and clean(q))


@case("corrupt checkpoint (a flipped byte)", "method listed as failed with the reason; exit 1")
def corrupt_ckpt(ctx):
    def flip(ck):
        b = bytearray(ck.read_bytes())
        b[len(b) // 2] ^= 0xFF
        ck.write_bytes(bytes(b))
    return _checkpoint_case(ctx, flip, "flip")


@case("truncated model card", "method listed as failed with the reason; exit 1")
def truncated_card(ctx):
    def cut(ck):
        card = ck.with_suffix(".json")
        card.write_text(card.read_text()[:20])
    shutil.rmtree(ctx.work / "cache", ignore_errors=True)
    return _checkpoint_case(ctx, cut, "card")


def main(argv=None) -> int:
    from ispsim.bench.provenance import git_commit, machine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(ROOT / "reports" / "faults.md"))
    args = ap.parse_args(argv)
    rows, t0 = [], time.time()
    with tempfile.TemporaryDirectory(prefix="ispsim-faults-") as tmp:
        ctx = Ctx(Path(tmp))
        for name, expected, fn in CASES:
            t = time.time()
            try:
                observed, ok = fn(ctx)
            except Exception as e:  # noqa: BLE001 - a crash of the harness is a failed case, not the end
                observed, ok = f"harness error: {type(e).__name__}: {e}", False
            rows.append((name, expected, observed.replace("|", "/"), "pass" if ok else "FAIL"))
            print(f"{'pass' if ok else 'FAIL'}  {name}  ({time.time() - t:.1f} s)", file=sys.stderr)
    head = ["case", "expected", "observed", "pass"]
    md = [f"# Fault injection: `python benchmarks/faults.py`", "",
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {git_commit()}, {machine()}, "
          f"{time.time() - t0:.0f} s. {sum(r[3] == 'pass' for r in rows)} of {len(rows)} cases pass.", "",
          "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(md) + "\n"
    print(text)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(text)
    return 0 if all(r[3] == "pass" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
