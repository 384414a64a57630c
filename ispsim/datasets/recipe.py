"""Dataset recipes: a typed, validated TOML schema.

A recipe names a scene source, the camera(s) and their ISP settings (ranges drawn per sample), the
degradations of its style, sizes (``quick`` / ``full`` / any name), splits, counts and a seed. An
unknown key, a bad range or a missing field is an error naming the file, the field and what was
expected. A sample is a pure function of (recipe, seed, split, index).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

from .._toml import read_toml, take
from ..cameras import resolve_name
from ..errors import ConfigError
from ..pipeline.config import PipelineConfig
from ..stages.cfa import PATTERNS

STYLES = ("nus", "rvd", "rddm", "lowlight")
# Bumped whenever the generators make other bytes from the same recipe: part of the recipe's
# digest, so stores, bench results and trained weights made by older generators are never reused.
# 2: highlights clip after white balance; splits are dealt whole scenes.
GENERATOR_VERSION = 2
SOURCES = ("synthetic", "skimage", "raw_folder", "nus_folder", "srgb_folder")
SPLITS = ("train", "val", "test")


def _range(value, where, *, lo=None, hi=None, integer=False):
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{where}: expected [low, high], got {value!r}")
    a, b = value
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ConfigError(f"{where}: expected finite numbers, got {value!r}")
    if a > b or (lo is not None and a < lo) or (hi is not None and b > hi):
        bounds = f" within [{lo}, {hi}]" if lo is not None or hi is not None else ""
        raise ConfigError(f"{where}: expected low <= high{bounds}, got {value!r}")
    return (int(a), int(b)) if integer else (float(a), float(b))


@dataclass(frozen=True)
class Scenes:
    source: str = "synthetic"
    path: str = ""
    cct_range: tuple[float, float] = (2800.0, 7500.0)
    exposure_range: tuple[float, float] = (0.5, 1.0)


@dataclass(frozen=True)
class Size:
    height: int
    width: int
    counts: dict  # split -> samples per camera


@dataclass(frozen=True)
class Degradation:
    """RDDM-style: Real-ESRGAN-like detail degradation (no sRGB noise) and sensor noise."""

    blur_kernel: int = 21
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    resize: tuple[float, float] = (0.15, 1.5)
    jpeg_quality: tuple[int, int] = (30, 95)
    second_order: float = 0.5
    iso: tuple[float, float] = (100.0, 3200.0)
    bayer: tuple[str, ...] = PATTERNS


@dataclass(frozen=True)
class Motion:
    """RVD-style: clip length, camera motion per frame, a moving object, ISP drift over the clip."""

    frames: int = 7
    pan: float = 3.0
    zoom: float = 0.01
    rotate: float = 0.5
    object_speed: float = 4.0
    drift: float = 0.15


@dataclass(frozen=True)
class LowLight:
    """Low-light style (SID / ELD protocol): a short exposure at 1 / ratio of the long one, with a
    virtual camera's physics noise, amplified by the ratio."""

    noise: str = "SonyA7S2"  # a noise profile of ispsim/cameras/noise, a TOML path, or "camera" (the one it names)
    ratio: tuple[float, float] = (100.0, 300.0)
    components: str = "P+TL+R+Q+C"
    read: str = "TL"  # TL (Tukey-lambda) or G (Gaussian) read term of the sampled camera
    peak: tuple[float, float] = (0.5, 1.0)  # the long exposure's brightest value, as a share of white


@dataclass(frozen=True)
class Recipe:
    name: str
    style: str
    seed: int
    cameras: tuple[str, ...]
    scenes: Scenes
    pipeline: PipelineConfig
    downsample: int
    sizes: dict  # name -> Size
    degradation: Degradation = field(default_factory=Degradation)
    motion: Motion = field(default_factory=Motion)
    lowlight: LowLight = field(default_factory=LowLight)
    description: str = ""
    text: str = ""  # the TOML as written, stored beside the data
    path: str = ""
    looks: dict = field(default_factory=dict)  # camera key -> PipelineConfig ([isp.pipeline] + [isp.looks.<camera>])

    def pipeline_for(self, camera_key: str) -> PipelineConfig:
        """The ISP settings of one camera: its ``[isp.looks]`` table over the shared ``[isp.pipeline]``."""
        return self.looks.get(camera_key, self.pipeline)

    def with_size(self, name: str, height: int, width: int, *, train: int = 0, val: int = 0, test: int = 0) -> "Recipe":
        """This recipe plus a ``[sizes.<name>]`` table, re-parsed: its text, so its digest, includes it."""
        return parse_recipe(self.text + f"\n[sizes.{name}]\nheight = {height}\nwidth = {width}\n"
                                        f"train = {train}\nval = {val}\ntest = {test}\n", self.path)

    def size(self, name: str) -> Size:
        if name not in self.sizes:
            raise ConfigError(f"{self.path}: no size {name!r}; the recipe has {', '.join(self.sizes)}")
        return self.sizes[name]

    def digest(self) -> str:
        return hashlib.sha256(f"{self.text}|generator {GENERATOR_VERSION}".encode()).hexdigest()[:16]


