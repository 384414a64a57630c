"""Seconds per image of each method at CAM size and INF's batched-vs-loop speed-up (``bench perf methods``)."""

import sys

from ispsim.bench.perf_methods import main

if __name__ == "__main__":
    sys.exit(main())
