"""``bench``: leaderboards of every method, and speed benchmarks.

    bench list                                  methods, tracks, flags, checkpoints
    bench run --methods all --suite quick       run, cache and write reports/<suite>/
    bench report --suite quick                  rebuild the report from results.csv
    bench train cam --profile cpu               train per-camera checkpoints with model cards
    bench perf [NAME [ARGS...]]                 speed benchmarks (ratios measured in the same run)
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

PERF_PREFIX = "perf_"


def perf_benchmarks() -> dict[str, str]:
    import ispsim.bench as pkg

    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith(PERF_PREFIX):
            mod = importlib.import_module(f"ispsim.bench.{info.name}")
            found[info.name[len(PERF_PREFIX):]] = (mod.__doc__ or "").strip().splitlines()[0]
    return found


def cmd_perf(args) -> int:
    found = perf_benchmarks()
    if not args.name:
        for name, doc in found.items():
            print(f"{name:16s} {doc}")
        return 0
    if args.name not in found:
        print(f"bench: unknown benchmark {args.name!r}; valid: {', '.join(found)}", file=sys.stderr)
        return 2
    return importlib.import_module(f"ispsim.bench.{PERF_PREFIX}{args.name}").main(args.args)


def _shipped_for(name: str, shipped) -> list[str]:
    """The shipped checkpoints this method loads: its file names, made with its profile's settings
    (ablations share their method's names but not its settings)."""
    from ..methods import create_method
    from ..methods.base import PROFILES

    mine = []
    for profile in PROFILES:
        m = create_method(name, profile)
        prefix = m.checkpoint_name("")[:-3]
        mine += [p.stem for p in shipped if p.stem.startswith(prefix) and m.made_with_these_settings(p)]
    return mine


def cmd_list(args) -> int:
    from ..methods import list_methods

    from ..methods.base import SETTINGS_DIR

    shipped = sorted((SETTINGS_DIR / "checkpoints").glob("*.pt"))
    for info in list_methods():
        flags = [f for f, on in (("trainable", info.trainable), ("upper bound", info.upper_bound),
                                 ("experimental: not in --methods all", info.experimental),
                                 (f"needs the '{info.extra}' extra", bool(info.extra))) if on]
        print(f"{info.name:16s} tracks: {', '.join(info.tracks):12s} reference: {info.needs_reference:8s} "
              f"{'[' + ', '.join(flags) + '] ' if flags else ''}{info.summary}")
        if info.trainable:
            mine = _shipped_for(info.name, shipped)
            print(f"{'':16s} checkpoints: {', '.join(mine) if mine else 'none shipped (trained on first use)'}")
    return 0


def _lpips(args):
    if args.no_lpips:
        return None, "LPIPS: not computed (--no-lpips)"
    from ..bench.lpips import load_lpips
    from ..errors import DataError

    try:
        return load_lpips()
    except DataError as e:  # damaged weights: say so in the report rather than stop the run
        return None, f"LPIPS: no weights ({e})"


def cmd_run(args) -> int:
    import pandas as pd

    from ..bench.provenance import provenance
    from ..bench.report import merge_results, write_report
    from ..bench.runner import Runner, annotate_stale_weights, current_hashes, resolve_methods
    from ..bench.suite import load_suite

    suite = load_suite(args.suite)
    out = Path(args.out or Path("reports") / suite.name)
    model, note = _lpips(args)
    runner = Runner(suite, out, data_dir=args.data_dir, progress=not args.quiet, lpips=model)
    rows = runner.run(resolve_methods(args.methods), args.datasets.split(",") if args.datasets else None)
    if not rows:
        print("bench: nothing to run (no method supports the suite's tracks)", file=sys.stderr)
        return 1
    prov = provenance(args.argv, prog="bench")
    df = pd.DataFrame(rows).assign(commit=prov["commit"], machine=prov["machine"])
    df = annotate_stale_weights(merge_results(out, df, current_hashes(suite), [d.key for d in suite.datasets]), suite)
    path = write_report(out, df, suite.name, suite.profile, suite.bootstrap, note, prov)
    tracks = [sec for sec in path.read_text().split("\n## ")[1:] if "\n### " in sec]
    print(tracks[0].split("\n### ", 2)[1] if tracks else "")
    print(f"wrote {path}, {out / 'results.csv'}, {out / 'index.html'}")
    failed = sum(1 for r in rows if r.get("error"))
    if failed:
        print(f"bench: {failed} images failed; they are listed in the leaderboard", file=sys.stderr)
    return 1 if failed else 0


def cmd_train(args) -> int:
    from ..bench.runner import built_store
    from ..methods import create_method
    from ..methods.base import SETTINGS_DIR

    method = create_method(args.method, args.profile)
    if not method.info.trainable:
        print(f"bench: {args.method} has nothing to train", file=sys.stderr)
        return 2
    store = built_store(args.recipe, args.size, args.data_dir, progress=not args.quiet)
    out = Path(args.out or SETTINGS_DIR / "checkpoints")
    method.fit(store, progress=not args.quiet, save_to=out)
    print(f"wrote {args.method} checkpoints and model cards to {out}")
    return 0


def cmd_report(args) -> int:
    import pandas as pd

    from ..bench.report import write_report
    from ..bench.suite import load_suite

    suite = load_suite(args.suite)
    out = Path(args.out or Path("reports") / suite.name)
    csv = out / "results.csv"
    if not csv.exists():
        print(f"bench: {csv} not found; run `bench run --suite {args.suite}` first", file=sys.stderr)
        return 2
    from ..bench.runner import annotate_stale_weights

    df = annotate_stale_weights(pd.read_csv(csv), suite)
    df["lpips"] = df["lpips"].astype(object).where(df["lpips"].notna(), None)
    note = "" if df["lpips"].notna().any() else "LPIPS: no weights"
    from ..bench.provenance import provenance

    print(f"wrote {write_report(out, df, suite.name, suite.profile, suite.bootstrap, note, provenance(args.argv, prog='bench'))}")
    return 0


def main(argv=None) -> int:
    from ..errors import ConfigError, DataError, InputFileError, ShapeError

    ap = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="methods with tracks and capability flags").set_defaults(func=cmd_list)
    r = sub.add_parser("run", help="run methods on a suite and write the leaderboard")
    r.add_argument("--methods", default="all", help="all, or a comma-separated list")
    r.add_argument("--suite", default="quick", help="quick, cpu or a suite TOML")
    r.add_argument("--datasets", help="only these recipes of the suite (comma-separated)")
    r.add_argument("--out", help="report folder (default reports/<suite>)")
    r.add_argument("--data-dir", help="where datasets are built (default $ISPSIM_DATA or ~/.cache/ispsim/data)")
    r.add_argument("--no-lpips", action="store_true", help="skip LPIPS even when its weights are there")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    r.set_defaults(func=cmd_run)
    t = sub.add_parser("train", help="train a method's models and write checkpoints with model cards")
    t.add_argument("method", help="a trainable method (see `bench list`)")
    t.add_argument("--profile", default="cpu", help="settings profile: quick, cpu or paper (default cpu)")
    t.add_argument("--recipe", default="nus", help="recipe whose training split it learns from (default nus)")
    t.add_argument("--size", default="full", help="the recipe's size (default full)")
    t.add_argument("--out", help="checkpoint folder (default methods/checkpoints, the shipped ones)")
    t.add_argument("--data-dir", help="where datasets are built (default $ISPSIM_DATA or ~/.cache/ispsim/data)")
    t.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)
    rp = sub.add_parser("report", help="rebuild a report from its results.csv")
    rp.add_argument("--suite", default="quick", help="quick, cpu or a suite TOML (default quick)")
    rp.add_argument("--out", help="report folder (default reports/<suite>)")
    rp.set_defaults(func=cmd_report)
    p = sub.add_parser("perf", help="speed benchmarks (ratios against references measured in the same run)")
    p.add_argument("name", nargs="?", help="a benchmark of benchmarks/perf/ (none: list them)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    p.set_defaults(func=cmd_perf)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (ConfigError, DataError, InputFileError, ShapeError) as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
