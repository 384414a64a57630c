"""Dataset build throughput for 1 and 2 workers and a Dask LocalCluster (``bench perf dataset_build``)."""

import sys

from ispsim.bench.perf_dataset_build import main

if __name__ == "__main__":
    sys.exit(main())
