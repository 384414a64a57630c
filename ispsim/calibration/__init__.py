"""Noise calibration from frames, as ELD does it: photon transfer for the gain K from flat fields,
and the read, row and colour-bias terms from bias (dark) frames.

- Photon transfer: for a pair of flat frames at one exposure, each CFA plane's mean signal above
  black ``mu`` and half the variance of the pair's difference ``s2`` (the difference cancels the
  fixed pattern and the scene) lie on ``s2 = K * mu + c``; the slope over exposure levels is K, in
  DN per electron. From one frame only, flat tiles stand in for the pairs: each tile's variance
  is taken from differences of horizontally neighbouring same-colour photosites, which cancels
  smooth shading; tiles with texture are left out by a robust fit. One frame is no calibration
  set: the estimate comes with its bootstrap interval over tiles.
- Bias frames: the colour bias is each CFA channel's mean above black; row noise is the spread of
  row means beyond what the read noise explains; the read term is what is left, fitted with the
  Tukey-lambda shape of largest probability-plot correlation (``scipy.stats.ppcc_max``) and the
  scale of that probability plot's line (``scipy.stats.probplot``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputFileError
from ..stages.noise.physics import _channel_map


@dataclass
class PhotonTransfer:
    K: float
    intercept: float
    K_interval: tuple[float, float]  # 95% (bootstrap over points)
    points: np.ndarray  # (n, 3): mean above black, variance, channel
    method: str
    n_frames: int
    notes: list = field(default_factory=list)


@dataclass
class BiasFit:
    tl_lambda: float
    read_scale: float
    row_scale: float
    color_bias: tuple[float, float, float, float]
    ppcc: float
    gaussian_read_scale: float
    n_frames: int


def _planes(frame: np.ndarray, cfa: str) -> list[np.ndarray]:
    from ..stages.cfa import packed_offsets

    return [frame[dy::2, dx::2] for dy, dx in packed_offsets(cfa)]


def _fit(points: np.ndarray, rng: np.random.Generator, robust: bool) -> tuple[float, float, tuple[float, float]]:
    """Slope and intercept of variance against mean; a Theil-Sen fit when ``robust`` (textured
    tiles lie above the line and must not pull it), and a bootstrap interval of the slope."""
    from scipy import stats

    mu, s2 = points[:, 0], points[:, 1]

    def one(m, v):
        if robust:
            slope, icpt, _, _ = stats.theilslopes(v, m)
        else:
            res = stats.linregress(m, v)
            slope, icpt = res.slope, res.intercept
        return float(slope), float(icpt)

    slope, icpt = one(mu, s2)
    boots = []
    n = len(mu)
    for _ in range(200):
        i = rng.integers(0, n, n)
        if np.ptp(mu[i]) > 0:
            boots.append(one(mu[i], s2[i])[0])
    lo, hi = (np.percentile(boots, [2.5, 97.5]) if boots else (float("nan"), float("nan")))
    return slope, icpt, (float(lo), float(hi))


def photon_transfer(flats: list[np.ndarray], black: float, white: float, cfa: str = "RGGB", *,
                    tile: int = 32, seed: int = 0) -> PhotonTransfer:
    """K from flat frames in pairs (``flats[0], flats[1]`` one level, ...) or from one frame's flat tiles."""
    rng = np.random.default_rng(seed)
    frames = [np.asarray(f, dtype=np.float64) for f in flats]
    if not frames:
        raise InputFileError("photon transfer: no flat frames given")
    sat = 0.9 * (white - black)
    pts = []
    if len(frames) >= 2:
        if len(frames) % 2:
            raise InputFileError(f"photon transfer: flat frames come in pairs per exposure; got {len(frames)}")
        for a, b in zip(frames[0::2], frames[1::2]):
            if a.shape != b.shape:
                raise InputFileError(f"photon transfer: a pair has shapes {a.shape} and {b.shape}")
            for c, (pa, pb) in enumerate(zip(_planes(a, cfa), _planes(b, cfa))):
                mu = 0.5 * (pa.mean() + pb.mean()) - black
                if 0 < mu < sat:
                    pts.append((mu, np.var(pa - pb) / 2.0, c))
        method = f"pairs of flat frames ({len(frames) // 2} exposure levels x 4 CFA planes)"
        robust = False
    else:
        f = frames[0]
        for c, p in enumerate(_planes(f, cfa)):
            h, w = p.shape
            for y in range(0, h - tile + 1, tile):
                for x in range(0, w - tile + 1, tile):
                    t = p[y:y + tile, x:x + tile]
                    mu = t.mean() - black
                    if not 0 < mu < sat or t.max() >= white:
                        continue
                    d = np.diff(t, axis=1)  # neighbouring same-colour photosites: shading cancels
                    pts.append((mu, np.var(d) / 2.0, c))
        method = (f"flattest tiles of one frame ({tile}x{tile} per CFA plane; the lowest-variance quarter "
                  f"in each of 16 signal bins; Theil-Sen fit)")
        robust = True
        arr = np.asarray(pts, dtype=np.float64)
        if len(arr) >= 32:
            # Texture only adds variance: the flat tiles are the lower envelope at each signal level.
            edges = np.quantile(arr[:, 0], np.linspace(0, 1, 17))
            keep = np.zeros(len(arr), bool)
            for lo, hi in zip(edges[:-1], edges[1:]):
                m = (arr[:, 0] >= lo) & (arr[:, 0] <= hi)
                if m.any():
                    keep |= m & (arr[:, 1] <= np.quantile(arr[m, 1], 0.25))
            pts = [tuple(r) for r in arr[keep]]
    if len(pts) < 3:
        raise InputFileError(f"photon transfer: only {len(pts)} usable points (unsaturated, above black)")
    points = np.asarray(pts, dtype=np.float64)
    K, icpt, interval = _fit(points, rng, robust)
    notes = [] if len(frames) >= 2 else [
        "one frame is not a calibration set: tiles are flat only approximately, and texture or lens "
        "shading inside a tile adds variance that the lower-envelope selection only partly rejects",
        "taking each bin's lowest-variance quarter also biases the variance of truly flat tiles low "
        "(by a few percent for 32x32 tiles), so K is biased low; the interval is statistical only "
        "(bootstrap over tiles) and covers neither bias"]
    return PhotonTransfer(K, icpt, interval, points, method, len(frames), notes)


