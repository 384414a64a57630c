"""RDDM's CMB-LoRA: every test image through every Bayer order's LoRA group (does a group know its order?)."""

import sys

from ispsim.methods.rddm.groups import main

if __name__ == "__main__":
    sys.exit(main())
