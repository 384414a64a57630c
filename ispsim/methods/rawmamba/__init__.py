"""RAWMamba building blocks (the method itself is not assembled yet): the selective scan and the
3-D Hilbert order."""
