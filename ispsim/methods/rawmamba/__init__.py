"""RAWMamba building blocks (the method itself is not assembled yet): the selective scan, the 3-D
Hilbert order, LTA-Mamba's blocks (bidirectional Mamba, the Eq. (15) scan block, channel
attention, the 3-D convolution decoder) and UME's embedding blocks (GEB, the deformable,
flow-warped LEB, their weighted sum)."""
