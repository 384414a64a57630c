"""What RDDM's per-order LoRA groups learnt: every test image run through every group.

CMB-LoRA gives each Bayer order its own LoRA group. If the groups learnt something about their
order, an image scores best through its own order's group and worse through the others; if they
score alike, the network tells the order without them and one shared group would do (the
all-in-one ablation, ``rddm-allinone``). The table has one row per true order and one column per
group used, as mean linear / sRGB PSNR, scored as ``bench run`` scores the restoration track.

    python benchmarks/ablations/rddm_groups.py                      # the shipped cpu weights
    python benchmarks/ablations/rddm_groups.py --checkpoint old.pt  # any RDDM checkpoint with its card
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ..checkpoints import read_card


def load(checkpoint: Path | None, profile: str):
    """The RDDM the checkpoint's card describes (settings missing from an older card take their
    legacy value), with its weights loaded; the profile's shipped weights without ``checkpoint``."""
    from .. import create_method
    from .method import RDDM

    method = create_method("rddm", profile)
    path = checkpoint or method.shipped_checkpoint("all")
    card = path.with_suffix(".json")
    if not path.is_file() or not card.is_file():
        raise ConfigError(f"{path}: no such RDDM checkpoint with its model card ({card.name})")
    made = read_card(card).get("settings")
    if made is None:
        raise ConfigError(f"{card}: the model card has no 'settings'")
    method = RDDM({**method.settings, **RDDM.legacy_settings, **made}, profile)
    if method.settings["lora"] != "cmb":
        raise ConfigError(f"{path}: made with lora = {method.settings['lora']!r}; one group has nothing to compare")
    method.load_file("all", path)
    return method


def cross_scores(method, store, per_order: int, progress: bool = True) -> dict:
    """``{(true order, group): {"psnr": [...], "psnr_srgb": [...]}}`` over up to ``per_order`` test
    images of each order."""
    from tqdm import tqdm

    from ...bench.runner import restoration_inputs, score_restoration
    from ..base import Reference

    picked: dict[str, list[int]] = {}
    for i in store.done_indices("test"):
        order = store.params("test", i)["bayer"]
        if len(picked.setdefault(order, [])) < per_order:
            picked[order].append(i)
    groups = method.groups()
    scores: dict = {}
    with tqdm(total=sum(map(len, picked.values())) * len(groups), desc="rddm groups", unit="run", disable=not progress) as bar:
        for order in sorted(picked):
            for i in picked[order]:
                arrays = store.read_sample("test", i)
                inputs = restoration_inputs(arrays, store.params("test", i))
                for group in groups:
                    out = method.reconstruct({**inputs, "lora_group": group}, Reference("none"))
                    got = score_restoration(out, arrays["linear"], inputs["record"])[0]
                    cell = scores.setdefault((order, group), {"psnr": [], "psnr_srgb": []})
                    for k in cell:
                        cell[k].append(got[k])
                    bar.update()
    return scores


def table(scores: dict, groups) -> str:
    orders = sorted({o for o, _ in scores})
    lines = ["| true order | " + " | ".join(f"group {g}" for g in groups) + " | own - mean of others |",
             "|---" * (len(groups) + 2) + "|"]
    for o in orders:
        mean = {g: (float(np.mean(scores[(o, g)]["psnr"])), float(np.mean(scores[(o, g)]["psnr_srgb"]))) for g in groups}
        cells = [f"**{lin:.2f} / {srgb:.2f}**" if g == o else f"{lin:.2f} / {srgb:.2f}" for g, (lin, srgb) in mean.items()]
        gap = [mean[o][k] - float(np.mean([m[k] for g, m in mean.items() if g != o])) for k in (0, 1)]
        lines.append(f"| {o} ({len(scores[(o, o)]['psnr'])}) | " + " | ".join(cells) + f" | {gap[0]:+.2f} / {gap[1]:+.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from ...bench.runner import built_store

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="an RDDM checkpoint (.pt beside its .json card); default: the shipped one")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--recipe", default="rddm")
    p.add_argument("--size", default="full")
    p.add_argument("--per-order", type=int, default=3, help="test images of each Bayer order")
    p.add_argument("--out", type=Path, default=Path("reports/ablations"))
    args = p.parse_args(argv)
    try:
        method = load(args.checkpoint, args.profile)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    scores = cross_scores(method, built_store(args.recipe, args.size), args.per_order)
    groups = list(method.groups())
    name = (args.checkpoint or method.shipped_checkpoint("all")).stem
    text = (f"RDDM LoRA groups: {name} (encoder_input = {method.settings['encoder_input']!r}), "
            f"{args.recipe}/{args.size} test, linear / sRGB PSNR (dB)\n\n{table(scores, groups)}")
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rddm-groups-{name}.md").write_text(text + "\n")
    (args.out / f"rddm-groups-{name}.json").write_text(json.dumps(
        {f"{o}|{g}": c for (o, g), c in scores.items()}, indent=1))
    return 0
