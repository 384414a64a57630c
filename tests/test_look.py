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


@pytest.mark.parametrize("part", ["hue_sat_map", "look_table"])
def test_table_inverse_gradient_is_the_implicit_functions(part):
    """The inverse's gradient (each pixel's Jacobian inverted) against finite differences of the
    inverse itself."""
    t = getattr(look.parametric_look(hue_twist=15, saturation=1.4, value_twist=0.2), part)
    x = torch.from_numpy(np.random.default_rng(5).uniform(0.1, 0.8, (2, 3, 3, 4)))
    y = look.apply_table(x, t).detach().requires_grad_()
    assert torch.autograd.gradcheck(lambda a: look.invert_table(a, t), (y,), eps=1e-6, atol=1e-6)


def test_numpy_equals_pytorch():
    g = np.random.default_rng(4)
    x = g.uniform(0, 1, (2, 3, 16, 16))
    d = np.stack([g.uniform(-20, 20, (4, 18, 5)), g.uniform(0.5, 1.5, (4, 18, 5)), g.uniform(0.7, 1.3, (4, 18, 5))], -1)
    t = look.HSVTable(d, True)
    np.testing.assert_allclose(look.apply_table(torch.from_numpy(x), t).numpy(), look.apply_table(x, t), atol=1e-12)


# -- the working space, the parametric family, the pipeline ------------------------------------
def test_prophoto_matrix_matches_colour_science():
    colour = pytest.importorskip("colour")
    ref = colour.matrix_RGB_to_RGB(colour.RGB_COLOURSPACES["sRGB"], colour.RGB_COLOURSPACES["ProPhoto RGB"],
                                   chromatic_adaptation_transform="Bradford")
    np.testing.assert_allclose(look.SRGB_TO_PROPHOTO, ref, atol=5e-4)  # colour rounds its published NPMs
    np.testing.assert_allclose(look.SRGB_TO_PROPHOTO @ np.ones(3), np.ones(3), atol=1e-12)  # white stays white


@pytest.mark.parametrize("params", [dict(saturation=1.6, hue_twist=20, value_twist=0.3, filmic=0.8),
                                    dict(saturation=0.8, hue_twist=-20, hue_phase=90)])
def test_parametric_tables_never_clamp_and_curve_is_monotone(params):
    lk = look.parametric_look(**params)
    s = np.linspace(0, 1, 1001)
    hsm = lk.hue_sat_map.data[0]  # (hue, sat, 3)
    for hi in range(hsm.shape[0]):
        scale = np.interp(s, np.linspace(0, 1, hsm.shape[1]), hsm[hi, :, 1])
        out = s * scale
        assert out.max() <= 1 + 1e-12 and (np.diff(out) > 0).all()  # invertible, no saturation clip
    x = np.linspace(0, 1, 20001)
    y = look.eval_curve(lk.tone_curve, x) if lk.tone_curve is not None else x
    assert (np.diff(y) > 0).all() and y[0] == pytest.approx(0, abs=1e-12) and y[-1] == pytest.approx(1)


def _scene(seed=0, h=24, w=40):
    """Camera RGB of moderate colours for the Samsung profile (rendered back from sRGB)."""
    from ispsim.pipeline import Pipeline, PipelineConfig

    srgb = np.random.default_rng(seed).uniform(0.02, 0.95, (3, h, w)).astype(np.float64)
    srgb = 0.6 * srgb + 0.4 * srgb.mean(0, keepdims=True)  # natural saturations, a few out of gamut
    base = Pipeline("samsung", PipelineConfig(tone_curve=0.0, local_tone=0.0, output_bits=0))
    _, rec = base.render(np.full((3, 2, 2), 0.2), 1)
    return base.invert(srgb, rec, mosaic=False)


LOOKS = [dict(filmic=0.5), dict(saturation=1.4, hue_twist=15.0), dict(hue_twist=-20.0, hue_phase=30.0,
         saturation=1.6, value_twist=0.3, filmic=0.8)]


@pytest.mark.parametrize("params", LOOKS)
def test_render_with_a_look_inverts_exactly_where_nothing_clipped(params):
    from ispsim.pipeline import Pipeline, PipelineConfig

    raw = _scene()
    pipe = Pipeline("samsung", PipelineConfig(tone_curve=0.0, local_tone=0.0, output_bits=0, **params))
    srgb, rec = pipe.render(raw, 3)
    assert rec.look is not None and rec.look["filmic"] == params.get("filmic", 0.0)
    back = pipe.invert(srgb, rec, mosaic=False)
    inside = ((srgb > 1e-6) & (srgb < 1 - 1e-6)).all(0)
    assert inside.mean() > 0.5
    np.testing.assert_allclose(back[:, inside], raw[:, inside], atol=1e-9)


def test_render_with_a_look_numpy_equals_pytorch_and_record_round_trips():
    from ispsim.pipeline import Pipeline, PipelineConfig, Record

    raw = _scene(1)
    pipe = Pipeline("samsung", PipelineConfig(tone_curve=0.0, local_tone=0.0, output_bits=0, **LOOKS[2]))
    a, rec = pipe.render(raw, 2)
    b, rec_t = pipe.render(torch.from_numpy(raw), 2)
    np.testing.assert_allclose(b.numpy(), a, atol=1e-12)
    assert Record.from_json(rec.to_json()) == rec == rec_t
    with pytest.raises(ConfigError, match="look"):
        Record.from_dict({**rec.to_dict(), "look": {"twist": 3.0}})


def test_look_ranges_are_drawn_per_sample_and_bounded():
    from ispsim.pipeline import Pipeline, PipelineConfig

    pipe = Pipeline("sony", PipelineConfig(hue_twist=(5.0, 10.0), saturation=(1.1, 1.3)))
    r1, r2 = pipe.draw_blind(1), pipe.draw_blind(2)
    assert 5 <= r1.look["hue_twist"] <= 10 and r1.look != r2.look and pipe.draw_blind(1) == r1
    assert Pipeline("sony").draw_blind(1).look is None  # the profiles' defaults turn the look off
    with pytest.raises(ConfigError, match="hue_twist"):
        PipelineConfig(hue_twist=30.0)


def test_recipes_nus_has_dng_looks_and_nus_localtone_keeps_the_first_calibration():
    from ispsim.datasets.generators import make_sample
    from ispsim.datasets.recipe import load_recipe

    nus, old = load_recipe("nus"), load_recipe("nus-localtone")
    _, params = make_sample(nus.with_size("t", 32, 48, test=3), "t", "test", 1)
    rec = params["record"]
    assert rec["look"] is not None and rec["local_tone"] == 0 and rec["tone_curve"] == 0
    assert old.pipeline_for("samsung_nx2000").local_tone == (0.18, 0.38)
    assert old.pipeline_for("samsung_nx2000").hue_twist is None
