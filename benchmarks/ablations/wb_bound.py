"""What a 0-byte method can reach on NUS-style data when it knows everything but the illuminant.

The sRGB of an NUS-style sample is rendered with the as-shot white balance, which divides out the
scene's illuminant; a method with no per-image bytes (PriorRAW) must guess the per-channel RAW
scale. This script inverts each test sRGB with its *true* record (CCM, exposure, tone: all
known), once with its true white-balance gains and once with one constant gain triple per camera,
fitted by least squares on the training split (a 0-byte estimator that knows the ISP) and on the
test split itself (hindsight: no 0-byte estimator of a constant does better in MSE).

    python benchmarks/ablations/wb_bound.py --recipe nus --size full
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from ispsim.bench.metrics import peak_signal_noise_ratio as psnr
from ispsim.bench.runner import dataset_path
from ispsim.datasets.recipe import load_recipe
from ispsim.datasets.store import DatasetStore
from ispsim.pipeline import Pipeline, Record


def inverses(store, split: str, limit: int | None):
    """Per camera: (raw, inverse with the true gains, inverse with unit gains) of each sample."""
    out: dict[str, list] = {}
    for i in store.done_indices(split)[:limit]:
        a, p = store.read_sample(split, i), store.params(split, i)
        rec = Record.from_dict(p["record"])
        true = Pipeline.invert(a["srgb"], rec, mosaic=False)
        unit = Pipeline.invert(a["srgb"], dataclasses.replace(rec, gains=(1.0, 1.0, 1.0)), mosaic=False)
        out.setdefault(p["camera"], []).append((a["raw"], true, unit))
    return out


def constant_gains(items) -> np.ndarray:
    """The per-channel factor c minimising sum ||raw_k - c_k unit_k||^2 over the images."""
    num, den = np.zeros(3), np.zeros(3)
    for raw, _, unit in items:
        num += (unit * raw).sum(axis=(1, 2))
        den += (unit * unit).sum(axis=(1, 2))
    return num / den


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="nus")
    ap.add_argument("--size", default="full")
    ap.add_argument("--train-images", type=int, default=96, help="training samples read (all cameras)")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("reports/ablations"))
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    path = dataset_path(recipe, args.size, args.data_dir)
    if not path.exists():
        print(f"{path}: no such dataset; build it first (bench run --suite cpu does)", file=sys.stderr)
        return 1
    store = DatasetStore(path)
    if store.meta.get("style", recipe.style) != "nus":
        print(f"{path}: an NUS-style dataset is needed", file=sys.stderr)
        return 1
    train, test = inverses(store, "train", args.train_images), inverses(store, "test", None)
    rows, scores = [], {"true gains": [], "constant (train)": [], "constant (test, hindsight)": []}
    for cam, items in test.items():
        fits = {"constant (train)": constant_gains(train[cam]), "constant (test, hindsight)": constant_gains(items)}
        row = {"camera": cam, "images": len(items)}
        got = {"true gains": [psnr(raw, true.clip(0, 1)) for raw, true, _ in items]}
        for name, c in fits.items():
            got[name] = [psnr(raw, (unit * c[:, None, None]).clip(0, 1)) for raw, _, unit in items]
        for name, v in got.items():
            row[name] = round(float(np.mean(v)), 2)
            scores[name] += v
        rows.append(row)
    rows.append({"camera": "all", "images": sum(r["images"] for r in rows),
                 **{k: round(float(np.mean(v)), 2) for k, v in scores.items()}})
    names = list(scores)
    print("| camera | images | " + " | ".join(names) + " |")
    print("|---" * (2 + len(names)) + "|")
    for r in rows:
        print(f"| {r['camera']} | {r['images']} | " + " | ".join(f"{r[n]:.2f}" for n in names) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    dest = args.out / f"wb-bound-{recipe.name}-{args.size}.json"
    dest.write_text(json.dumps({"recipe": recipe.name, "digest": recipe.digest(), "size": args.size,
                                "psnr_db": rows}, indent=2) + "\n")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