def _dataclass_from(cls, table, where, converters):
    allowed = {f.name: (int, float, str, list, bool) for f in fields(cls)}
    take(table, allowed, where)
    values = {}
    for key, value in table.items():
        conv = converters.get(key)
        values[key] = conv(value, f"{where}.{key}") if conv else value
    for key, value in values.items():
        default = next(f.default for f in fields(cls) if f.name == key)
        if isinstance(default, (int, float)) and not isinstance(default, bool) and (
                not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value)):
            raise ConfigError(f"{where}.{key}: expected a finite number, got {value!r}")
    return cls(**values)


def parse_recipe(text: str, path: str | Path = "<recipe>") -> Recipe:
    import tomllib

    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    take(data, {"dataset": dict, "scenes": dict, "isp": dict, "degradation": dict, "motion": dict, "lowlight": dict,
                "sizes": dict},
         where, required=("dataset", "isp", "sizes"))
    d = take(data["dataset"], {"name": str, "style": str, "seed": int, "description": str}, f"{where}: [dataset]",
             required=("name", "style", "seed"))
    if d["seed"] < 0:
        raise ConfigError(f"{where}: [dataset].seed: expected a seed >= 0, got {d['seed']}")
    if d["style"] not in STYLES:
        raise ConfigError(f"{where}: [dataset].style: expected one of {', '.join(STYLES)}, got {d['style']!r}")
    scenes = _dataclass_from(Scenes, data.get("scenes", {}), f"{where}: [scenes]", {
        "cct_range": lambda v, w: _range(v, w, lo=1667, hi=25000),
        "exposure_range": lambda v, w: _range(v, w, lo=0.0),
    })
    if scenes.source not in SOURCES:
        raise ConfigError(f"{where}: [scenes].source: expected one of {', '.join(SOURCES)}, got {scenes.source!r}")
    if scenes.source.endswith("_folder") and not scenes.path:
        raise ConfigError(f"{where}: [scenes].path: the {scenes.source} source needs a folder")
    isp = take(data["isp"], {"cameras": list, "downsample": int, "pipeline": dict, "looks": dict}, f"{where}: [isp]",
               required=("cameras",))
    if not isp["cameras"]:
        raise ConfigError(f"{where}: [isp].cameras: name at least one camera")
    bad = [c for c in isp["cameras"] if not isinstance(c, str)]
    if bad:
        raise ConfigError(f"{where}: [isp].cameras: expected camera names (strings), got {bad!r}")
    try:
        cameras = tuple(resolve_name(c) for c in isp["cameras"])
    except ConfigError as e:
        raise ConfigError(f"{where}: [isp].cameras: {e}") from None
    pipeline = PipelineConfig.from_dict(isp.get("pipeline", {}), f"{where}: [isp.pipeline]")
    looks = {}
    for name, table in isp.get("looks", {}).items():
        w = f"{where}: [isp.looks.{name}]"
        try:
            key = resolve_name(name)
        except ConfigError as e:
            raise ConfigError(f"{w}: {e}") from None
        if not isinstance(table, dict):
            raise ConfigError(f"{w}: expected a table of pipeline fields")
        # Checked even for a camera the recipe does not list, so a trimmed copy of a recipe still parses.
        looks[key] = PipelineConfig.from_dict({**isp.get("pipeline", {}), **table}, w)
    downsample = isp.get("downsample", 1)
    if downsample not in (1, 2, 4, 8):
        raise ConfigError(f"{where}: [isp].downsample: expected 1, 2, 4 or 8, got {downsample}")
    degradation = _dataclass_from(Degradation, data.get("degradation", {}), f"{where}: [degradation]", {
        "blur_sigma": lambda v, w: _range(v, w, lo=0.0),
        "resize": lambda v, w: _range(v, w, lo=0.05, hi=4.0),
        "jpeg_quality": lambda v, w: _range(v, w, lo=1, hi=100, integer=True),
        "iso": lambda v, w: _range(v, w, lo=1.0),
        "bayer": lambda v, w: tuple(_pattern(p, w) for p in v),
    })
    if not degradation.bayer:
        raise ConfigError(f"{where}: [degradation].bayer: name at least one Bayer order from {', '.join(PATTERNS)}")
    if degradation.blur_kernel % 2 == 0 or degradation.blur_kernel < 3:
        raise ConfigError(f"{where}: [degradation].blur_kernel: expected an odd size >= 3, got {degradation.blur_kernel}")
    if not 0 <= degradation.second_order <= 1:
        raise ConfigError(f"{where}: [degradation].second_order: expected a probability, got {degradation.second_order}")
    lowlight = _dataclass_from(LowLight, data.get("lowlight", {}), f"{where}: [lowlight]", {
        "ratio": lambda v, w: _range(v, w, lo=1.0, hi=10000.0),
        "peak": lambda v, w: _range(v, w, lo=1e-3, hi=1.0),
    })
    if "lowlight" in data:
        from ..stages.noise.physics import load_calibrated, parse_components

        try:
            parse_components(lowlight.components)
            if lowlight.noise == "camera":
                from ..cameras import load_camera

                unnamed = [c for c in cameras if load_camera(c).physics_noise is None]
                if unnamed:
                    raise ConfigError(f"noise = 'camera': {', '.join(unnamed)} name no physics noise profile "
                                      f"([noise].physics in the camera profile)")
            else:
                load_calibrated(lowlight.noise)
        except ConfigError as e:
            raise ConfigError(f"{where}: [lowlight]: {e}") from None
        if lowlight.read not in ("TL", "G"):
            raise ConfigError(f"{where}: [lowlight].read: expected 'TL' or 'G', got {lowlight.read!r}")
    motion = _dataclass_from(Motion, data.get("motion", {}), f"{where}: [motion]", {})
    if not 2 <= motion.frames <= 64:
        raise ConfigError(f"{where}: [motion].frames: a clip has 2 to 64 frames, got {motion.frames}")
    for key in ("pan", "zoom", "rotate", "object_speed", "drift"):
        if getattr(motion, key) < 0:
            raise ConfigError(f"{where}: [motion].{key}: expected a value >= 0, got {getattr(motion, key)}")
    sizes = {}
    for name, table in data["sizes"].items():
        w = f"{where}: [sizes.{name}]"
        t = take(table, {"height": int, "width": int, "train": int, "val": int, "test": int}, w,
                 required=("height", "width", "train", "val", "test"))
        if t["height"] % 16 or t["width"] % 16 or t["height"] < 32 or t["width"] < 32:
            raise ConfigError(f"{w}: height and width must be multiples of 16 and >= 32, got {t['height']}x{t['width']}")
        if min(t[s] for s in SPLITS) < 0:
            raise ConfigError(f"{w}: sample counts must be >= 0")
        sizes[name] = Size(t["height"], t["width"], {s: t[s] for s in SPLITS})
    if not sizes:
        raise ConfigError(f"{where}: [sizes]: define at least one size, e.g. [sizes.quick]")
    _check_used(data, d["style"], scenes.source, where)
    return Recipe(d["name"], d["style"], d["seed"], cameras, scenes, pipeline, downsample, sizes, degradation, motion,
                  lowlight, d.get("description", ""), text, where, looks)


