"""Render a 12-megapixel RAW to 8-bit sRGB: ispsim (Numba, PyTorch) vs rawpy, NumPy and memcpy.

The code lives in ``ispsim.bench.perf_isp_render`` so that ``bench perf isp_render`` runs it too.
"""

import sys

from ispsim.bench.perf_isp_render import main

if __name__ == "__main__":
    sys.exit(main())
