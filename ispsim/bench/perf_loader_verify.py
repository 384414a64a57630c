"""What the loaders' sha256 check costs: one epoch of training patches (and of whole images) read
from the NUS-style ``full`` store with ``verify`` on and off, in one run (``bench perf loader_verify``).

Both epochs read the same samples in the same order, each from a fresh reader; the ratio is
verified / unverified data time. The store is built first if it is not there.
"""

from __future__ import annotations

import argparse
import sys
import time


def _epoch(make, verify: bool) -> float:
    ds = make(verify)
    t0 = time.perf_counter()
    for k in range(len(ds)):
        ds[k]
    return time.perf_counter() - t0


def main(argv=None) -> int:
    from ..bench.runner import dataset_path
    from ..datasets.build import build
    from ..datasets.loaders import ImageDataset, PatchDataset
    from ..datasets.recipe import load_recipe

    ap = argparse.ArgumentParser(prog="bench perf loader_verify", description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="nus")
    ap.add_argument("--size", default="full")
    ap.add_argument("--patch", type=int, default=128, help="training patch side (CAM's 128)")
    ap.add_argument("--repeats", type=int, default=2, help="epochs per setting; the fastest counts")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    path = dataset_path(recipe, args.size)
    build(recipe, path, args.size, progress=False)
    readers = {
        f"patches {args.patch} (stride {args.patch // 2}), train split": lambda v: PatchDataset(
            path, "train", patch=args.patch, verify=v),
        "whole images, train split": lambda v: ImageDataset(path, "train", verify=v),
    }
    print(f"{args.recipe}/{args.size} at {path}")
    for name, make in readers.items():
        off = min(_epoch(make, False) for _ in range(args.repeats))
        on = min(_epoch(make, True) for _ in range(args.repeats))
        n = len(make(False))
        print(f"{name}: {n} items, unverified {off:.2f} s, verified {on:.2f} s, "
              f"verified/unverified = {on / off:.3f} (cost {100 * (on / off - 1):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
