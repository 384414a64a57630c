"""ISP stages. Each package holds its spec, ``_numba`` (NumPy/Numba) and ``_torch`` kernels.

The backend follows the type of the input array; nothing here imports torch.
"""

from . import cfa, color, demosaic, jpeg, levels, noise, quantize, tone, white_balance

STAGES = {
    m.SPEC.name: m.SPEC
    for m in (levels, cfa, demosaic, white_balance, color, tone, noise, quantize, jpeg)
}

__all__ = ["STAGES", "cfa", "color", "demosaic", "jpeg", "levels", "noise", "quantize", "tone", "white_balance"]
