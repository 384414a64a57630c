import numpy as np
import pytest
from PIL import Image

from ispsim.cameras import load_camera
from ispsim.datasets.recipe import Scenes
from ispsim.errors import InputFileError
from ispsim.io import write_dng
from ispsim.scenes import demo_scene
from ispsim.scenes.sources import SkimageSource, make_source
from ispsim.stages import cfa, demosaic, levels


def bayer_dn(camera, h=96, w=128):
    cam = load_camera(camera)
    s = cam.sensor
    scene = demo_scene(cam, height=h, width=w)
    raw = np.clip(cfa.mosaic(scene.rgb, s.cfa)[0], 0, 1)
    return np.rint(levels.denormalize(raw, s.black_level, s.white_level)).astype(np.uint16), cam


def test_nus_folder_uses_profile_levels_and_bilinear_demosaic(tmp_path, rng):
    dn, cam = bayer_dn("samsung")
    Image.fromarray(dn).save(tmp_path / "img_0001.png")
    source = make_source(Scenes(source="nus_folder", path=str(tmp_path)))
    scene = source.load(0, cam, 96, 128, rng)
    s = cam.sensor
    expected = demosaic.demosaic(np.clip(levels.normalize(dn, s.black_level, s.white_level), 0, 1)[None], s.cfa)
    np.testing.assert_allclose(scene.rgb, expected, atol=1e-6)
    assert scene.meta["path"].endswith("img_0001.png")


def test_raw_folder_reads_dng_through_libraw_and_downsamples(tmp_path, rng):
    dn, cam = bayer_dn("sony", 192, 256)
    s = cam.sensor
    write_dng(tmp_path / "a.dng", dn, cfa=s.cfa, black=s.black_level, white=s.white_level,
              color_matrix=cam.calibration.matrix_1, as_shot_neutral=[0.5, 1, 0.7])
    source = make_source(Scenes(source="raw_folder", path=str(tmp_path)), downsample=2)
    scene = source.load(0, cam, 96, 128, rng)
    full = demosaic.demosaic(np.clip(levels.normalize(dn, s.black_level, s.white_level), 0, 1)[None], s.cfa)
    np.testing.assert_allclose(scene.rgb, full.reshape(3, 96, 2, 128, 2).mean(axis=(2, 4)), atol=1e-6)
    np.testing.assert_allclose(scene.gains, [2.0, 1.0, 1 / 0.7], rtol=1e-5)


def test_folder_errors(tmp_path, rng):
    with pytest.raises(InputFileError, match="scene folder not found"):
        make_source(Scenes(source="raw_folder", path=str(tmp_path / "nope")))
    with pytest.raises(InputFileError, match="no srgb files"):
        make_source(Scenes(source="srgb_folder", path=str(tmp_path)))
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(InputFileError, match="smaller than the recipe"):
        make_source(Scenes(source="srgb_folder", path=str(tmp_path))).load(0, load_camera("sony"), 64, 64, rng)


def test_skimage_photographs_load_offline(rng):
    source = SkimageSource((0.5, 1.0))
    assert len(source) == 6
    for i in range(len(source)):
        scene = source.load(i, load_camera("phone"), 96, 128, rng)
        assert scene.rgb.shape == (3, 96, 128) and scene.rgb.min() >= 0 and np.isfinite(scene.rgb).all()
