"""INF and its variants against sam-rbf and global-fit on whole NUS-style test images, all cameras.

Each method runs as `bench run` runs it: the suite's own reference samples (the same mask per
image for every method), scored on both protocols (per image, and per patch as INF's paper) and on
the pixels whose 8-bit sRGB is clipped. A variant is a method name with settings, e.g.
`inf-gf:clipped=fill` or `inf:omega_colour=3.0`.

    python benchmarks/ablations/inf_variants.py --per-camera 4 --methods sam-rbf,global-fit,inf,inf-gf
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

from ispsim.bench.metrics import patch_psnr, peak_signal_noise_ratio
from ispsim.bench.runner import dataset_path, make_reference
from ispsim.bench.suite import load_suite
from ispsim.datasets.store import DatasetStore
from ispsim.methods import create_method
from ispsim.methods.inf.method import CLIP


def parse_variant(spec: str, profile: str):
    name, _, rest = spec.partition(":")
    method = create_method(name, profile)
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in method.settings:
            raise SystemExit(f"inf_variants: {spec}: {name} has no setting {key!r}")
        try:
            method.settings[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            method.settings[key] = value
    return method


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="cpu")
    ap.add_argument("--dataset", default="nus")
    ap.add_argument("--per-camera", type=int, default=4, help="test images per camera (the first ones)")
    ap.add_argument("--methods", default="sam-rbf,global-fit,inf,inf-omega3,inf-gf,inf-gf:clipped=fill")
    ap.add_argument("--out", type=Path, default=Path("reports/ablations"))
    args = ap.parse_args(argv)
    suite = load_suite(args.suite)
    ds = next(d for d in suite.datasets if d.key.split("/")[0] == args.dataset and d.track == "image")
    from ispsim.datasets.recipe import load_recipe

    store = DatasetStore(dataset_path(load_recipe(ds.recipe), ds.size))
    chosen: dict[str, list[int]] = {}
    for i in store.done_indices(ds.split):
        cam = store.params(ds.split, i)["camera"]
        if len(chosen.setdefault(cam, [])) < args.per_camera:
            chosen[cam].append(i)
    rows = []
    for spec in args.methods.split(","):
        method = parse_variant(spec, suite.profile)
        for cam, indices in chosen.items():
            for i in indices:
                arrays, params = store.read_sample(ds.split, i), store.params(ds.split, i)
                ref = make_reference(method, arrays, params, ds, suite.seed, i)
                start = time.perf_counter()
                out = method.reconstruct({"srgb": arrays["srgb"], "camera": cam}, ref)
                seconds = time.perf_counter() - start
                gt = arrays["raw"]
                clipped = arrays["srgb"].max(axis=0) >= CLIP
                on_clip = (peak_signal_noise_ratio(gt[:, clipped][:, None], out[:, clipped][:, None])
                           if clipped.any() else None)
                rows.append({"method": spec, "camera": cam, "index": i, "psnr": peak_signal_noise_ratio(gt, out),
                             "psnr_patch": patch_psnr(gt, out), "psnr_clipped": on_clip,
                             "clipped_share": float(clipped.mean()), "seconds": seconds})
                print(f"{spec:28s} {cam:16s} #{i:3d} {rows[-1]['psnr']:6.2f} dB  patch {rows[-1]['psnr_patch']:6.2f}"
                      f"  {seconds:6.1f} s", file=sys.stderr, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"inf-variants-{args.suite}-{args.dataset}"
    stem.with_suffix(".json").write_text(json.dumps({"suite": args.suite, "dataset": ds.key, "rows": rows}, indent=1))
    cams = list(chosen)
    lines = [f"# INF variants on {ds.key} ({args.suite} suite), {args.per_camera} test images per camera", "",
             "Per-image PSNR / per-patch PSNR (dB), means over the images; 'clipped': PSNR on the pixels whose "
             "8-bit sRGB is clipped (all images pooled per image, then averaged); s: seconds per image.", "",
             "| method | " + " | ".join(cams) + " | all | clipped | s |", "|---" * (len(cams) + 4) + "|"]
    for spec in args.methods.split(","):
        mine = [r for r in rows if r["method"] == spec]
        cells = []
        for cam in cams + [None]:
            sub = [r for r in mine if cam is None or r["camera"] == cam]
            cells.append(f"{np.mean([r['psnr'] for r in sub]):.2f} / {np.mean([r['psnr_patch'] for r in sub]):.2f}")
        clip = [r["psnr_clipped"] for r in mine if r["psnr_clipped"] is not None]
        cells.append(f"{np.mean(clip):.2f}" if clip else "-")
        cells.append(f"{np.mean([r['seconds'] for r in mine]):.1f}")
        lines.append(f"| {spec} | " + " | ".join(cells) + " |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
