"""Dataset build throughput: samples/s and MB/s for 1 and 2 worker processes and a Dask LocalCluster.

Builds the shipped NUS-style recipe at a benchmark size into temporary stores, each with a fresh
``ispsim dataset build`` process (what a user runs, start-up included), checks that the three
stores hold the same bytes, and prints speed-ups against the 1-worker build of the same run.

    bench perf dataset_build [--recipe nus] [--per-camera 16] [--size 256x384]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="nus")
    ap.add_argument("--per-camera", type=int, default=16, help="train samples per camera")
    ap.add_argument("--size", default="256x384", help="HxW, multiples of 16")
    args = ap.parse_args(argv)
    h, w = (int(v) for v in args.size.lower().split("x"))

    import subprocess
    import time

    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.store import DatasetStore

    recipe = load_recipe(args.recipe).with_size("bench", h, w, train=args.per_camera)
    runs = {}
    with tempfile.TemporaryDirectory() as d:
        recipe_file = Path(d) / "bench.toml"
        recipe_file.write_text(recipe.text)
        for label, extra in (("1 worker", ["--workers", "1"]), ("2 workers (process pool)", ["--workers", "2"]),
                             ("Dask LocalCluster, 2 workers", ["--workers", "2", "--dask", "local"])):
            out = Path(d) / label.split()[0].replace(",", "")
            cmd = [sys.executable, "-m", "ispsim.cli.main", "dataset", "build", str(recipe_file), "-o", str(out),
                   "--size", "bench", "-q", *extra]
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs[label] = (time.perf_counter() - t, out)
        def content(path):
            s = DatasetStore(path)
            arrays = {n: s.array("train", n)[:].tobytes() for n in s.fields}
            markers = {p.name: p.read_bytes() for p in sorted((Path(path) / "_samples").rglob("*.json"))}
            return arrays, markers
        ref = content(runs["1 worker"][1])
        same = all(content(out) == ref for _, out in runs.values())
        store = DatasetStore(runs["1 worker"][1])
        n = len(store.done_indices("train"))
        mb = sum(store.array("train", f).nbytes for f in store.fields) / 1e6
    print(f"# {recipe.name} recipe, {n} samples of {h}x{w} ({len(recipe.cameras)} cameras), {mb:.0f} MB of arrays; "
          f"identical bytes: {same}; wall time of the whole command, start-up included")
    one = runs["1 worker"][0]
    print(f"{'executor':32s} {'seconds':>8s} {'samples/s':>10s} {'MB/s':>7s} {'speed-up':>9s}")
    for label, (sec, _) in runs.items():
        print(f"{label:32s} {sec:8.2f} {n / sec:10.2f} {mb / sec:7.1f} {one / sec:8.2f}x")
    print("# target: 2 workers >= 1.6x one worker")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
