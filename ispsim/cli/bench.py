"""``bench``: run ispsim's benchmarks.

    bench perf                 list the speed benchmarks
    bench perf NAME [ARGS...]  run one; it prints throughputs and ratios measured in the same run
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("perf", help="speed benchmarks (ratios against references measured in the same run)")
    p.add_argument("name", nargs="?")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_perf)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
