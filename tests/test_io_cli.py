import json

import numpy as np
import pytest
import rawpy
from PIL import Image

from ispsim.cameras import list_cameras, load_camera, parse_profile
from ispsim.cli.main import main
from ispsim.errors import ConfigError, InputFileError
from ispsim.io import read_raw, read_srgb, write_dng, write_image
from ispsim.pipeline import PLAIN, Pipeline, Record
from ispsim.stages import levels

from .conftest import PATTERNS, psnr

CAMERAS = [c.key for c in list_cameras()]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_dng_is_read_bit_exactly_by_libraw(tmp_path, rng, pattern):
    dn = rng.integers(0, 4096, (24, 36)).astype(np.uint16)
    cm = load_camera("sony").calibration.matrix_1
    f = write_dng(tmp_path / "x.dng", dn, cfa=pattern, black=128, white=4095, color_matrix=cm,
                  as_shot_neutral=[0.5, 1.0, 0.8])
    with rawpy.imread(str(f)) as raw:
        np.testing.assert_array_equal(raw.raw_image_visible, dn)
        assert raw.black_level_per_channel == [128] * 4 and raw.white_level == 4095
        np.testing.assert_allclose(raw.camera_whitebalance[:3], [2.0, 1.0, 1.25], rtol=1e-6)
    r = read_raw(f)
    assert (r.cfa, r.black, r.white) == (pattern, 128.0, 4095.0)
    np.testing.assert_allclose(r.gains, [2.0, 1.0, 1.25], rtol=1e-6)


@pytest.mark.parametrize("camera", CAMERAS)
def test_unprocess_dng_developed_by_libraw_matches_render(tmp_path, camera):
    png, dng = tmp_path / "demo.png", tmp_path / "raw.dng"
    assert main(["render", "--camera", camera, "-o", str(png)]) == 0
    assert main(["unprocess", str(png), "--camera", camera, "-o", str(dng), "--seed", "3"]) == 0
    r = read_raw(dng)
    pipe = Pipeline(camera, PLAIN).with_sensor(cfa=r.cfa, black=r.black, white=r.white)
    ours, _ = pipe.render(levels.normalize(r.dn, r.black, r.white)[None], 0, gains=r.gains)
    with rawpy.imread(str(dng)) as raw:
        theirs = raw.postprocess(
            demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, use_camera_wb=True, no_auto_bright=True,
            output_color=rawpy.ColorSpace.sRGB, gamma=(2.4, 12.92), output_bps=16,
            user_sat=int(r.white - r.black), adjust_maximum_thr=0.0, user_flip=0,
        )
    assert psnr(ours, theirs.transpose(2, 0, 1) / 65535.0) >= 35


def test_render_demo_writes_image_record_and_raw(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["render", "--camera", "phone", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out / "demo_phone.png"))
    assert img.shape == (384, 576, 3) and img.dtype == np.uint8 and img.std() > 20
    record = Record.from_json((out / "demo_phone.json").read_text())
    assert record.camera == "phone" and record.cfa == "BGGR"
    assert np.load(out / "demo_phone_raw.npy").shape == (1, 384, 576)
    assert "demo scene" in capsys.readouterr().out


def test_render_batch_keeps_going_and_lists_failures(tmp_path, capsys, rng):
    src = tmp_path / "in"
    src.mkdir()
    scene = rng.integers(200, 3000, (32, 48)).astype(np.uint16)
    np.save(src / "a.npy", scene)
    Image.fromarray(scene).save(src / "b.png")  # 16-bit Bayer PNG, levels from the profile
    (src / "broken.dng").write_bytes(b"II*\x00 definitely not a raw file")
    np.save(src / "odd.npy", scene[:31])
    nan = scene.astype(np.float32) / 4095
    nan[3, 3] = np.nan
    np.save(src / "nan.npy", nan)
    out = tmp_path / "out"
    code = main(["render", str(src), "--camera", "sony", "-o", str(out), "--set", "local_tone=0.0", "-q"])
    assert code == 1
    # An odd-sized mosaic loses its incomplete CFA cell and renders; the record says so.
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.png", "b.json", "b.png", "odd.json", "odd.png"]
    assert Record.from_json((out / "odd.json").read_text()).source_size == (31, 48)
    err = capsys.readouterr().err
    assert "broken.dng: LibRaw cannot read it" in err
    assert "odd.npy" not in err
    assert "nan.npy" in err and "NaN" in err
    # The fused 8-bit path and the stage path agree on the same file.
    a = np.asarray(Image.open(out / "a.png")).astype(int)
    assert np.abs(a - np.asarray(Image.open(out / "b.png")).astype(int)).max() <= 1


