"""RAWMamba ablations in the spirit of the paper's Table 3 on the NUS-style image track: the full
model, without GEB, without LEB, without the local (Hilbert) scan, without the global (line) scan;
and, where the profile puts the network on a global-fit base, the network without it.

Every variant trains from the same seed with the profile's settings and ``--steps`` steps (shorter
than the profile, so that the variants fit in one sitting on 2 cores), then reconstructs the test
split: images with the suite's 1/64 uniform samples; video clips (``--track video``, RVD-style) from
their first frame, scored on frames 2..N as the benchmark does. Trained variants are cached, so a
rerun only evaluates.

    python benchmarks/ablations/rawmamba.py --steps 300
    python benchmarks/ablations/rawmamba.py --track video --steps 150
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

VARIANTS = [("rawmamba", "full model"), ("rawmamba-no-geb", "without GEB"), ("rawmamba-no-leb", "without LEB"),
            ("rawmamba-no-local", "without the local scan"), ("rawmamba-no-global", "without the global scan"),
            ("rawmamba-no-base", "without the global-fit base")]


def main(argv=None) -> int:
    from ...bench.metrics import peak_signal_noise_ratio, structural_similarity
    from ...bench.runner import built_store, first_frame_reference, make_reference, score_clip
    from ...bench.suite import SuiteDataset
    from .. import create_method
    from ..checkpoints import cache_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--track", choices=("image", "video"), default="image")
    p.add_argument("--recipe", help="default: nus for images, rvd for video")
    p.add_argument("--size", default="full")
    p.add_argument("--images", type=int, default=0, help="test images (0: all)")
    p.add_argument("--variants", default="", help="comma-separated (default: all; no-base only where the profile has a base)")
    p.add_argument("--out", default="reports/ablations")
    args = p.parse_args(argv)

    video = args.track == "video"
    args.recipe = args.recipe or ("rvd" if video else "nus")
    store = built_store(args.recipe, args.size)
    tests = store.done_indices("test")
    tests = tests[: args.images] if args.images else tests
    ds = SuiteDataset(recipe=args.recipe, size=args.size, split="test", track="image", reference="uniform", rate=1 / 64)
    base = create_method("rawmamba", args.profile).settings["base"]
    variants = args.variants.split(",") if args.variants else [v for v, _ in VARIANTS if base or v != "rawmamba-no-base"]
    rows = {}
    for name in variants:
        m = create_method(name, args.profile)
        m.settings["video_steps" if video else "steps"] = args.steps
        ckpt = cache_dir() / f"{name}-{args.profile}-ablation{args.steps}{'-video' if video else ''}-{store.recipe.digest()}-{m._settings_key()}.pt"
        t0 = time.perf_counter()
        if ckpt.exists():
            m.load_file(args.track, ckpt)
        else:
            m._train(args.track, store, ckpt, True)
        train_s = time.perf_counter() - t0
        psnr, ssim = [], []
        for i in tests:
            a, prm = store.read_sample("test", i), store.params("test", i)
            if video:
                out = m.reconstruct_video({"srgb": a["srgb"], "camera": prm["camera"]}, first_frame_reference(a, prm))
                per_frame, s, _ = score_clip(out, a, prm)
                psnr.append(float(np.mean(per_frame)))
                ssim.append(s)
                continue
            out = m.reconstruct({"srgb": a["srgb"], "camera": prm["camera"]}, make_reference(m, a, prm, ds, 0, i))
            psnr.append(peak_signal_noise_ratio(a["raw"], out))
            ssim.append(structural_similarity(a["raw"], out))
        rows[name] = {"row": dict(VARIANTS)[name], "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim)),
                      "train_seconds": train_s, "clips" if video else "images": len(tests)}
        print(f"  {name}: {rows[name]['psnr']:.2f} dB", flush=True)
    print(f"\nRAWMamba ablation ({args.recipe}/{args.size} test, {len(tests)} {'clips' if video else 'images'}, {args.profile} profile, "
          f"{args.steps} training steps each, base: {base or 'none'})")
    print("| variant | PSNR (dB) | SSIM |\n|---|---|---|")
    for name, r in rows.items():
        print(f"| {r['row']} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = ("-video" if video else "") + (f"-base-{base}" if base else "")
    (out / f"rawmamba-{args.profile}-{args.steps}{tag}.json").write_text(json.dumps(rows, indent=2))
    return 0