def bias_fit(darks: list[np.ndarray], black: float, cfa: str = "RGGB", *, samples: int = 20000,
             seed: int = 0) -> BiasFit:
    """Colour bias, row noise and the Tukey-lambda read term from bias frames."""
    from scipy import stats

    frames = [np.asarray(d, dtype=np.float64) - black for d in darks]
    if not frames:
        raise InputFileError("bias fit: no dark frames given")
    h, w = frames[0].shape
    chan = _channel_map(cfa, h - h % 2, w - w % 2)
    bias = np.zeros(4)
    for c in range(4):
        bias[c] = np.mean([f[: chan.shape[0], : chan.shape[1]][chan == c].mean() for f in frames])
    residual, row_means = [], []
    for f in frames:
        f = f[: chan.shape[0], : chan.shape[1]] - bias[chan]
        rm = f.mean(axis=1)
        row_means.append(rm)
        residual.append((f - rm[:, None]).ravel())
    residual = np.concatenate(residual)
    read_var = residual.var() * w / (w - 1)
    row_var = max(float(np.var(np.concatenate(row_means))) - read_var / w, 0.0)
    rng = np.random.default_rng(seed)
    x = rng.choice(residual, min(samples, residual.size), replace=False)
    lam = float(stats.ppcc_max(x, brack=(-0.3, 0.3), dist="tukeylambda"))
    (osm, osr), (slope, _, r) = stats.probplot(x, sparams=(lam,), dist="tukeylambda")
    return BiasFit(lam, float(slope), math.sqrt(row_var), tuple(float(b) for b in bias), float(r),
                   float(math.sqrt(read_var)), len(frames))


def write_profile(path, pt: PhotonTransfer | None, bf: BiasFit | None, *, black: float, white: float,
                  files: dict) -> None:
    """A noise profile TOML (``[noise]`` in DN, ``[uncertainty]``, ``[sources]``) that a camera
    profile can name, and the photon-transfer plot beside it."""
    from pathlib import Path

    path = Path(path)
    lines = ["# Noise profile written by `ispsim noise calibrate`: formation in DN (P+TL+R+Q+C).", "[noise]"]
    src = {}
    lines += [f"black = {black:g}", f"white = {white:g}"]
    src["noise.black"] = files.get("black", "given")
    src["noise.white"] = files.get("white", "given")
    if pt is not None:
        lines.append(f"K = {pt.K:.6g}  # DN per electron")
        src["noise.K"] = f"photon transfer, {pt.method}: {', '.join(files['flat'])}"
    if bf is not None:
        lines += [f"tl_lambda = {bf.tl_lambda:.4f}", f"read_scale = {bf.read_scale:.6g}",
                  f"row_scale = {bf.row_scale:.6g}", f"color_bias = [{', '.join(f'{b:.6g}' for b in bf.color_bias)}]"]
        dark = ", ".join(files["dark"])
        src["noise.tl_lambda"] = f"PPCC maximum over Tukey-lambda shapes (scipy.stats.ppcc_max), bias frames: {dark}"
        src["noise.read_scale"] = f"slope of the Tukey-lambda probability plot at that shape, bias frames: {dark}"
        src["noise.row_scale"] = f"spread of row means beyond the read noise's share, bias frames: {dark}"
        src["noise.color_bias"] = f"mean above black per CFA channel (R, Gr, Gb, B), bias frames: {dark}"
    lines.append("")
    lines.append("[uncertainty]")
    if pt is not None:
        lines.append(f"K_95 = [{pt.K_interval[0]:.6g}, {pt.K_interval[1]:.6g}]  # bootstrap over photon-transfer points")
        lines.append(f"photon_transfer_points = {len(pt.points)}")
    if bf is not None:
        lines.append(f"ppcc = {bf.ppcc:.5f}")
        lines.append(f"gaussian_read_scale = {bf.gaussian_read_scale:.6g}  # the read term's plain standard deviation")
    for note in (pt.notes if pt is not None else []):
        lines.append(f"# {note}")
    lines.append("")
    lines.append("[sources]")
    lines += [f'"{k}" = {_toml_str(v)}' for k, v in src.items()]
    tmp = path.with_name(f".{path.name}.partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    if pt is not None:
        _plot(path.with_suffix(".png"), pt)


def _toml_str(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plot(path, pt: PhotonTransfer) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    names = ("R", "Gr", "Gb", "B")
    for c in range(4):
        m = pt.points[:, 2] == c
        ax.scatter(pt.points[m, 0], pt.points[m, 1], s=6, label=names[c], alpha=0.6)
    x = np.linspace(0, pt.points[:, 0].max(), 50)
    ax.plot(x, pt.K * x + pt.intercept, "k-", label=f"K = {pt.K:.4g} DN/e- [{pt.K_interval[0]:.3g}, {pt.K_interval[1]:.3g}]")
    ax.set_ylim(0, float(np.percentile(pt.points[:, 1], 99)) * 1.3 or None)
    ax.set_xlabel("mean signal above black (DN)")
    ax.set_ylabel("variance (DN^2)")
    ax.set_title(f"photon transfer: {pt.method}", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
