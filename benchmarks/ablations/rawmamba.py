"""RAWMamba ablations (the paper's Table 3: without GEB / LEB / local scan / global scan)."""

import sys

from ispsim.methods.rawmamba.ablation import main

if __name__ == "__main__":
    sys.exit(main())
