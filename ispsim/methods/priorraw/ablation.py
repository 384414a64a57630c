"""PriorRAW ablations in the spirit of the paper's Table 1, on one camera's NUS-style test split.

1. Search: the RAW assembled through the compressed bank vs through the whole reference set
   (exact top-k inner-product search with faiss), with the search time of each, and bank sizes.
2. Network: sRGB-only U-Net, + prior RAW (assembled RAW and distance map), + reliable attention,
   + attention over the bank (the full model). The full model, encoder and bank are the camera's
   checkpoint; the reduced ones are trained with the same settings, seed, encoder and bank.

    python benchmarks/ablations/priorraw.py --camera olympus --profile cpu
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

VARIANTS = [("sRGB-only U-Net", False, False, False), ("+ prior RAW", True, False, False),
            ("+ reliable attention", True, True, False), ("+ attention over the bank", True, True, True)]


def _psnr(a, b):
    from ...bench.metrics import peak_signal_noise_ratio

    return peak_signal_noise_ratio(a, b)


def main(argv=None) -> int:
    from ...bench.runner import built_store
    from ...cameras import resolve_name
    from .. import create_method
    from .bank import build_bank, search_topk
    from .method import _load_images, pixels, reference_split
    from .model import Reconstructor, rows

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--camera", default="olympus")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--recipe", default="nus")
    p.add_argument("--size", default="full")
    p.add_argument("--images", type=int, default=0, help="test images for the network rows (0: all)")
    p.add_argument("--search-images", type=int, default=4,
                   help="test images for the search rows (searching the whole set costs minutes per image)")
    p.add_argument("--topk", type=int, default=256)
    p.add_argument("--out", default="reports/ablations")
    p.add_argument("--skip-network", action="store_true")
    p.add_argument("--skip-search", action="store_true", help="only the network rows (the search rows cost minutes)")
    p.add_argument("--banks", default="1000x16,250x16,2000x16,5000x16,1000x4,1000x64",
                   help="banks to search besides the method's own: clusters x group, comma-separated")
    args = p.parse_args(argv)

    try:
        banks_asked = [tuple(int(v) for v in b.lower().split("x")) for b in args.banks.split(",") if b.strip()]
        if any(len(b) != 2 or min(b) < 1 for b in banks_asked):
            raise ValueError
    except ValueError:
        p.error(f"--banks: expected clusters x group pairs like 1000x16,250x16, got {args.banks!r}")
    camera = resolve_name(args.camera)
    store = built_store(args.recipe, args.size)
    method = create_method("priorraw", args.profile)
    method.fit(store, progress=True)
    enc, full_rec, bank = method.models[camera]
    s = method.settings
    tests = [i for i in store.done_indices("test") if store.params("test", i)["camera"] == camera]
    tests = tests[: args.images] if args.images else tests
    samples = [store.read_sample("test", i) for i in tests]

    # The reference set the bank was built from: the training half the checkpoint names.
    srgb, raw = _load_images(store, camera)
    _, ref = reference_split(len(srgb), torch.Generator().manual_seed(int(s["seed"])))
    feat, psrgb, praw = pixels(enc, srgb[ref], raw[ref])
    result = {"camera": camera, "profile": args.profile, "test_images": len(samples), "reference_pixels": len(feat)}

    def assembled(a, how, b=None, k=None):
        x = torch.from_numpy(a["srgb"])[None]
        with torch.no_grad():
            f = enc(x)
        q = rows(f).numpy()
        if how == "bank":
            half_raw = search_topk(q, b.feat, b.raw, k=k or len(b))  # k = K: the exact softmax over the bank
        else:
            half_raw = search_topk(q, feat, praw, k=args.topk)
        t = torch.from_numpy(half_raw.T.reshape(1, 3, *f.shape[-2:]).copy())
        return F.interpolate(t, size=x.shape[-2:], mode="bilinear", align_corners=False)[0].numpy()

    def evaluate(how, b=None, k=None, images=samples):
        t0, scores = time.perf_counter(), []
        for a in images[: args.search_images]:
            scores.append(_psnr(a["raw"], assembled(a, how, b, k)))
        return float(np.mean(scores)), (time.perf_counter() - t0) / len(scores)

    if not args.skip_search:
        search, banks = {"whole reference set": evaluate("whole")}, {}
        grp = int(s["group"])
        for k, g in dict.fromkeys(((len(bank), grp), *banks_asked)):
            k = min(k, len(feat) // max(g, 1))  # the quick profile's small reference sets
            if (k, g) in banks:
                continue
            # the method's own bank where it is one of these
            banks[k, g] = bank if (k, g) == (len(bank), grp) else build_bank(feat, psrgb, praw, clusters=k, group=g,
                                                                               seed=int(s["seed"]))
            search[f"bank {k} x {g}, softmax over all entries"] = evaluate("bank", banks[k, g])
        # A group mean is a blurred feature: its affinities are flatter than a pixel's, so the softmax
        # over the whole bank mixes distant entries. Softmax over the top-k entries only (the method's
        # ``bank_topk``), with k chosen on the validation images (never the test images), per bank.
        vals = [store.read_sample("val", i) for i in store.done_indices("val") if store.params("val", i)["camera"] == camera]
        if vals:
            result["bank_topk_on_val"] = {}
            for (k, g), b in banks.items():
                on_val = {t: evaluate("bank", b, t, vals)[0] for t in (1, 2, 4, 8, 16, 64)}
                best = max(on_val, key=on_val.get)
                result["bank_topk_on_val"][f"{k} x {g}"] = on_val
                search[f"bank {k} x {g}, top-{best} (k chosen on {min(len(vals), args.search_images)} val images)"] = \
                    evaluate("bank", b, best)
        result["search"] = {k: {"psnr": v[0], "seconds_per_image": v[1]} for k, v in search.items()}
        result["search_images"] = min(args.search_images, len(samples))
        print(f"\nPriorRAW search on {camera} ({result['search_images']} test images, {len(feat)} reference pixels)")
        print("| assembled RAW from | PSNR (dB) | s / image |\n|---|---|---|")
        for k, (v, t) in search.items():
            print(f"| {k} | {v:.2f} | {t:.3f} |")

    if not args.skip_network:
        network = {}
        for name, prior_raw, reliable, attention in VARIANTS:
            if attention:
                rec = full_rec
            else:
                torch.manual_seed(int(s["seed"]))
                rec = Reconstructor(int(s["dim"]), int(s["channels"]), int(s["heads"]), tuple(s["widths"]), int(s["pool"]),
                                    prior_raw, reliable, attention)
                method.train_reconstructor(enc, rec, bank, srgb, raw, torch.Generator().manual_seed(int(s["seed"])),
                                           True, f"ablation: {name}")
                rec.eval()
            method.models[camera] = (enc, rec, bank)
            network[name] = float(np.mean([_psnr(a["raw"], method.reconstruct({"srgb": a["srgb"], "camera": camera}, None))
                                           for a in samples]))
        method.models[camera] = (enc, full_rec, bank)
        result["network"] = network
        print("\n| reconstructor | PSNR (dB) |\n|---|---|")
        for k, v in network.items():
            print(f"| {k} | {v:.2f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"priorraw-{args.profile}-{camera}.json"
    kept = json.loads(path.read_text()) if path.exists() else {}  # e.g. the network rows of a run without --skip-network
    path.write_text(json.dumps({**kept, **result}, indent=2) + "\n")
    return 0
