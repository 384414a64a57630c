"""``ispsim dataset``: build, inspect, verify and look at dataset stores."""

from __future__ import annotations

import sys

from ..errors import ConfigError, InputFileError


def cmd_build(args) -> int:
    from ..datasets.build import build
    from ..datasets.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    report = build(recipe, args.output, args.size, workers=args.workers, dask=args.dask, progress=not args.quiet,
                   allow_large=args.allow_large)
    print(f"{recipe.name}/{args.size} -> {args.output}: built {report.built}, already complete and re-checked "
          f"{report.skipped}, repaired {report.repaired}, "
          f"failed {len(report.failed)} in {report.seconds:.1f} s ({report.samples_per_s:.1f} samples/s, "
          f"{report.mb_per_s:.1f} MB/s)")
    for split, index, msg in report.failed:
        print(f"FAILED {split}/{index}: {msg}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_info(args) -> int:
    from ..datasets.store import DatasetStore

    s = DatasetStore(args.store)
    m = s.meta
    print(f"{s.path}: recipe {m['recipe_name']!r} ({m['style']}), size {m['size']}, seed {m['seed']}, "
          f"ispsim {m['version']}, cameras {', '.join(m['cameras'])}")
    for name, shape in s.fields.items():
        print(f"  field {name:8s} per sample {tuple(shape)} float32")
    for split, n in s.counts.items():
        done = len(s.done_indices(split))
        print(f"  {split:5s} {done}/{n} complete")
    print("  (complete: a completion marker is present; chunk contents are not checked here, "
          "`ispsim dataset verify` checks them)")
    unreadable = [f"{sp}/{i}" for sp in s.counts for i in s.done_indices(sp) if _unreadable(s, sp, i)]
    if unreadable:
        print(f"  unreadable markers: {', '.join(unreadable)}")
    for (sp, name), why in s.metadata_problems().items():
        print(f"  damaged array metadata {sp}/{name}: {why}")
    from ..datasets.generators import scene_summary

    from ..datasets.recipe import GENERATOR_VERSION

    built_by = s.meta.get("generator", 1)
    try:
        if built_by != GENERATOR_VERSION:  # the plan below is today's generator's, not this store's
            raise ConfigError(f"built by dataset generator {built_by}, whose splits this one cannot vouch for; rebuild")
        print(f"  {scene_summary(s.recipe, s.size)}")
    except (ConfigError, InputFileError) as e:
        print(f"  scenes: not checked ({e})")
    failures = s.failures()
    for f in failures:
        print(f"  failed {f['split']}/{f['index']}: {f['error']}")
    print(f"  on disk {s.nbytes_on_disk() / 1e6:.1f} MB")
    table = s.table()
    if len(table):
        num = table.select_dtypes("number").drop(columns=["index", "version", "bit_depth"], errors="ignore")
        num = num.loc[:, num.nunique() > 1]
        if len(num.columns):
            print(num.describe().loc[["mean", "min", "max"]].to_string())
    return 0


def _unreadable(store, split, index) -> bool:
    try:
        store.read_marker(split, index)
    except ConfigError:
        return True
    return False


def cmd_verify(args) -> int:
    from ..datasets.store import DatasetStore

    s = DatasetStore(args.store)
    problems = s.verify()
    total = sum(s.counts.values())
    for p in problems:
        print(p)
    print(f"{s.path}: {total - len(problems)} of {total} samples verified" + ("" if not problems else f", {len(problems)} problems"))
    return 1 if problems else 0


def cmd_show(args) -> int:
    from ..datasets.recipe import SPLITS
    from ..datasets.show import contact_sheet
    from ..datasets.store import DatasetStore

    if args.split not in SPLITS:
        raise ConfigError(f"--split {args.split!r}: expected one of {', '.join(SPLITS)}")
    if args.n < 1:
        raise ConfigError(f"-n {args.n}: expected at least 1 sample")
    contact_sheet(DatasetStore(args.store), args.split, args.n, args.output)
    print(f"wrote {args.output}")
    return 0


def add_parser(sub) -> None:
    ds = sub.add_parser("dataset", help="build, inspect, verify and show dataset stores").add_subparsers(dest="dataset_command", required=True)
    b = ds.add_parser("build", help="build (or resume) a recipe into a Zarr store")
    b.add_argument("recipe", help="a recipe TOML, or a shipped one: nus, rvd, rddm")
    b.add_argument("-o", "--output", required=True, help="store folder")
    b.add_argument("--size", default="quick", help="a [sizes.NAME] of the recipe (default quick)")
    b.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1)")
    b.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler address, or 'local' for a LocalCluster of --workers")
    b.add_argument("--allow-large", action="store_true",
                   help=f"build past the size limits (a side above 8192, a split above 100000 samples, 64 GB)")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_build)
    i = ds.add_parser("info", help="what a store holds")
    i.add_argument("store", help="a store folder written by `ispsim dataset build`")
    i.set_defaults(func=cmd_info)
    v = ds.add_parser("verify", help="check every sample against its checksums; name what is missing or corrupt")
    v.add_argument("store", help="a store folder written by `ispsim dataset build`")
    v.set_defaults(func=cmd_verify)
    s = ds.add_parser("show", help="write a contact sheet PNG of samples")
    s.add_argument("store", help="a store folder written by `ispsim dataset build`")
    s.add_argument("-o", "--output", default="contact_sheet.png", help="PNG to write (default contact_sheet.png)")
    s.add_argument("--split", default="train", help="train, val or test (default train)")
    s.add_argument("-n", type=int, default=6, help="samples (rows)")
    s.set_defaults(func=cmd_show)
