"""The three dataset styles. A sample is a pure function of (recipe, size, split, index).

- ``nus``: RAW -> bilinear demosaic -> 3-channel raw-RGB ground truth -> the camera's ISP
  (white balance, matrix, tone curve, local tone mapping) -> 8-bit sRGB.
- ``rvd``: clips with camera motion (pan, zoom, rotation) and a moving object; RAW packed
  ``[R, Gr, Gb, B]``; sRGB rendered with ISP parameters drifting linearly over the clip; the
  ground-truth backward optical flow (frame t -> t-1, ``(dx, dy)`` in pixels) beside each frame.
- ``rddm``: sRGB HQ -> detail degradation (blur, resize, JPEG; first and second order) ->
  inverse post-tone processing -> mosaic in a per-sample Bayer order + heteroscedastic noise from
  a sampled ISO -> LQ sensor RAW; HQ -> linear HQ ground truth.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np

from ..cameras import load_camera
from ..pipeline import Pipeline
from ..stages import cfa, degrade, demosaic, jpeg, noise, quantize
from ..errors import ConfigError
from .recipe import SPLITS, Recipe, Size

SPLIT_IDS = {s: i for i, s in enumerate(SPLITS)}


def sample_rng(recipe: Recipe, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([recipe.seed, SPLIT_IDS[split], index])


def field_shapes(recipe: Recipe, size: Size) -> dict[str, tuple[int, ...]]:
    h, w = size.height, size.width
    if recipe.style == "nus":
        return {"raw": (3, h, w), "srgb": (3, h, w)}
    if recipe.style == "rvd":
        t = recipe.motion.frames
        return {"raw": (t, 4, h // 2, w // 2), "srgb": (t, 3, h, w), "flow": (t, 2, h, w)}
    if recipe.style == "lowlight":
        return {"input": (4, h // 2, w // 2), "gt": (4, h // 2, w // 2)}
    return {"lq_raw": (1, h, w), "linear": (3, h, w), "hq_srgb": (3, h, w)}


def split_count(recipe: Recipe, size: Size, split: str) -> int:
    """Samples in a split: the recipe's count per camera times the cameras."""
    return size.counts[split] * len(recipe.cameras)


def _source(recipe: Recipe):
    return _cached_source(recipe.scenes, recipe.downsample)


@functools.lru_cache(maxsize=8)
def _cached_source(scenes, downsample):
    from ..scenes.sources import make_source

    return make_source(scenes, downsample)


def partition_scenes(scenes: list[str], counts: dict, seed: int, where: str = "recipe") -> dict[str, list[str]]:
    """Deal a finite source's scenes to the splits, each scene to one split only.

    Every split with samples gets at least one scene, the rest in proportion to the splits'
    sample counts (largest remainder); which scene goes where is a permutation drawn from the
    recipe's seed. A source with fewer scenes than splits to fill is refused.
    """
    names = sorted(set(scenes))
    wanted = [s for s in SPLITS if counts[s] > 0]
    if len(names) < len(wanted):
        raise ConfigError(f"{where}: [scenes]: the source has {len(names)} distinct scene(s) "
                          f"({', '.join(names) or 'none'}) but {len(wanted)} splits need scenes of their own "
                          f"({', '.join(wanted)}); add scenes or set a split's count to 0")
    total = sum(counts[s] for s in wanted)
    share = {s: len(names) * counts[s] / total for s in wanted}
    n = {s: max(1, int(share[s])) for s in wanted}
    while sum(n.values()) < len(names):
        n[max(wanted, key=lambda s: share[s] - n[s])] += 1
    while sum(n.values()) > len(names):
        n[max((s for s in wanted if n[s] > 1), key=lambda s: n[s] - share[s])] -= 1
    order = [names[i] for i in np.random.default_rng([seed, 0x5CE7E]).permutation(len(names))]
    plan, at = {s: [] for s in SPLITS}, 0
    for s in wanted:
        plan[s] = sorted(order[at:at + n[s]])
        at += n[s]
    return plan


def _split_items(recipe: Recipe, size: Size, split: str) -> list[int]:
    """The source items a split draws from: those of its own scenes."""
    src = _source(recipe)
    plan = partition_scenes([src.scene_of(i) for i in range(len(src))], size.counts, recipe.seed, recipe.path)
    mine = set(plan[split])
    return [i for i in range(len(src)) if src.scene_of(i) in mine]


