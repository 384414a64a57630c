"""Seconds per image of each method at CAM's data size (816 x 1216, Sony), and INF's batched
training against training its tiles one by one, in one run (``bench perf methods``).

Times are wall seconds of ``reconstruct`` on one NUS-style image with the methods' ``cpu``
profiles and 1/64 uniform samples, with ratios against sam-rbf measured in the same run. Methods
whose checkpoints do not ship (CAM) run with untrained weights: their time is real, their PSNR
is not printed. INF's batched-vs-loop speed-up is measured on the same image with
``--inf-iterations`` iterations (the ratio does not depend on the count; the full profile's time
is the ``inf`` row).

    bench perf methods [--size 816x1216] [--inf-iterations 20] [--skip inf]
"""

from __future__ import annotations

import argparse
import time
import warnings

warnings.filterwarnings("ignore")

METHODS = ("blind-unprocess", "global-fit", "sam-rbf", "oracle", "priorraw-search", "priorraw", "cam", "cam-ft", "inf", "inf-gf",
           "rawmamba")


def _sample(size):
    from ispsim.datasets.generators import make_sample
    from ispsim.datasets.recipe import load_recipe

    recipe = load_recipe("nus").with_size("bench", *size, test=1)
    return make_sample(recipe, "bench", "test", 0)  # index 0: the first camera, Sony


def _prepare(name, camera):
    """The method with its models in place, and whether its output is meaningful."""
    from ispsim.methods import create_method

    m = create_method(name, "cpu")
    if not m.info.trainable:
        return m, True
    key = m.model_key(camera)
    path = m.shipped_checkpoint(key)
    if path.exists():
        m.load_file(key, path)
        return m, True
    # untrained: the time is real, the PSNR is not
    m.models[key] = m._net().eval() if name == "rawmamba" else tuple(x.eval() for x in m._new())
    return m, False


def main(argv=None):
    import numpy as np

    from ispsim.bench.metrics import peak_signal_noise_ratio
    from ispsim.bench.runner import make_reference
    from ispsim.bench.suite import SuiteDataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="816x1216", help="HxW, multiples of 16 (CAM's Sony images: 816x1216)")
    ap.add_argument("--inf-iterations", type=int, default=20)
    ap.add_argument("--skip", default="", help="comma-separated methods to leave out")
    ap.add_argument("--scan-length", type=int, default=4096, help="tokens of the selective-scan comparison")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.lower().split("x"))
    arrays, params = _sample(size)
    camera = params["camera"]
    ds = SuiteDataset(recipe="nus", size="bench", split="test", track="image", reference="uniform", rate=1 / 64)
    inputs = {"srgb": arrays["srgb"], "camera": camera}
    skip = set(filter(None, args.skip.split(",")))
    rows = []
    for name in METHODS:
        if name in skip:
            continue
        m, meaningful = _prepare(name, camera)
        ref = make_reference(m, arrays, params, ds, 0, 0)
        t0 = time.perf_counter()
        out = m.reconstruct(inputs, ref)
        sec = time.perf_counter() - t0
        psnr = peak_signal_noise_ratio(arrays["raw"], out) if meaningful else None
        rows.append((name, sec, psnr, ref.nbytes))
        print(f"  {name}: {sec:.2f} s", flush=True)
    ref_sec = next((s for n, s, _, _ in rows if n == "sam-rbf"), None)
    mp = size[0] * size[1] / 1e6
    print(f"\nmethods at {size[0]}x{size[1]} ({mp:.2f} MP, {camera}), cpu profiles, 1/64 uniform samples")
    print("| method | s / image | s / MP | x sam-rbf | PSNR (dB) | bytes |\n|---|---|---|---|---|---|")
    for name, sec, psnr, nbytes in rows:
        ratio = f"{sec / ref_sec:.2f}" if ref_sec else "-"
        print(f"| {name} | {sec:.2f} | {sec / mp:.2f} | {ratio} | {'untrained' if psnr is None else f'{psnr:.2f}'} | {nbytes} |")

    if "inf" not in skip:
        from ispsim.methods import create_method

        times = {}
        for batched in (True, False):
            m = create_method("inf", "cpu")
            m.settings.update(iterations=args.inf_iterations, batched=batched)
            ref = make_reference(m, arrays, params, ds, 0, 0)
            t0 = time.perf_counter()
            m.reconstruct(inputs, ref)
            times[batched] = time.perf_counter() - t0
        fast, slow = ("batched", "tile by tile") if times[True] < times[False] else ("tile by tile", "batched")
        print(f"\nINF, {args.inf_iterations} iterations, all tiles: batched {times[True]:.2f} s, tile by tile (one "
              f"tile per core) {times[False]:.2f} s: {fast} is {max(times.values()) / min(times.values()):.2f}x "
              f"faster than {slow}")
    _scan(args.scan_length)
    return 0


def _scan(length: int):
    """RAWMamba's CPU selective scan against the step-by-step recurrence, forward + backward, at
    the sizes of the cpu profile's scans (inner width 48, 8 states)."""
    import torch

    from ispsim.methods.rawmamba.ssm import selective_scan, selective_scan_sequential

    g = torch.Generator().manual_seed(0)
    d, n = 48, 8
    x = dict(u=torch.randn(1, d, length, generator=g), delta=torch.randn(1, d, length, generator=g),
             A=-torch.exp(torch.randn(d, n, generator=g)), B=torch.randn(1, n, length, generator=g),
             C=torch.randn(1, n, length, generator=g), D=torch.randn(d, generator=g), delta_bias=torch.zeros(d),
             delta_softplus=True)
    x["u"].requires_grad_(True)
    times = {}
    for fn in (selective_scan, selective_scan_sequential):
        t0 = time.perf_counter()
        fn(**x).square().mean().backward()
        times[fn.__name__] = time.perf_counter() - t0
    print(f"\nselective scan, {length} tokens x {d} channels x {n} states, forward + backward: "
          f"{times['selective_scan']:.3f} s vs step by step {times['selective_scan_sequential']:.3f} s: "
          f"{times['selective_scan_sequential'] / times['selective_scan']:.1f}x faster")