def test_render_bayer_tiff_with_explicit_levels_and_16bit_output(tmp_path, rng):
    import tifffile

    dn = rng.integers(64, 1023, (16, 24)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tiff", dn)
    out = tmp_path / "o.tiff"
    assert main(["render", str(tmp_path / "in.tiff"), "--camera", "sony", "--black", "64", "--white", "1023",
                 "--cfa", "gbrg", "--format", "tiff", "-o", str(out)]) == 0
    record = Record.from_json(out.with_suffix(".json").read_text())
    assert (record.cfa, record.black_level, record.white_level, record.output_bits) == ("GBRG", 64.0, 1023.0, 16)
    assert tifffile.imread(out).dtype == np.uint16


def test_bad_cfa_and_missing_file(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.zeros((8, 8), np.uint16))
    assert main(["render", str(tmp_path / "m.npy"), "--camera", "sony", "--cfa", "RGBG", "-o", str(tmp_path / "o.png")]) == 2
    assert "m.npy: cfa pattern: expected one of RGGB" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "none.dng"), "--camera", "sony", "-o", str(tmp_path / "o.png")]) == 2
    assert "none.dng: no such file" in capsys.readouterr().err
    assert main(["render", "--camera", "nikon"]) == 2
    assert "valid cameras: olympus_e_pl6" in capsys.readouterr().err


def test_camera_names_and_listing(capsys):
    assert load_camera("sony").key == load_camera("A57").key == load_camera("sony_slt").key == "sony_slt_a57"
    assert load_camera("sam").key == "samsung_nx2000"
    with pytest.raises(ConfigError, match="is ambiguous"):
        load_camera("s")
    assert main(["cameras"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("Sony SLT-A57", "Samsung NX2000", "Olympus E-PL6", "Smartphone-like sensor"))


def test_profiles_cite_every_value_and_reject_bad_files(tmp_path):
    import tomllib

    path = load_camera("sony").path
    data = tomllib.loads(open(path).read())
    for section in ("sensor", "color", "noise", "look"):
        for key in data[section]:
            assert f"{section}.{key}" in data["sources"]
    broken = {**data, "sensor": {k: v for k, v in data["sensor"].items() if k != "white_level"}}
    with pytest.raises(ConfigError, match=r"x.toml: \[sensor\].white_level: missing required field"):
        parse_profile(broken, tmp_path / "x.toml")
    broken = {**data, "look": {**data["look"], "sharpen": 1.0}}
    with pytest.raises(ConfigError, match=r"\[look\].sharpen: unknown key"):
        parse_profile(broken, tmp_path / "x.toml")
    broken = {**data, "sources": {k: v for k, v in data["sources"].items() if k != "sensor.cfa"}}
    with pytest.raises(ConfigError, match=r"\[sensor\].cfa has no entry in \[sources\]"):
        parse_profile(broken, tmp_path / "x.toml")
    (tmp_path / "mine.toml").write_text(open(path).read().replace("black_level = 128", "black_level = 'x'"))
    with pytest.raises(ConfigError, match=r"mine.toml: \[sensor\].black_level: expected int or float"):
        load_camera(tmp_path / "mine.toml")


def test_unprocess_with_record_inverts_the_render(tmp_path):
    out = tmp_path / "demo.tiff"
    assert main(["render", "--camera", "samsung", "--format", "tiff", "-o", str(out)]) == 0
    npy = tmp_path / "raw.npy"
    assert main(["unprocess", str(out), "--camera", "samsung", "--record", str(out.with_suffix(".json")), "-o", str(npy)]) == 0
    dn = np.load(npy)
    truth = np.load(tmp_path / "demo_raw.npy")[0]
    s = load_camera("samsung").sensor
    recovered = levels.normalize(dn, s.black_level, s.white_level)
    ok = (truth > 0.01) & (truth < 0.3)  # where the render clipped nothing
    assert psnr(truth[ok], recovered[ok]) > 45
    assert json.loads(npy.with_suffix(".json").read_text())["camera"] == "samsung_nx2000"


def test_images_are_written_whole(tmp_path, rng):
    x = rng.random((3, 10, 12)).astype(np.float32)
    for name, bits in (("a.png", 8), ("a16.png", 16), ("a.tiff", 16), ("a.jpg", 8)):
        write_image(tmp_path / name, x, bits=bits)
        back = read_srgb(tmp_path / name)
        assert back.shape == x.shape
        if name != "a.jpg":
            assert np.abs(back - x).max() <= 0.5 / (2**bits - 1) + 1e-6
    assert not list(tmp_path.glob(".*partial*"))
    with pytest.raises(InputFileError, match="holds 8-bit"):
        write_image(tmp_path / "b.jpg", x, bits=16)
    with pytest.raises(InputFileError, match="cannot read as an image"):
        (tmp_path / "bad.png").write_bytes(b"nope")
        read_srgb(tmp_path / "bad.png")
