"""DNG profile looks: table lookups against hand computation, the tag layout, gradients against
finite differences, NumPy against PyTorch (round trips run with every stage in test_inverse_pairs)."""

import numpy as np
import pytest
import torch

from ispsim.errors import ConfigError
from ispsim.stages import look


def _red_twist():
    """6 hues x 2 saturations x 1 value: +30 degrees at (red, full saturation) only."""
    t = look.HSVTable.identity(6, 2, 1)
    d = t.data.copy()
    d[0, 0, 1, 0] = 30.0
    return look.HSVTable(d)


def _px(r, g, b):
    return np.array([r, g, b], np.float64).reshape(3, 1, 1)


@pytest.mark.parametrize("rgb, expected", [
    ((1.0, 0.0, 0.0), (1.0, 0.5, 0.0)),            # at the node: the whole 30 degrees (hue 0 -> 0.5 of 6)
    ((1.0, 0.5, 0.0), (1.0, 0.75, 0.0)),           # hue 0.5: half-way to the next node, 15 degrees
    ((1.0, 0.5, 0.5), (1.0, 0.625, 0.5)),          # saturation 0.5: half-way to s = 0, 15 degrees
    ((1.0, 0.0, 0.5), (1.0, 0.0, 0.25)),           # hue 5.5: half-way from the last node, wraps to red
    ((0.4, 0.4, 0.4), (0.4, 0.4, 0.4)),            # grey has no hue: unchanged
])
def test_table_lookup_matches_hand_computation(rgb, expected):
    out = look.apply_table(_px(*rgb), _red_twist())
    np.testing.assert_allclose(out.ravel(), expected, atol=1e-12)


def test_dng_tag_layout_is_value_then_hue_then_saturation():
    h, s, v = 4, 3, 2
    flat = np.arange(h * s * v * 3, dtype=float)
    t = look.HSVTable.from_dng((h, s, v), flat)
    vi, hi, si = 1, 2, 1
    assert t.data[vi, hi, si, 0] == flat[((vi * h + hi) * s + si) * 3]
    with pytest.raises(ConfigError, match="do not fill"):
        look.HSVTable.from_dng((h, s, v), flat[:-3])


def test_srgb_value_encoding_moves_the_value_index():
    d = np.zeros((2, 6, 2, 3))
    d[..., 1] = 1.0
    d[0, ..., 2], d[1, ..., 2] = 1.0, 2.0  # value scale 1 at v = 0, 2 at v = 1
    x = _px(0.2, 0.1, 0.1)  # v = 0.2: linear index 0.2, sRGB-encoded index ~0.48
    lin = look.apply_table(x, look.HSVTable(d, srgb_value=False)).max()
    enc = look.apply_table(x, look.HSVTable(d, srgb_value=True)).max()
    assert lin == pytest.approx(0.2 * 1.2) and enc == pytest.approx(0.2 * (1 + (1.055 * 0.2 ** (1 / 2.4) - 0.055)))


def test_tone_curve_passes_through_its_points_and_keeps_hue():
    c = look.ToneCurve((0, 0.25, 0.5, 0.75, 1), (0, 0.35, 0.62, 0.85, 1))
    for x, y in zip(c.x, c.y):
        assert look.eval_curve(c, np.array(x)) == pytest.approx(y)
    rgb = _px(0.6, 0.3, 0.1)
    out = look.apply_tone_curve(rgb, c)
    h0, _, _ = look.rgb_to_hsv(rgb)
    h1, _, _ = look.rgb_to_hsv(out)
    assert h1.item() == pytest.approx(h0.item(), abs=0.05)  # Adobe's RGB tone keeps the hue close


@pytest.mark.parametrize("which", ["table", "curve"])
def test_gradients_match_finite_differences(which):
    g = np.random.default_rng(3)
    x = torch.from_numpy(g.uniform(0.1, 0.8, (3, 3, 4))).requires_grad_()
    d = np.stack([g.uniform(-8, 8, (3, 12, 4)), g.uniform(0.85, 1.15, (3, 12, 4)), g.uniform(0.9, 1.1, (3, 12, 4))], -1)
    t, c = look.HSVTable(d, True), look.ToneCurve((0, 0.3, 0.7, 1), (0, 0.4, 0.8, 1))
    f = (lambda a: look.apply_table(a, t)) if which == "table" else (lambda a: look.apply_tone_curve(a, c))
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5)
    inv = (lambda a: look.invert_table(a, t)) if which == "table" else (lambda a: look.invert_tone_curve(a, c))
    y = f(x).detach().requires_grad_()
    (gx,) = torch.autograd.grad(inv(y).sum(), y)
    assert torch.isfinite(gx).all()


def test_numpy_equals_pytorch():
    g = np.random.default_rng(4)
    x = g.uniform(0, 1, (2, 3, 16, 16))
    d = np.stack([g.uniform(-20, 20, (4, 18, 5)), g.uniform(0.5, 1.5, (4, 18, 5)), g.uniform(0.7, 1.3, (4, 18, 5))], -1)
    t = look.HSVTable(d, True)
    np.testing.assert_allclose(look.apply_table(torch.from_numpy(x), t).numpy(), look.apply_table(x, t), atol=1e-12)