# [isp.pipeline] keys a style's generator never reads, with what to write instead.
_UNUSED_PIPELINE = {
    "cct": "the scene illuminant comes from the source ([scenes].cct_range for synthetic scenes)",
    "illuminant": "the scene illuminant comes from the source ([scenes].cct_range for synthetic scenes)",
    "adc": "dataset sensors always record whole DN",
}
_UNUSED_BY_STYLE = {
    "rddm": {"iso": "the sensor's ISO range is [degradation].iso",
             "demosaic": "the rddm style stores the mosaic; nothing is demosaiced"},
    "rvd": {"white_balance": "rvd clips use the scene's as-shot white balance, drifting over the clip"},
    "nus": {},
    "lowlight": {},
}


def _check_used(data: dict, style: str, source: str, where: str) -> None:
    """Every key a recipe sets must change what is built: a key the style or source ignores is an
    error naming it, not a setting silently dropped."""
    if "degradation" in data and style != "rddm":
        raise ConfigError(f"{where}: [degradation]: only the rddm style degrades its input; remove it for {style!r}")
    if "lowlight" in data and style != "lowlight":
        raise ConfigError(f"{where}: [lowlight]: only the lowlight style has it; remove it for {style!r}")
    if style == "lowlight":
        for table in ("pipeline", "looks"):
            if table in data.get("isp", {}):
                raise ConfigError(f"{where}: [isp.{table}]: the lowlight style renders no sRGB; its sensor is "
                                  f"[lowlight]")
    if "motion" in data and style != "rvd":
        raise ConfigError(f"{where}: [motion]: only the rvd style has motion; remove it for {style!r}")
    sc = data.get("scenes", {})
    if "cct_range" in sc and source != "synthetic":
        raise ConfigError(f"{where}: [scenes].cct_range: only synthetic scenes draw an illuminant; "
                          f"the {source} source brings its own white balance")
    if "path" in sc and not source.endswith("_folder"):
        raise ConfigError(f"{where}: [scenes].path: the {source} source reads no folder")
    isp = data.get("isp", {})
    if isp.get("downsample", 1) != 1 and source not in ("raw_folder", "nus_folder"):
        raise ConfigError(f"{where}: [isp].downsample: only RAW folder sources are downsampled")
    tables = [("[isp.pipeline]", isp.get("pipeline", {}))]
    tables += [(f"[isp.looks.{k}]", {**isp.get("pipeline", {}), **v}) for k, v in isp.get("looks", {}).items()
               if isinstance(v, dict)]
    unused = {**_UNUSED_PIPELINE, **_UNUSED_BY_STYLE[style]}
    real_raw = source in ("raw_folder", "nus_folder")
    for name, table in tables:
        for key in table:
            if key in unused:
                raise ConfigError(f"{where}: {name}.{key}: the {style} style does not use it ({unused[key]})")
        noise = table.get("noise", "none")
        if real_raw and style == "nus" and noise != "none":
            raise ConfigError(f"{where}: {name}.noise: the {source} source is real RAW, its noise is the sensor's own")
        if real_raw and style == "nus" and table.get("demosaic", "bilinear") != "bilinear":
            raise ConfigError(f"{where}: {name}.demosaic: RAW folder scenes are demosaiced bilinearly, as the NUS "
                              f"ground truth was made")
        if "iso" in table and noise == "none":
            raise ConfigError(f"{where}: {name}.iso: no noise is added (noise = 'none'), so the ISO has no effect")


