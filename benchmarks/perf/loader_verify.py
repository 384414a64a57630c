"""Cost of the loaders' per-sample sha256 check on one training epoch (``bench perf loader_verify``)."""

import sys

from ispsim.bench.perf_loader_verify import main

if __name__ == "__main__":
    sys.exit(main())
