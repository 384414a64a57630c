import colour
import numpy as np
import pytest
import torch

from ispsim.cameras import load_camera
from ispsim.errors import ConfigError, ShapeError
from ispsim.stages import color
from ispsim.stages.color import ColorCalibration

SONY = load_camera("sony").calibration


def test_d65_matrix_equals_dcraw_formula():
    # dcraw/LibRaw: rgb_cam = inverse(rows-normalised(cam_xyz @ xyz_rgb)); with a D65 white and
    # as-shot gains the DNG route must give the same matrix.
    cam_xyz = np.asarray(SONY.matrix_1).reshape(3, 3)
    cam_rgb = cam_xyz @ np.linalg.inv(colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB)
    cam_rgb /= cam_rgb.sum(axis=1, keepdims=True)
    ref = np.linalg.inv(cam_rgb)
    ours = SONY.camera_to_srgb(SONY.gains_for_xy(color.illuminant_xy("D65")))
    # IEC 61966-2-1's 4-digit matrix puts its white 1e-4 off D65; both routes normalise rows.
    np.testing.assert_allclose(ours, ref, atol=3e-4)


@pytest.mark.parametrize("name", ["A", "D50", "D65"])
def test_white_maps_to_white_and_white_point_recovered(name):
    xy = color.illuminant_xy(name)
    gains = SONY.gains_for_xy(xy)
    m = SONY.camera_to_srgb(gains)
    np.testing.assert_allclose(m @ np.ones(3), 1.0, atol=1e-12)
    np.testing.assert_allclose(SONY.white_xy(gains), xy, atol=1e-9)


def test_chromatic_adaptation_matches_colour_science():
    # A surface under illuminant A, taken through camera -> sRGB, equals colour-science's
    # Bradford adaptation of its XYZ to D65 followed by XYZ -> sRGB.
    xy_a = color.illuminant_xy("A")
    gains = SONY.gains_for_xy(xy_a)
    XYZ = np.array([0.3, 0.25, 0.1])
    cam_wb = gains * (SONY.xyz_to_camera(color.xy_to_cct(xy_a)) @ XYZ)
    ours = SONY.camera_to_srgb(gains) @ cam_wb
    XYZ_w = color.xy_to_XYZ(xy_a)
    XYZ_65 = colour.chromatic_adaptation(XYZ, XYZ_w, color.xy_to_XYZ(color.illuminant_xy("D65")), method="Von Kries", transform="Bradford")
    ref = colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB @ XYZ_65
    # Green-normalised gains keep the camera's exposure: a Y = 1 white reads its green response.
    green_of_white = (SONY.xyz_to_camera(color.xy_to_cct(xy_a)) @ XYZ_w)[1]
    # Rows are normalised so that white is exactly neutral, absorbing the 4-digit sRGB matrix's
    # 1e-4 offset from D65 that colour-science's reference keeps.
    np.testing.assert_allclose(ours, ref * green_of_white, rtol=5e-4)


def test_two_matrix_interpolation_in_mired():
    m1 = np.eye(3).ravel() * 1.0
    m2 = np.diag([0.5, 1.0, 2.0]).ravel()
    cal = ColorCalibration(tuple(m1), "A", tuple(m2), "D65")
    t_a = color.xy_to_cct(color.illuminant_xy("A"))
    t_65 = color.xy_to_cct(color.illuminant_xy("D65"))
    np.testing.assert_allclose(cal.xyz_to_camera(t_a), m1.reshape(3, 3))
    np.testing.assert_allclose(cal.xyz_to_camera(t_65), m2.reshape(3, 3))
    np.testing.assert_allclose(cal.xyz_to_camera(1e4), m2.reshape(3, 3))  # clamped
    mid = 2.0 / (1 / t_a + 1 / t_65)  # the mired midpoint
    np.testing.assert_allclose(cal.xyz_to_camera(mid), (m1 + m2).reshape(3, 3) / 2, atol=1e-12)


def test_apply_and_invert_both_backends(rng):
    m = SONY.camera_to_srgb(SONY.gains_for_xy(color.illuminant_xy("D65")))
    x = rng.random((2, 3, 9, 11)).astype(np.float32)
    a = color.apply_matrix(x, m)
    b = color.apply_matrix(torch.from_numpy(x), m).numpy()
    ref = np.einsum("ck,nkhw->nchw", m, x.astype(np.float64))
    np.testing.assert_allclose(a, ref, atol=2e-6)
    np.testing.assert_allclose(b, ref, atol=2e-6)
    np.testing.assert_allclose(color.invert_matrix(a, m), x, atol=3e-6)
    np.testing.assert_allclose(color.invert_matrix(torch.from_numpy(a), m).numpy(), x, atol=3e-6)


def test_batched_matrices(rng):
    ms = rng.random((2, 3, 3))
    x = rng.random((2, 3, 4, 5)).astype(np.float32)
    ref = np.einsum("nck,nkhw->nchw", ms, x)
    np.testing.assert_allclose(color.apply_matrix(x, ms), ref, atol=1e-6)
    np.testing.assert_allclose(color.apply_matrix(torch.from_numpy(x), ms).numpy(), ref, atol=1e-6)


def test_gradcheck_matrix_is_learnable():
    x = torch.rand(3, 4, 4, dtype=torch.float64, requires_grad=True)
    m = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v, w: color.apply_matrix(v, w), (x, m))


def test_bad_input():
    with pytest.raises(ShapeError, match=r"\(\*, 3, 3\)"):
        color.apply_matrix(np.zeros((3, 2, 2), np.float32), np.eye(2))
    with pytest.raises(ConfigError, match="9 numbers"):
        ColorCalibration((1.0, 2.0), "D65")
    with pytest.raises(ConfigError, match="illuminant"):
        ColorCalibration(tuple(np.eye(3).ravel()), "F11")
