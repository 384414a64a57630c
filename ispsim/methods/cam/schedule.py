"""CAM trained longer than its shipped profile, on one camera: where the validation curve goes.

CAM's optimiser runs at a constant learning rate and its data order comes from the seeded
generator, so a run of N > 400 steps repeats the shipped 400-step run exactly over its first 400
steps and then goes on: its curve extends the shipped one. The report sets the two curves side by
side, with both models' PSNR per image on the camera's test images (``cam``, the learned samples;
the same protocol as the leaderboard's ``cam`` row) and the training time.

    python benchmarks/ablations/cam_schedule.py --camera sony --steps 800 [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _test_psnr(method, store, camera: str) -> float:
    """Mean per-image PSNR of ``method`` (its model for ``camera`` loaded) on the camera's test
    images, each with the method's own learned samples, as ``bench run`` scores the ``cam`` row."""
    from ...bench.metrics import peak_signal_noise_ratio
    from ...bench.runner import make_reference
    from ...bench.suite import SuiteDataset

    ds = SuiteDataset(recipe=store.recipe.name, size=store.size_name, split="test", track="image",
                      reference="uniform", rate=1 / 64)
    scores = []
    for i in store.done_indices("test"):
        params = store.params("test", i)
        if params["camera"] != camera:
            continue
        arrays = store.read_sample("test", i)
        ref = make_reference(method, arrays, params, ds, 0, i)
        out = method.reconstruct({"srgb": arrays["srgb"], "camera": camera}, ref)
        scores.append(peak_signal_noise_ratio(arrays["raw"], out))
    return float(np.mean(scores))


def _figure(curves: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for label, curve in curves.items():
        steps, values = zip(*curve)
        ax.plot(steps, values, marker="o", label=label)
    ax.set_xlabel("training step (batch 8)")
    ax.set_ylabel("validation PSNR per image (dB)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    from ...bench.provenance import header_lines, provenance
    from ...bench.runner import built_store
    from ...cameras import resolve_name
    from ...datasets.recipe import load_recipe
    from .. import create_method
    from ..checkpoints import read_card

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--camera", default="sony")
    p.add_argument("--steps", type=int, default=800, help="training steps (the cpu profile ships 400)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--recipe", default="nus")
    p.add_argument("--size", default="full")
    p.add_argument("--out", default="reports/ablations")
    p.add_argument("--keep", default="", help="folder to keep the longer run's checkpoint and card in")
    args = p.parse_args(argv)

    camera = resolve_name(args.camera)
    recipe = load_recipe(args.recipe)
    store = built_store(recipe, args.size)

    shipped = create_method("cam", args.profile)
    shipped_path = shipped.shipped_checkpoint(camera)
    shipped_card = read_card(shipped_path.with_suffix(".json")) if shipped_path.is_file() else {}
    longer = create_method("cam", args.profile)
    longer.settings["steps"] = int(args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / shipped_path.name
        t0 = time.perf_counter()
        longer._train_and_stamp(camera, store, ckpt, True)
        seconds = time.perf_counter() - t0
        card = read_card(ckpt.with_suffix(".json"))
        if args.keep:
            keep = Path(args.keep)
            keep.mkdir(parents=True, exist_ok=True)
            for f in (ckpt, ckpt.with_suffix(".json")):
                shutil.copy2(f, keep / f"{f.stem}-{args.steps}-steps{f.suffix}")
    result = {"camera": camera, "profile": args.profile, "steps": args.steps, "train_seconds": round(seconds, 1),
              "threads": card.get("budget", {}).get("threads"), "curve": card.get("curve", []),
              "test_psnr": round(_test_psnr(longer, store, camera), 4)}
    if shipped_path.is_file() and shipped.made_with_these_settings(shipped_path) \
            and shipped_card.get("data", {}).get("recipe_sha") == recipe.digest():
        shipped.load_file(camera, shipped_path)
        result["shipped"] = {"steps": shipped_card["settings"]["steps"], "curve": shipped_card.get("curve", []),
                             "train_seconds": shipped_card.get("budget", {}).get("train_seconds"),
                             "test_psnr": round(_test_psnr(shipped, store, camera), 4)}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"cam-schedule-{args.profile}-{recipe.name}-{camera}"
    prov = provenance(argv)
    (out / f"{stem}.json").write_text(json.dumps({**result, "provenance": prov}, indent=2) + "\n")
    curves = {f"{args.steps} steps": result["curve"]}
    if result.get("shipped", {}).get("curve"):
        curves = {f"shipped, {result['shipped']['steps']} steps": result["shipped"]["curve"], **curves}
    _figure(curves, out / f"{stem}.png", f"CAM {args.profile} on {camera}: validation curve")
    lines = [f"# CAM's {args.profile} profile trained longer: {camera}", "", *header_lines(prov), "",
             "| run | steps x batch | training minutes (threads) | final validation PSNR (dB) | test PSNR per image, `cam` (dB) |",
             "|---|---|---|---|---|"]
    rows = ([("shipped", result["shipped"])] if "shipped" in result else []) + [("longer", result)]
    for name, r in rows:
        final = f"{r['curve'][-1][1]:.2f}" if r.get("curve") else "-"
        minutes = f"{r['train_seconds'] / 60:.1f}" if r.get("train_seconds") else "-"
        lines.append(f"| {name} | {r['steps']} x 8 | {minutes} ({result['threads']}) | {final} | {r['test_psnr']:.2f} |")
    lines += ["", "Validation curve (the camera's first 4 validation images, each with the learned mask):", "",
              "| step | " + " | ".join(curves) + " |", "|---|" + "---|" * len(curves)]
    table = {}
    for label, curve in curves.items():
        for step, value in curve:
            table.setdefault(step, {})[label] = value
    for step in sorted(table):
        lines.append(f"| {step} | " + " | ".join(f"{table[step][k]:.2f}" if k in table[step] else "" for k in curves) + " |")
    lines += ["", f"![validation curve]({stem}.png)", ""]
    (out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0
