"""ISP stages. Each package holds its spec, ``_numba`` (NumPy/Numba) and ``_torch`` kernels.

The backend follows the type of the input array; nothing here imports torch.
"""

from . import cfa, color, degrade, demosaic, jpeg, levels, look, noise, quantize, tone, white_balance

STAGES = {
    m.SPEC.name: m.SPEC
    for m in (levels, cfa, demosaic, white_balance, color, look, tone, noise, quantize, jpeg, degrade)
}

__all__ = ["STAGES", "cfa", "color", "degrade", "demosaic", "jpeg", "levels", "look", "noise", "quantize", "tone", "white_balance"]


def _pairs():
    import numpy as np

    m = np.array([[1.6, -0.5, -0.1], [-0.2, 1.5, -0.3], [0.05, -0.45, 1.4]])
    return {
        # name: (forward, inverse, kwargs, input channels, point-wise)
        "levels": (levels.denormalize, levels.normalize, {"black": 128.0, "white": 4095.0}, 1, True),
        "cfa.pack": (cfa.pack, cfa.unpack, {"pattern": "GRBG"}, 1, False),
        "demosaic.bilinear": (lambda x, pattern: demosaic.demosaic(x, pattern, "bilinear"), demosaic.remosaic,
                              {"pattern": "BGGR"}, 1, False),
        "demosaic.malvar2004": (lambda x, pattern: demosaic.demosaic(x, pattern, "malvar2004"), demosaic.remosaic,
                                {"pattern": "GBRG"}, 1, False),
        "white_balance": (white_balance.apply_gains, white_balance.remove_gains, {"gains": [2.1, 1.0, 1.6]}, 3, True),
        "color": (color.apply_matrix, color.invert_matrix, {"matrix": m}, 3, True),
        "tone.srgb": (tone.encode_srgb, tone.decode_srgb, {}, 3, True),
        "tone.gamma": (tone.encode_gamma, tone.decode_gamma, {"gamma": 2.2}, 3, True),
        "tone.curve": (tone.apply_curve, tone.invert_curve, {"strength": 0.8}, 3, True),
        "tone.local": (tone.apply_local, tone.invert_local, {"strength": 0.4, "radius": 3}, 3, False),
        "look.table": (look.apply_table, look.invert_table, {"table": _look_table()}, 3, True),
        "look.tone_curve": (look.apply_tone_curve, look.invert_tone_curve,
                            {"curve": look.ToneCurve((0, 0.25, 0.5, 0.75, 1), (0, 0.35, 0.62, 0.85, 1))}, 3, True),
    }


def _look_table():
    """A 3-D table of moderate shifts and scales (invertible), sRGB-encoded value axis."""
    import numpy as np

    g = np.random.default_rng(7)
    d = np.stack([g.uniform(-8, 8, (3, 12, 4)), g.uniform(0.85, 1.15, (3, 12, 4)), g.uniform(0.9, 1.1, (3, 12, 4))], -1)
    return look.HSVTable(d, srgb_value=True)


def inverse_pairs():
    """Every stage with an inverse: ``{name: (forward, inverse, kwargs, channels, pointwise)}``.

    The tests loop over this registry, so a new invertible stage is tested by adding it here.
    """
    return _pairs()