def _scene_index(recipe, size, split, index):
    src = _source(recipe)
    if not src.finite:
        return index  # the scene is drawn from the sample's own seed, (split, index)
    items = _split_items(recipe, size, split)
    # A split with fewer scenes than samples cycles through its own scenes (new crops, flips, exposure).
    return items[(index // len(recipe.cameras)) % len(items)]


def scene_plan(recipe: Recipe, size: Size) -> dict[str, list[str]]:
    """The scene of every sample, split by split, without rendering anything."""
    src = _source(recipe)
    plan = {}
    for split in SPLITS:
        n = split_count(recipe, size, split)
        if not src.finite:
            plan[split] = [f"{src.name}:{split}/{i}" for i in range(n)]
        else:
            plan[split] = [src.scene_of(_scene_index(recipe, size, split, i)) for i in range(n)]
    return plan


def scene_summary(recipe: Recipe, size: Size) -> str:
    plan = scene_plan(recipe, size)
    sets = {s: set(v) for s, v in plan.items()}
    shared = set()
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1:]:
            shared |= sets[a] & sets[b]
    return (f"scenes: {', '.join(f'{s} {len(sets[s])}' for s in SPLITS)}; "
            f"shared between splits: {len(shared)}")


def _camera(recipe, index):
    return load_camera(recipe.cameras[index % len(recipe.cameras)])


def _iso_range(isp):
    """The recipe's ISO as a range, or None for the camera's own ISO model."""
    if isp.iso is None:
        return None
    return isp.iso if isinstance(isp.iso, tuple) else (isp.iso, isp.iso)


def _sensor_raw(rgb, camera, pattern, rng, noise_method, iso_range=None):
    """Camera RGB -> what the sensor records: mosaic, noise, saturation, whole DN."""
    s = camera.sensor
    mosaic = cfa.mosaic(rgb, pattern)
    info = {"iso": 0.0, "shot": 0.0, "read": 0.0}
    if noise_method != "none":
        iso = (math.exp(rng.uniform(math.log(iso_range[0]), math.log(iso_range[1]))) if iso_range
               else camera.noise.sample_iso(rng))
        shot, read = camera.noise.levels(iso)
        mosaic = noise.add_noise(mosaic, shot, read, rng, noise_method)
        info = {"iso": iso, "shot": shot, "read": read}
    mosaic = np.minimum(mosaic, np.float32(1.0))
    return quantize.quantize_adc(mosaic, s.black_level, s.white_level), info


def nus_sample(recipe: Recipe, size: Size, split: str, index: int):
    rng = sample_rng(recipe, split, index)
    cam = _camera(recipe, index)
    isp = recipe.pipeline_for(cam.key)
    scene = _source(recipe).load(_scene_index(recipe, size, split, index), cam, size.height, size.width, rng)
    if recipe.scenes.source in ("raw_folder", "nus_folder"):
        raw, info = scene.rgb, {"iso": 0.0, "shot": 0.0, "read": 0.0}  # demosaiced from real RAW already
    else:
        mosaic, info = _sensor_raw(scene.rgb, cam, cam.sensor.cfa, rng, isp.noise, _iso_range(isp))
        raw = demosaic.demosaic(mosaic, cam.sensor.cfa, isp.demosaic)
    pipe = Pipeline(cam, replace(isp, noise="none"))
    srgb, record = pipe.render(raw, rng, gains=scene.gains)
    params = {"camera": cam.key, "record": record.to_dict(), "scene": scene.meta, **info}
    return {"raw": raw, "srgb": srgb.astype(np.float32)}, params


# -- RVD ---------------------------------------------------------------------------------------
def _rotation(deg):
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _affine(t, motion):
    """Frame -> scene map at frame ``t``: q = c_s + s_t R_t (p - c_f) + T_t (p, q as (y, x))."""
    scale = (1 + motion["zoom"]) ** t
    return scale * _rotation(motion["rotate"] * t), motion["pan"] * t


def rvd_sample(recipe: Recipe, size: Size, split: str, index: int):
    from scipy.ndimage import map_coordinates

    rng = sample_rng(recipe, split, index)
    cam = _camera(recipe, index)
    isp = recipe.pipeline_for(cam.key)
    m, h, w, frames = recipe.motion, size.height, size.width, recipe.motion.frames
    margin = int(math.ceil(0.2 * max(h, w) + frames * (m.pan + m.object_speed)))
    big = _source(recipe).load(_scene_index(recipe, size, split, index), cam, h + 2 * margin, w + 2 * margin, rng)
    direction = rng.uniform(0, 2 * math.pi)
    motion = {
        "pan": np.array([math.sin(direction), math.cos(direction)]) * rng.uniform(0, m.pan),
        "zoom": rng.uniform(-m.zoom, m.zoom),
        "rotate": rng.uniform(-m.rotate, m.rotate),
    }
    radius = rng.uniform(0.08, 0.15) * min(h, w)
    obj_dir = rng.uniform(0, 2 * math.pi)
    obj_v = np.array([math.sin(obj_dir), math.cos(obj_dir)]) * rng.uniform(0.5, 1.0) * m.object_speed
    c_s = np.array([(h + 2 * margin - 1) / 2, (w + 2 * margin - 1) / 2])
    c_f = np.array([(h - 1) / 2, (w - 1) / 2])
    obj0 = c_s + rng.uniform(-0.25, 0.25, 2) * np.array([h, w]) - obj_v * (frames - 1) / 2
    tex = c_s + rng.uniform(-0.3, 0.3, 2) * np.array([h, w])  # where the object's texture comes from
    obj_gain = rng.uniform(0.6, 1.6)

    p = np.stack(np.mgrid[0:h, 0:w]).reshape(2, -1).astype(np.float64)  # (2, H*W) as (y, x)

    def to_scene(t):
        a, shift = _affine(t, motion)
        return c_s[:, None] + a @ (p - c_f[:, None]) + shift[:, None]

    def to_frame(t, q):
        a, shift = _affine(t, motion)
        return c_f[:, None] + np.linalg.solve(a, q - c_s[:, None] - shift[:, None])

    # ISP parameters at the ends of the clip; frames interpolate linearly between them.
    drift = lambda v, lo=0.0, hi=np.inf: float(np.clip(v * (1 + rng.uniform(-m.drift, m.drift)), lo, hi))  # noqa: E731
    pipe0 = Pipeline(cam, replace(isp, noise="none"))
    rec0 = pipe0.draw_blind(rng)
    g0 = np.asarray(big.gains)
    g1 = g0 * np.array([1 + rng.uniform(-m.drift, m.drift), 1.0, 1 + rng.uniform(-m.drift, m.drift)])
    ends = {"exposure": (rec0.exposure, drift(rec0.exposure, 0.05)),
            "tone_curve": (rec0.tone_curve, drift(rec0.tone_curve, 0.0, 1.0)),
            "local_tone": (rec0.local_tone, drift(rec0.local_tone, 0.0, 0.9))}

    raws, srgbs, flows, records, info = [], [], [], [], []
    for t in range(frames):
        q = to_scene(t)
        obj_t = obj0 + obj_v * t
        inside = ((q - obj_t[:, None]) ** 2).sum(0) < radius**2
        rgb = np.empty((3, h * w), np.float32)
        for c in range(3):
            rgb[c] = map_coordinates(big.rgb[c], q, order=1, mode="mirror")
            rgb[c, inside] = obj_gain * map_coordinates(big.rgb[c], q[:, inside] - obj_t[:, None] + tex[:, None],
                                                        order=1, mode="mirror")
        rgb = rgb.reshape(3, h, w)
        if t == 0:
            flow = np.zeros((2, h * w))
        else:
            back = q - np.where(inside, obj_v[:, None], 0.0)  # where the point was at t - 1
            flow = to_frame(t - 1, back) - p
        flows.append(flow[::-1].reshape(2, h, w).astype(np.float32))  # (dx, dy)
        mosaic, nz = _sensor_raw(rgb, cam, cam.sensor.cfa, rng, isp.noise, _iso_range(isp))
        a = t / (frames - 1)
        cfg = replace(isp, noise="none", white_balance="as_shot",
                      **{k: (1 - a) * v0 + a * v1 for k, (v0, v1) in ends.items()})
        srgb, record = Pipeline(cam, cfg).render(mosaic, rng, gains=tuple((1 - a) * g0 + a * g1))
        raws.append(cfa.pack(mosaic, cam.sensor.cfa))
        srgbs.append(srgb.astype(np.float32))
        records.append(record.to_dict())
        info.append(nz)
    params = {"camera": cam.key, "records": records, "scene": big.meta, "noise": info,
              "motion": {k: np.asarray(v).tolist() for k, v in motion.items()},
              "object": {"radius": radius, "velocity": obj_v.tolist()}}
    return {"raw": np.stack(raws), "srgb": np.stack(srgbs), "flow": np.stack(flows)}, params


# -- RDDM --------------------------------------------------------------------------------------
def _degrade_once(x, rng, deg, draws):
    h, w = x.shape[-2:]
    k = min(deg.blur_kernel, (min(h, w) - 1) // 2 * 2 - 1)
    sx = rng.uniform(*deg.blur_sigma)
    sy = rng.uniform(*deg.blur_sigma) if rng.uniform() < 0.5 else sx
    theta = rng.uniform(0, math.pi)
    if k >= 3:
        x = degrade.blur(x, degrade.gaussian_kernel(k, max(sx, 1e-3), max(sy, 1e-3), theta))
    scale = rng.uniform(*deg.resize)
    method = degrade.RESIZE_METHODS[int(rng.integers(len(degrade.RESIZE_METHODS)))]
    x = degrade.resize(x, (max(8, round(h * scale)), max(8, round(w * scale))), method)
    quality = int(rng.integers(deg.jpeg_quality[0], deg.jpeg_quality[1] + 1))
    x = jpeg.jpeg(np.clip(x, 0, 1), quality)
    draws.append({"blur_kernel": k, "sigma_x": sx, "sigma_y": sy, "theta": theta, "scale": scale,
                  "resize": method, "jpeg_quality": quality})
    return x


def rddm_sample(recipe: Recipe, size: Size, split: str, index: int):
    rng = sample_rng(recipe, split, index)
    cam = _camera(recipe, index)
    isp = recipe.pipeline_for(cam.key)
    deg = recipe.degradation
    pattern = deg.bayer[int(rng.integers(len(deg.bayer)))]
    scene = _source(recipe).load(_scene_index(recipe, size, split, index), cam, size.height, size.width, rng)
    pipe = Pipeline(cam, replace(isp, noise="none"))
    hq, record = pipe.render(np.minimum(scene.rgb, 1.0), rng, gains=scene.gains)
    record = replace(record, cfa=pattern)
    linear = Pipeline.invert(hq, record, mosaic=False)
    draws: list[dict] = []
    lq = _degrade_once(hq, rng, deg, draws)
    if rng.uniform() < deg.second_order:
        lq = _degrade_once(lq, rng, deg, draws)
    lq = degrade.resize(lq, (size.height, size.width), "bilinear")
    lq_linear = Pipeline.invert(np.clip(lq, 0, 1), record, mosaic=False)
    method = isp.noise if isp.noise != "none" else "heteroscedastic"
    lq_raw, info = _sensor_raw(lq_linear, cam, pattern, rng, method, deg.iso)
    params = {"camera": cam.key, "bayer": pattern, "record": record.to_dict(), "scene": scene.meta,
              "degradations": draws, **info}
    return {"lq_raw": lq_raw, "linear": linear.astype(np.float32), "hq_srgb": hq.astype(np.float32)}, params


# -- low light ----------------------------------------------------------------------------------
def lowlight_sample(recipe: Recipe, size: Size, split: str, index: int):
    """SID/ELD: the long exposure is the ground truth; the input is a short exposure at 1 / ratio,
    its noise formed in DN at a virtual camera's gain K, then multiplied by the ratio. Both packed
    ``[R, Gr, Gb, B]`` and normalised by the camera's ``white - black``."""
    from ..stages.noise.physics import add_physics_noise, load_calibrated

    rng = sample_rng(recipe, split, index)
    cam = _camera(recipe, index)
    ll = recipe.lowlight
    sensor = load_calibrated(cam.physics_noise if ll.noise == "camera" else ll.noise)
    params = sensor.sample(rng, read=ll.read)
    scene = _source(recipe).load(_scene_index(recipe, size, split, index), cam, size.height, size.width, rng)
    mosaic = cfa.mosaic(np.clip(scene.rgb, 0, None), cam.sensor.cfa)
    span = params.white - params.black
    peak = rng.uniform(*ll.peak)
    long = np.minimum(mosaic / max(float(mosaic.max()), 1e-6) * peak, 1.0).astype(np.float64) * span
    ratio = float(np.exp(rng.uniform(np.log(ll.ratio[0]), np.log(ll.ratio[1]))))
    short = add_physics_noise(long / ratio, params, rng, cam.sensor.cfa, ll.components)
    amplified = short * ratio / span
    gt = long / span
    out = {"input": cfa.pack(amplified.astype(np.float32), cam.sensor.cfa),
           "gt": cfa.pack(gt.astype(np.float32), cam.sensor.cfa)}
    meta = {"camera": cam.key, "cfa": cam.sensor.cfa, "noise_profile": sensor.name, "components": ll.components,
            "ratio": ratio, "peak": peak, "K": params.K, "tl_lambda": params.tl_lambda,
            "read_scale": params.read_scale, "row_scale": params.row_scale,
            "color_bias": list(params.color_bias), "black": params.black, "white": params.white,
            "scene": scene.meta, "gains": list(scene.gains)}
    return out, meta


GENERATORS = {"nus": nus_sample, "rvd": rvd_sample, "rddm": rddm_sample, "lowlight": lowlight_sample}


def make_sample(recipe: Recipe, size_name: str, split: str, index: int):
    """Arrays ``{field: (C, H, W) or (T, C, H, W)}`` and the JSON-able parameters of one sample."""
    size = recipe.size(size_name)
    return GENERATORS[recipe.style](recipe, size, split, index)
