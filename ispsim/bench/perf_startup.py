"""Start-up of the command line against ``python -c "import numpy"``, measured in the same run
(``bench perf startup``): listing cameras and rejecting an unknown one must not load colour-science,
matplotlib or torch."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = {
    'python -c "import numpy" (reference)': [sys.executable, "-c", "import numpy"],
    "ispsim cameras": [sys.executable, "-m", "ispsim.cli.main", "cameras"],
    "ispsim render --camera nikon (unknown camera)": [sys.executable, "-m", "ispsim.cli.main", "render", "--camera", "nikon"],
    "ispsim stages": [sys.executable, "-m", "ispsim.cli.main", "stages"],
}


def _time(cmd, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="bench perf startup", description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    ref = None
    for name, cmd in COMMANDS.items():
        t = _time(cmd, args.repeats)
        ref = ref or t
        print(f"{name:48s} {t:6.3f} s   {t / ref:5.2f}x the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
