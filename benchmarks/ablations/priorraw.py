"""PriorRAW ablations (search: bank vs whole reference set; network: Table 1's rows)."""

import sys

from ispsim.methods.priorraw.ablation import main

if __name__ == "__main__":
    sys.exit(main())
