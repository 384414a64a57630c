"""Command-line start-up against ``python -c "import numpy"`` (``bench perf startup``)."""

import sys

from ispsim.bench.perf_startup import main

if __name__ == "__main__":
    sys.exit(main())
