"""RAWMamba (2025): one network for image and video sRGB-to-RAW de-rendering. The selective scan,
the 3-D Hilbert order, LTA-Mamba's blocks, UME's embedding blocks, the network and the method.
Importing it needs neither mamba-ssm nor a GPU."""

from .method import RAWMamba, RAWMambaNoBase, RAWMambaNoGEB, RAWMambaNoGlobal, RAWMambaNoLEB, RAWMambaNoLocal

__all__ = ["RAWMamba", "RAWMambaNoGEB", "RAWMambaNoLEB", "RAWMambaNoLocal", "RAWMambaNoGlobal", "RAWMambaNoBase"]
