"""CAM's cpu profile trained longer on one camera: where its validation curve goes past 400 steps."""

import sys

from ispsim.methods.cam.schedule import main

if __name__ == "__main__":
    sys.exit(main())
