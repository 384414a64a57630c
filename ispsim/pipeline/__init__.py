"""The ISP pipeline: camera profile + config -> ``render(raw, rng)`` and ``unprocess(srgb, record)``.

Order of the forward pipeline (each step a stage of :mod:`ispsim.stages`):
noise (optional) -> demosaic -> white balance -> highlight clip (each channel at saturation, as
LibRaw) -> colour matrix -> [look: to ProPhoto, HueSatMap] -> exposure -> local tone ->
[look: LookTable, clip, ProfileToneCurve, to sRGB] -> clip [0, 1] -> global tone curve -> OETF ->
quantise -> JPEG (optional). The look's steps keep the DNG SDK's order.
``unprocess`` runs it backwards with the record's parameters; without a record it draws
plausible ones for the camera (a blind inverse ISP in the spirit of Brooks et al. 2019).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._checks import check_finite, check_image, is_torch
from ..cameras import CameraProfile, load_camera
from ..errors import ShapeError
from ..stages import cfa, color, demosaic, jpeg, look, noise, quantize, tone, white_balance
from .config import PLAIN, PipelineConfig
from .record import Record

__all__ = ["PLAIN", "Pipeline", "PipelineConfig", "Record", "as_generator"]


def as_generator(rng) -> tuple[np.random.Generator, int | None]:
    """A NumPy generator and the seed it came from (when it came from one)."""
    if isinstance(rng, np.random.Generator):
        return rng, None
    if rng is None:
        rng = 0
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng)), int(rng)
    raise TypeError(f"rng: expected a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def _draw(value, rng) -> float:
    if isinstance(value, tuple):
        return float(rng.uniform(value[0], value[1]))
    return float(value)


class Pipeline:
    """A camera's ISP. ``Pipeline("sony")`` or ``Pipeline(profile, PipelineConfig(...))``."""

    def __init__(self, camera: CameraProfile | str | Path, config: PipelineConfig | None = None):
        self.camera = camera if isinstance(camera, CameraProfile) else load_camera(camera)
        self.config = config or PipelineConfig()

    @classmethod
    def from_toml(cls, camera, path) -> "Pipeline":
        return cls(camera, PipelineConfig.from_toml(path))

    def with_sensor(self, *, cfa: str | None = None, black: float | None = None,
                    white: float | None = None) -> "Pipeline":
        """The same ISP for a file whose CFA order or levels differ from the profile's."""
        s = self.camera.sensor
        new = replace(s, cfa=s.cfa if cfa is None else cfa,
                      black_level=s.black_level if black is None else float(black),
                      white_level=s.white_level if white is None else float(white))
        return self if new == s else Pipeline(replace(self.camera, sensor=new), self.config)

    def __repr__(self):
        return f"Pipeline({self.camera.key!r}, {self.config!r})"

    # -- parameters -------------------------------------------------------------------------
    def _setting(self, name):
        value = getattr(self.config, name)
        return getattr(self.camera.look, name) if value is None else value

    def _gains_for_illuminant(self, rng) -> np.ndarray:
        cfg = self.config
        if cfg.cct is not None:
            xy = color.cct_to_xy(_draw(cfg.cct, rng))
        else:
            xy = color.illuminant_xy(self._setting("illuminant"))
        return self.camera.calibration.gains_for_xy(xy)

    def _fixed_gains(self, gains, gen) -> np.ndarray:
        """Gains of the white balances that need no image: given ones, or as-shot from the file's
        metadata (``gains``) or else from the illuminant."""
        if self.config.white_balance == "gains":
            return _values(self.config.gains, (3,), "pipeline.gains")
        return _values(gains, (3,), "gains") if gains is not None else self._gains_for_illuminant(gen)

    def _record(self, gains, wb, rng, seed, iso=0.0, shot=0.0, read=0.0) -> Record:
        cam, cfg = self.camera, self.config
        gains = np.asarray(gains, dtype=np.float64)
        cal = cam.calibration
        ccm = cal.camera_to_srgb(gains if cfg.ccm == "adaptive" else cal.gains_for_xy(color.illuminant_xy("D65")))
        return Record(
            camera=cam.key, cfa=cam.sensor.cfa, black_level=cam.sensor.black_level,
            white_level=cam.sensor.white_level, bit_depth=cam.sensor.bit_depth,
            demosaic=cfg.demosaic, white_balance=wb, gains=tuple(float(g) for g in gains),
            white_xy=tuple(float(v) for v in cam.calibration.white_xy(gains)),
            ccm=tuple(float(v) for v in ccm.ravel()),
            exposure=_draw(self._setting("exposure"), rng),
            local_tone=_draw(self._setting("local_tone"), rng),
            local_tone_radius=int(self._setting("local_tone_radius")),
            local_tone_eps=float(self._setting("local_tone_eps")),
            tone_curve=_draw(self._setting("tone_curve"), rng),
            oetf=self._setting("oetf"), gamma=float(cfg.gamma), output_bits=int(cfg.output_bits),
            jpeg_quality=int(cfg.jpeg_quality), noise=cfg.noise, iso=float(iso), shot=float(shot),
            read=float(read), seed=seed, look=self._draw_look(rng),
        )

    _LOOK_OFF = {"saturation": 1.0}  # every other look parameter but hue_phase is off at 0

    def _look_is_off(self) -> bool:
        """Whether every image's look is the identity: each parameter a fixed value, the off one
        (decided from the settings alone: no draw from any generator)."""
        return all(not isinstance(self._setting(k), tuple) and float(self._setting(k)) == self._LOOK_OFF.get(k, 0.0)
                   for k in look.LOOK_PARAMS if k != "hue_phase")

    def _draw_look(self, rng) -> dict | None:
        values = {k: _draw(self._setting(k), rng) for k in look.LOOK_PARAMS}
        return None if all(values[k] == self._LOOK_OFF.get(k, 0.0) for k in values if k != "hue_phase") else values

    # -- forward ----------------------------------------------------------------------------
    def render(self, raw, rng=None, *, gains=None, ccm=None):
        """Normalised RAW -> (sRGB ``(3, H, W)`` in [0, 1], Record).

        ``raw`` is a mosaic ``(1, H, W)`` in the camera's CFA order or demosaiced camera RGB
        ``(3, H, W)`` (the NUS-style ground truth). ``gains``: as-shot white balance read from
        a file's metadata; used when the config's white balance is ``as_shot``. ``ccm``: a 3x3
        matrix from white-balanced camera RGB to linear sRGB in place of the profile's. Gains
        (here or in the config) and ``ccm`` may be tensors with ``requires_grad``: the render
        is then differentiable in them; the record keeps their values.
        """
        gen, seed = as_generator(rng)
        check_image(raw, "render(raw)", channels=(1, 3), even=getattr(raw, "ndim", 0) >= 3 and raw.shape[-3] == 1)
        if raw.ndim != 3:
            raise ShapeError(f"render(raw): expected one image (C, H, W), got {tuple(raw.shape)}; loop over a batch")
        check_finite(raw, "render(raw)")
        cfg, cam = self.config, self.camera
        iso = shot = read = 0.0
        if cfg.noise != "none":
            iso = _draw(cfg.iso, gen) if cfg.iso is not None else cam.noise.sample_iso(gen)
            shot, read = cam.noise.levels(iso)
            raw = noise.add_noise(raw, shot, read, self._backend_rng(raw, gen), cfg.noise)
            if cfg.adc:
                raw = quantize.quantize_adc(raw, cam.sensor.black_level, cam.sensor.white_level)
        rgb = demosaic.demosaic(raw, cam.sensor.cfa, cfg.demosaic) if raw.shape[-3] == 1 else raw
        wb = cfg.white_balance
        live = None  # gains as given, when they are a tensor to differentiate through
        if wb in ("as_shot", "gains"):
            given = cfg.gains if wb == "gains" else gains
            if is_torch(given):
                live = given
                g = _values(given, (3,), "gains")
            else:
                g = self._fixed_gains(gains, gen)
        else:
            est = white_balance.estimate_gains(rgb, wb)
            g = np.asarray(est.detach().cpu().numpy() if is_torch(est) else est, dtype=np.float64)
        record = self._record(g, wb, gen, seed, iso, shot, read)
        if ccm is not None:
            record = replace(record, ccm=tuple(float(v) for v in _values(ccm, (3, 3), "ccm").ravel()))
        clipped = white_balance.clipped_fraction(white_balance.apply_gains(rgb, g), g)
        record = replace(record, clipped=clipped)
        return self.finish(rgb, record, gains=live, ccm=ccm), record

    @staticmethod
    def _backend_rng(x, gen: np.random.Generator):
        if not is_torch(x):
            return gen
        import torch

        return torch.Generator(device=x.device).manual_seed(int(gen.integers(2**63 - 1)))

    @staticmethod
    def finish(rgb, record: Record, *, gains=None, ccm=None):
        """Demosaiced camera RGB -> sRGB with the record's parameters (deterministic).
        ``gains`` / ``ccm``: tensors to use in place of the record's values (for gradients)."""
        x = Pipeline.post_tone(rgb, record, gains=gains, ccm=ccm)
        if record.output_bits:
            x = quantize.quantize(x, record.output_bits)
        if record.jpeg_quality:
            x = jpeg.jpeg(x, record.jpeg_quality)
        return x

    @staticmethod
    def post_tone(rgb, record: Record, *, gains=None, ccm=None):
        """The post-tone processing of :meth:`finish` (white balance, highlight clip, matrix,
        exposure, tone, OETF) without output quantisation: differentiable on tensors (RDDM's
        PTP loss)."""
        g = record.gains if gains is None else gains
        x = white_balance.apply_gains(rgb, g)
        if record.highlight == "clip":
            x = white_balance.clip_highlights(x, g)
        x = color.apply_matrix(x, np.asarray(record.ccm).reshape(3, 3) if ccm is None else ccm)
        lk = look.look_from_params(record.look)
        if lk is not None:
            x = look.apply_pre_exposure(x, lk)
        x = x * record.exposure
        if record.local_tone > 0:
            x = tone.apply_local(x, record.local_tone, radius=record.local_tone_radius, eps=record.local_tone_eps)
        if lk is not None:
            x = look.apply_post_exposure(x, lk)
        x = x.clip(0, 1)
        if record.tone_curve > 0:
            x = tone.apply_curve(x, record.tone_curve)
        return tone.encode_srgb(x) if record.oetf == "srgb" else tone.encode_gamma(x, record.gamma)

    # -- inverse ----------------------------------------------------------------------------
    def draw_blind(self, rng=None) -> Record:
        """Plausible parameters for this camera without looking at an image."""
        gen, seed = as_generator(rng)
        cct = self.config.cct if self.config.cct is not None else self.camera.look.cct_range
        gains = self.camera.calibration.gains_for_xy(color.cct_to_xy(_draw(cct, gen)))
        return self._record(gains, "as_shot", gen, seed)

    def profile_record(self) -> Record:
        """The camera's default rendering: as-shot white balance for the look's illuminant, the
        look's tone settings (the mid-point of any configured range); nothing random."""
        mid = lambda v: (v[0] + v[1]) / 2 if isinstance(v, tuple) else v  # noqa: E731
        cfg = replace(self.config, **{k: mid(getattr(self.config, k))
                                      for k in ("cct", "exposure", "tone_curve", "local_tone") + look.LOOK_PARAMS})
        pipe = Pipeline(self.camera, cfg)
        return pipe._record(pipe._gains_for_illuminant(None), "as_shot", None, None)

    def unprocess(self, srgb, record: Record | None = None, *, rng=None, mosaic: bool = True, gains=None, ccm=None):
        """sRGB ``(3, H, W)`` -> (normalised RAW, Record): mosaic ``(1, H, W)`` or camera RGB ``(3, H, W)``.

        With no record, parameters are drawn for the camera (:meth:`draw_blind`). ``gains`` /
        ``ccm`` replace the record's (tensors differentiate through). The returned record's
        ``clipped`` is the share of pixels that reached the highlight clip on the way back:
        there the RAW is the least one that renders to the input.
        """
        check_image(srgb, "unprocess(srgb)", channels=3)
        check_finite(srgb, "unprocess(srgb)")
        if record is None:
            record = self.draw_blind(rng)
        if gains is not None:
            record = replace(record, gains=tuple(float(v) for v in _values(gains, (3,), "gains")))
        if ccm is not None:
            record = replace(record, ccm=tuple(float(v) for v in _values(ccm, (3, 3), "ccm").ravel()))
        raw, clipped = Pipeline._invert(srgb, record, mosaic, gains, ccm)
        return raw, replace(record, clipped=clipped)

    @staticmethod
    def invert(srgb, record: Record, *, mosaic: bool = True, gains=None, ccm=None):
        return Pipeline._invert(srgb, record, mosaic, gains, ccm)[0]

    @staticmethod
    def _invert(srgb, record: Record, mosaic, gains, ccm):
        x = srgb.clip(0, 1)
        x = tone.decode_srgb(x) if record.oetf == "srgb" else tone.decode_gamma(x, record.gamma)
        if record.tone_curve > 0:
            x = tone.invert_curve(x, record.tone_curve)
        lk = look.look_from_params(record.look)
        if lk is not None:
            x = look.invert_post_exposure(x, lk)
        if record.local_tone > 0:
            x = tone.invert_local(x, record.local_tone, radius=record.local_tone_radius, eps=record.local_tone_eps)
        x = x / record.exposure
        if lk is not None:
            x = look.invert_pre_exposure(x, lk)
        x = color.invert_matrix(x, np.asarray(record.ccm).reshape(3, 3) if ccm is None else ccm)
        g = record.gains if gains is None else gains
        clipped = 0.0
        if record.highlight == "clip":
            # The render never leaves a white-balanced value above the clip level.
            clipped = white_balance.clipped_fraction(x, g)
            x = white_balance.clip_highlights(x, g)
        x = white_balance.remove_gains(x, g)
        return (cfa.mosaic(x, record.cfa) if mosaic else x), clipped

    # -- file-boundary fast path ------------------------------------------------------------
    def fusable(self) -> bool:
        cfg = self.config
        return (cfg.demosaic == "bilinear" and cfg.noise == "none" and cfg.jpeg_quality == 0
                and cfg.white_balance in ("as_shot", "gains") and cfg.output_bits == 8
                and not isinstance(self._setting("local_tone"), tuple) and self._setting("local_tone") == 0
                and self._look_is_off())

    def render_to_uint8(self, dn, rng=None, *, gains=None, out=None):
        """Sensor mosaic ``(H, W)`` in DN (the profile's levels) -> (uint8 sRGB ``(3, H, W)``, Record).

        One fused Numba pass where the config allows (see :meth:`fusable`) and ``dn`` is integer,
        else the stages. ``out``: a ``(3, H, W)`` uint8 buffer to reuse across a batch (fresh
        pages cost as much as the render itself).
        """
        from .fused import render_mosaic_uint8

        cam = self.camera
        black, white = cam.sensor.black_level, cam.sensor.white_level
        dn = np.asarray(dn)
        if dn.ndim != 2 or dn.shape[0] % 2 or dn.shape[1] % 2:
            raise ShapeError(f"render_to_uint8(dn): expected a Bayer mosaic (H, W) of even size, got {dn.shape}")
        if not self.fusable() or not np.issubdtype(dn.dtype, np.integer):
            # Float input always lands here; render checks it for NaN.
            from ..stages import levels

            raw = levels.normalize(dn, black, white)[None]
            srgb, record = self.render(raw, rng, gains=gains)
            return quantize.to_integer(srgb, 8), record
        gen, seed = as_generator(rng)
        record = self._record(self._fixed_gains(gains, gen), self.config.white_balance, gen, seed)
        scale = np.asarray(record.gains) / (white - black)
        level = white_balance.clip_level(record.gains) if record.highlight == "clip" else np.inf
        matrix = np.asarray(record.ccm).reshape(3, 3) * record.exposure
        lut = _lut(record.tone_curve, record.oetf, record.gamma)
        img, hits = render_mosaic_uint8(dn, cam.sensor.cfa, black, scale, level, matrix, lut, out)
        return img, replace(record, clipped=hits / dn.size)


def _values(x, shape, name) -> np.ndarray:
    """Float64 values of gains or a matrix given as a tensor or array-like (for the record)."""
    v = np.asarray(x.detach().cpu().double().numpy() if is_torch(x) else x, dtype=np.float64)
    if v.shape != shape:
        raise ShapeError(f"{name}: expected shape {shape}, got {v.shape}")
    return v


def lut_for(record: Record) -> np.ndarray:
    """Tone curve + OETF + 8-bit quantisation of ``linspace(0, 1, 65536)``, computed by the stages."""
    return _lut(record.tone_curve, record.oetf, record.gamma)


@functools.lru_cache(maxsize=16)
def _lut(tone_curve: float, oetf: str, gamma: float, size: int = 65536) -> np.ndarray:
    x = np.linspace(0, 1, size, dtype=np.float32)[None, None, :].repeat(3, axis=0)
    if tone_curve > 0:
        x = tone.apply_curve(x, tone_curve)
    x = tone.encode_srgb(x) if oetf == "srgb" else tone.encode_gamma(x, gamma)
    lut = quantize.to_integer(x[0, 0], 8)
    lut.flags.writeable = False
    return lut