# What a store may hold unless the build is told --allow-large: sizes that are almost surely a typo.
MAX_SIDE = 8192
MAX_SAMPLES = 100_000
MAX_BYTES = 64e9


def check_size(recipe: Recipe, size_name: str, *, allow_large: bool = False) -> int:
    """Uncompressed bytes of the store ``recipe`` makes at ``size_name``; a side, a count or a
    total past the limits is an error naming the field and the limit, unless ``allow_large``."""
    from .generators import field_shapes

    size = recipe.size(size_name)
    where = f"{recipe.path}: [sizes.{size_name}]"
    per_sample = sum(4 * math.prod(shape) for shape in field_shapes(recipe, size).values())
    total = per_sample * sum(size.counts.values()) * len(recipe.cameras)
    if allow_large:
        return total
    for side in ("height", "width"):
        if getattr(size, side) > MAX_SIDE:
            raise ConfigError(f"{where}.{side}: {getattr(size, side)} is above the limit of {MAX_SIDE}; "
                              f"pass --allow-large if you mean it")
    for split, n in size.counts.items():
        if n > MAX_SAMPLES:
            raise ConfigError(f"{where}.{split}: {n} samples is above the limit of {MAX_SAMPLES}; "
                              f"pass --allow-large if you mean it")
    if total > MAX_BYTES:
        raise ConfigError(f"{where}: the store would hold {total / 1e9:.1f} GB uncompressed, above the limit of "
                          f"{MAX_BYTES / 1e9:.0f} GB; pass --allow-large if you mean it")
    return total


def _pattern(p, where):
    if p not in PATTERNS:
        raise ConfigError(f"{where}: expected Bayer orders from {', '.join(PATTERNS)}, got {p!r}")
    return p


RECIPE_DIR = Path(__file__).parent / "recipes"  # a link to the top-level datasets/ folder


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A recipe file, or the name of a shipped one (``nus``, ``rvd``, ``rddm``)."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        shipped = sorted(x.stem for x in RECIPE_DIR.glob("*.toml")) if RECIPE_DIR.is_dir() else []
        if str(name_or_path) not in shipped:
            raise ConfigError(f"recipe {name_or_path!r}: no such file; shipped recipes: {', '.join(shipped) or 'none found'}")
        p = RECIPE_DIR / f"{name_or_path}.toml"
    read_toml(p)  # the clear file-level errors
    return parse_recipe(p.read_text(), p)
