"""Calibrate an NUS-style recipe against the CAM paper's RIR and SAM rows, per camera.

Renders the recipe's first test images of each camera (as `ispsim dataset build` would, no store),
runs global-fit (RIR-style) and sam-rbf (SAM-style) on the cpu suite's uniform 1/64 samples, and
prints per-image PSNR per camera beside the paper's (CAM, Table 1). `--set camera.field=value`
overrides one [isp.looks.<camera>] field, to explore without editing the recipe.

    python benchmarks/calibration/nus_look.py --recipe nus --per-camera 8
    python benchmarks/calibration/nus_look.py --recipe nus --set samsung.hue_twist=12 --set all.filmic=0.4
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

import numpy as np

from ispsim.bench.metrics import patch_psnr, peak_signal_noise_ratio
from ispsim.bench.runner import make_reference
from ispsim.bench.suite import load_suite
from ispsim.cameras import resolve_name
from ispsim.datasets.generators import make_sample
from ispsim.datasets.recipe import load_recipe
from ispsim.methods import create_method

# CAM (Nam et al., CVPR 2022) Table 1, per-image PSNR on the software-ISP NUS data.
PAPER = {"samsung_nx2000": {"global-fit": 45.66, "sam-rbf": 47.03},
         "olympus_e_pl6": {"global-fit": 48.42, "sam-rbf": 49.35},
         "sony_slt_a57": {"global-fit": 51.26, "sam-rbf": 50.44}}


def with_overrides(recipe, sets: list[str]):
    """The recipe with [isp.looks.<camera>] fields replaced ("all" = every camera)."""
    from dataclasses import replace

    looks = {cam: recipe.pipeline_for(cam) for cam in recipe.cameras}
    for item in sets:
        key, _, value = item.partition("=")
        cam, _, field = key.partition(".")
        value = ast.literal_eval(value)
        value = tuple(value) if isinstance(value, list) else value
        for name in (recipe.cameras if cam == "all" else [resolve_name(cam)]):
            looks[name] = replace(looks[name], **{field: value})
    return replace(recipe, looks=looks)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="nus")
    ap.add_argument("--size", default="full")
    ap.add_argument("--per-camera", type=int, default=8)
    ap.add_argument("--set", action="append", default=[], metavar="CAMERA.FIELD=VALUE")
    ap.add_argument("--json", type=Path, help="write the rows here")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    if args.set:
        recipe = with_overrides(recipe, args.set)
    suite = load_suite("cpu")
    ds = next(d for d in suite.datasets if d.track == "image")
    methods = {name: create_method(name, suite.profile) for name in ("global-fit", "sam-rbf")}
    n_cams = len(recipe.cameras)
    rows = []
    for i in range(args.per_camera * n_cams):
        arrays, params = make_sample(recipe, args.size, "test", i)
        cam = params["camera"]
        clipped = float((arrays["srgb"].max(axis=0) >= 254.5 / 255).mean())
        for name, method in methods.items():
            ref = make_reference(method, arrays, params, ds, suite.seed, i)
            out = method.reconstruct({"srgb": arrays["srgb"], "camera": cam}, ref)
            rows.append({"camera": cam, "index": i, "method": name, "clipped": clipped,
                         "psnr": peak_signal_noise_ratio(arrays["raw"], out), "psnr_patch": patch_psnr(arrays["raw"], out)})
        print(f"#{i:3d} {cam:15s} " + "  ".join(f"{r['method']} {r['psnr']:6.2f}" for r in rows[-2:]),
              file=sys.stderr, flush=True)
    print(f"\n{recipe.path} ({args.size}, first {args.per_camera} test images per camera), per-image PSNR dB:")
    print(f"| camera | global-fit | paper RIR | sam-rbf | paper SAM | clipped px |")
    print("|---|---|---|---|---|---|")
    for cam in dict.fromkeys(r["camera"] for r in rows):
        m = {k: np.mean([r["psnr"] for r in rows if r["camera"] == cam and r["method"] == k]) for k in methods}
        clip = np.mean([r["clipped"] for r in rows if r["camera"] == cam])
        p = PAPER.get(cam, {})
        print(f"| {cam} | {m['global-fit']:.2f} | {p.get('global-fit', float('nan')):.2f} | {m['sam-rbf']:.2f} | "
              f"{p.get('sam-rbf', float('nan')):.2f} | {100 * clip:.2f}% |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
