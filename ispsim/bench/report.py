"""Leaderboards: ``leaderboard.md``, ``results.csv``, figures and an ``index.html`` that shows them."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from .. import __version__

METRIC_NOTES = (
    "PSNR: per image on normalised float RAW (camera RGB), data_range = 1, ground truth not clipped; "
    "the mean over images. PSNR/patch (INF's protocol, the papers' INF rows): the mean over a 4 x 4 grid of "
    "patches of each patch's PSNR, then over images; it reads several dB above the per-image PSNR on the same "
    "outputs, so compare a paper's number with the column of its protocol. SSIM: Gaussian window 11 (sigma 1.5), K1 = 0.01, K2 = 0.03, data_range = 1, "
    "mean over channels. LPIPS (AlexNet, v0.1) on both images rendered to sRGB with the sample's own record. "
    "Brackets: 95% bootstrap interval of the mean. s/MP: wall seconds of reconstruct per megapixel; "
    "peak MB: Python-heap peak during reconstruct (tracemalloc); bytes: reference bytes the camera stores per image."
)


ISO_BANDS = [0, 400, 1600, float("inf")]
RESTORATION_NOTES = (
    "Restoration track: PSNR / SSIM on the linear image (demosaiced camera RGB, normalised); sRGB PSNR / SSIM on "
    "both linear images rendered to 8-bit sRGB with the sample's own record (white balance, matrix, gamma)."
)


DENOISING_NOTES = (
    "Denoising track (ELD's protocol): the short exposure amplified by the ratio in, the long exposure out, both packed "
    "[R, Gr, Gb, B]; test inputs made with the full physics model (P+TL+R+Q+C). PSNR / SSIM on the packed RAW "
    "(normalised, output clipped to [0, 1]); sRGB PSNR / SSIM on both rendered with the scene's as-shot white balance, "
    "the camera's D65 matrix and the sRGB OETF; tables per ratio band."
)


def bootstrap_ci(values, n: int, seed: int = 0) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2 or n <= 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(df, bootstrap: int, seed: int = 0):
    """One row per (track, dataset, camera or 'all', method)."""
    import pandas as pd

    out = []
    for (track, dataset), group in df.groupby(["track", "dataset"], sort=False):
        slices = [("all", group)] + list(group.groupby("camera", sort=True))
        if track == "restoration":  # the paper's question: does it hold for every Bayer order and noise level?
            slices += [(f"Bayer {b}", sub) for b, sub in group.groupby("bayer", sort=True)]
            labels = [f"ISO < {ISO_BANDS[1]}"] + [f"ISO {a}-{b}" for a, b in zip(ISO_BANDS[1:-2], ISO_BANDS[2:-1])] + [
                f"ISO >= {ISO_BANDS[-2]}"]
            bands = pd.cut(group["iso"], ISO_BANDS, right=False, labels=labels)
            slices += [(str(band), sub) for band, sub in group.groupby(bands, sort=True, observed=True)]
        if track == "denoising":  # ELD's question holds or not at each amplification ratio
            edges = [0, 150, 220, float("inf")]
            labels = ["ratio < 150", "ratio 150-220", "ratio >= 220"]
            bands = pd.cut(group["ratio"], edges, right=False, labels=labels)
            slices += [(str(band), sub) for band, sub in group.groupby(bands, sort=True, observed=True)]
        for camera, sub in slices:
            for method, m in sub.groupby("method", sort=False):
                lo, hi = bootstrap_ci(m["psnr"], bootstrap, seed)
                lp = m["lpips"].dropna()
                srgb = {k: float(m[k].mean()) if k in m and m[k].notna().any() else None
                        for k in ("psnr_srgb", "ssim_srgb", "psnr_patch")}
                note = m["note"].dropna().astype(str) if "note" in m else []
                out.append({**srgb, "track": track, "dataset": dataset, "camera": camera, "method": method,
                            "note": note.iloc[0] if len(note) else "",
                            "upper_bound": bool(m["upper_bound"].iloc[0]), "n": len(m),
                            "psnr": float(np.mean(m["psnr"])), "psnr_lo": lo, "psnr_hi": hi,
                            "ssim": float(m["ssim"].mean()), "lpips": float(lp.mean()) if len(lp) else None,
                            "sec_per_mp": float(m["sec_per_mp"].mean()), "peak_mb": float(m["peak_mb"].max()),
                            "ref_bytes": float(m["ref_bytes"].mean())})
    return pd.DataFrame(out)


def _table(rows, lpips_note: str) -> list[list[str]]:
    srgb = "psnr_srgb" in rows and rows["psnr_srgb"].notna().any()
    patch = "psnr_patch" in rows and rows["psnr_patch"].notna().any()
    head = ["method", "PSNR (dB)", "95% interval"] + (["PSNR/patch"] if patch else []) + ["SSIM"] + (
        ["sRGB PSNR", "sRGB SSIM"] if srgb else []) + [
        "LPIPS", "s/MP", "peak MB", "bytes/img", "n"]
    body = [head]
    rows = rows.assign(smoke=rows["note"].astype(str).str.startswith("smoke") if "note" in rows else False)
    for _, r in rows.sort_values(["upper_bound", "smoke", "psnr"], ascending=[True, True, False]).iterrows():
        note = r.get("note") if isinstance(r.get("note"), str) and r.get("note") else ""
        name = r["method"] + (" (upper bound)" if r["upper_bound"] else "") + (f" ({note})" if note else "")
        lp = f"{r['lpips']:.4f}" if r["lpips"] is not None and np.isfinite(r["lpips"]) else lpips_note
        ci = f"[{r['psnr_lo']:.2f}, {r['psnr_hi']:.2f}]" if np.isfinite(r["psnr_lo"]) else "-"
        extra = [f"{r['psnr_srgb']:.2f}", f"{r['ssim_srgb']:.4f}"] if srgb else []
        per_patch = ([f"{r['psnr_patch']:.2f}" if r["psnr_patch"] is not None and np.isfinite(r["psnr_patch"]) else "-"]
                     if patch else [])
        body.append([name, f"{r['psnr']:.2f}", ci, *per_patch, f"{r['ssim']:.4f}", *extra, lp, f"{r['sec_per_mp']:.3f}",
                     f"{r['peak_mb']:.1f}", f"{r['ref_bytes']:.0f}", str(r["n"])])
    return body


BUDGET_NOTES = (
    "What each trained method's shipped weights were given, from their model cards, beside the paper's own "
    "schedule (its `paper` profile, trained on GPUs). The share is of training pixels seen (steps x batch x "
    "patch side squared, a first stage left out): a method trained on a small share of its paper's budget is scored here as "
    "trained, not as the paper's method at convergence. The learning curves show whether it was still climbing."
)
INF_CLAIM = ("the INF paper reports INF above SAM by 6-12 dB (its Tables 1-2, per-patch INF means beside "
             "per-image SAM numbers copied from the CAM paper)")


def _finite(x) -> float:
    try:
        return float(x) if x is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _inf_claims(group) -> list[str]:
    """For each INF row of the 'all cameras' table: where it stands against sam-rbf on both
    protocols, beside the paper's claim."""
    rows = group[group["camera"] == "all"].set_index("method")
    if "sam-rbf" not in rows.index:
        return []
    sam = rows.loc["sam-rbf"]
    lines = []
    for name in [m for m in rows.index if m == "inf" or m.startswith("inf-")]:
        r = rows.loc[name]
        diff = _finite(r.get("psnr_patch")) - _finite(sam.get("psnr_patch"))
        per_patch = f"{diff:+.2f} dB per patch" if np.isfinite(diff) else "per patch not scored"
        lines.append(f"{name} against sam-rbf: {r['psnr'] - sam['psnr']:+.2f} dB per image, {per_patch}; {INF_CLAIM}.")
    return lines


def _markdown(table) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|" + "---|" * len(table[0])]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def _html_table(table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table[1:])
    return f"<table><tr>{head}</tr>{body}</table>"


def _save_plot(fig, ax, path: Path, xlabel: str, ylabel: str, title: str) -> str:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _spread(xs, log: bool) -> list[float]:
    """Points at one x (methods storing the same bytes) moved apart a little, centred on their
    value, so none hides another; each is labelled with its method as well."""
    from collections import Counter

    xs = [float(v) for v in xs]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    step = 0.04 if log else 0.02 * ((hi - lo) or max(abs(hi), 1.0))
    total, seen, out = Counter(round(v, 6) for v in xs), Counter(), []
    for v in xs:
        k = round(v, 6)
        shift = (seen[k] - (total[k] - 1) / 2) * step
        seen[k] += 1
        out.append(v * 10 ** shift if log else v + shift)
    return out


def figures(df, summary, out: Path, cache: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for dataset, group in summary[summary.camera == "all"].groupby("dataset", sort=False):
        slug = dataset.replace("/", "_")
        restoration = df[df.dataset == dataset].track.isin(["restoration", "denoising"]).any()
        axes_ = (("ref_bytes", "reference bytes per image", False), ("sec_per_mp", "seconds per megapixel", True))
        for x, label, logx in axes_[1:] if restoration else axes_:  # restoration stores no reference bytes
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            xs = _spread([max(v, 1e-6) if logx else v for v in group[x]], logx)
            for xv, (_, r) in zip(xs, group.iterrows()):
                err = [[r["psnr"] - r["psnr_lo"]], [r["psnr_hi"] - r["psnr"]]] if np.isfinite(r["psnr_lo"]) else None
                ax.errorbar([xv], [r["psnr"]], yerr=err, fmt="o", capsize=3, label=r["method"])
                ax.annotate(r["method"], (xv, r["psnr"]), xytext=(4, 2), textcoords="offset points", fontsize=6)
            if logx:
                ax.set_xscale("log")
            made.append(_save_plot(fig, ax, out / f"{slug}_psnr_vs_{'bytes' if x == 'ref_bytes' else 'time'}.png",
                                   label, "PSNR (dB)", f"{dataset}: PSNR vs {label.split()[0]}"))
        sub = df[df.dataset == dataset]
        if "psnr_frames" in sub and sub["psnr_frames"].notna().any():
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            for method, m in sub.groupby("method", sort=False):
                curves = np.array([json.loads(v) for v in m["psnr_frames"]])
                ax.plot(np.arange(2, curves.shape[1] + 2), curves.mean(axis=0), marker="o", label=method)
            ax.set_xticks(np.arange(2, curves.shape[1] + 2))
            made.append(_save_plot(fig, ax, out / f"{slug}_psnr_vs_frame.png", "frame (1 = the reference frame)",
                                   "PSNR (dB), mean over clips", f"{dataset}: quality along the clip"))
        dhash = sub["dataset_hash"].iloc[0]
        methods = list(group.sort_values("psnr", ascending=False)["method"])
        indices = sorted({int(p.stem.rsplit("-", 1)[1]) for p in (cache / "maps").glob(f"srgb-{dhash}-*.npy")})
        if not indices:
            continue
        maps = {(m, i): cache / "maps" / f"{m}-{dhash}-{i}.npy" for m in methods for i in indices}
        # One scale per dataset from its own errors: the median over maps of each map's 99th
        # percentile, so the typical map uses the whole range and only the worst ones saturate.
        p99 = [float(np.percentile(np.load(p), 99)) for p in maps.values() if p.exists()]
        vmax = float(np.median(p99)) if p99 and np.median(p99) > 0 else 1.0
        fig, axes = plt.subplots(len(indices), len(methods) + 1, figsize=(2.2 * (len(methods) + 1), 1.7 * len(indices)),
                                 squeeze=False)
        for r, i in enumerate(indices):
            axes[r, 0].imshow(np.load(cache / "maps" / f"srgb-{dhash}-{i}.npy").astype(np.float32).transpose(1, 2, 0))
            axes[r, 0].set_title(f"{'HQ sRGB' if restoration else 'sRGB'} #{i}", fontsize=7)
            for c, m in enumerate(methods, start=1):
                if maps[m, i].exists():
                    im = axes[r, c].imshow(np.load(maps[m, i]).astype(np.float32), cmap="magma", vmin=0, vmax=vmax)
                    psnr = sub[(sub.method == m) & (sub["index"] == i)]["psnr_srgb" if restoration else "psnr"]
                    axes[r, c].set_title(f"{m} {float(psnr.iloc[0]):.1f} dB{' sRGB' if restoration else ''}" if len(psnr) else m,
                                         fontsize=7)
        for ax in axes.ravel():
            ax.axis("off")
        what = "|sRGB error|" if restoration else "|RAW error|"
        fig.colorbar(im, ax=axes, shrink=0.6, label=f"{what}, 0 to {vmax:.3g} (median 99th pct.; brighter clips)")
        name = f"{slug}_error_maps.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        made.append(name)
    return made


def _prune_maps(maps: Path, live: set[str]) -> None:
    """Error maps of datasets no cached result uses (an edited recipe has a new hash) would
    otherwise pile up in a committed report folder. A run of some datasets only keeps the maps of
    the others: their results are still in the cache (``<method>-<settings>-<dataset>.jsonl``)."""
    live = live | {p.stem.rsplit("-", 1)[-1] for p in maps.parent.glob("*.jsonl")}
    for p in maps.glob("*.npy"):
        parts = p.stem.rsplit("-", 2)
        if len(parts) == 3 and parts[1] not in live:
            p.unlink()


def merge_results(out: Path, df, current: set[str], dataset_order: list[str] | None = None):
    """This run's rows plus every earlier result of the suite's current datasets (``current``:
    their hashes) that the run did not redo: the committed ``results.csv`` first, then the cache.
    A run of some methods or datasets never drops the others from the leaderboard."""
    import pandas as pd

    out = Path(out)
    have = set(zip(df["method"], df["dataset_hash"])) if len(df) else set()
    parts = [df]
    if (out / "results.csv").is_file():
        old = pd.read_csv(out / "results.csv")
        old = old[old["dataset_hash"].astype(str).isin(current).to_numpy()]
        keep = np.array([(m, h) not in have for m, h in zip(old["method"], old["dataset_hash"].astype(str))], bool)
        old = old[keep] if len(old) else old
        parts.append(old)
        have |= set(zip(old["method"], old["dataset_hash"].astype(str)))
    latest: dict = {}
    for f in (out / "cache").glob("*.jsonl") if (out / "cache").is_dir() else ():
        method, _, dhash = f.stem.rsplit("-", 2)
        if dhash in current and (method, dhash) not in have:
            if (method, dhash) not in latest or f.stat().st_mtime > latest[(method, dhash)].stat().st_mtime:
                latest[(method, dhash)] = f
    if latest:
        from .runner import read_cache

        rows = [r for f in latest.values() for r in read_cache(f).values()]
        parts.append(pd.DataFrame(rows).assign(commit="unknown", machine="unknown"))
    merged = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else df
    order = {m: i for i, m in enumerate(dict.fromkeys(merged["method"]))}
    datasets = {d: i for i, d in enumerate(dataset_order or dict.fromkeys(merged["dataset"]))}
    rank = {"method": order, "dataset": datasets}
    return merged.sort_values(["dataset", "method", "index"], key=lambda c: c.map(rank[c.name]) if c.name in rank else c,
                              kind="stable").reset_index(drop=True)


def write_report(out: Path, df, suite_name: str, profile: str, bootstrap: int, lpips_note: str,
                 prov: dict | None = None) -> Path:
    from .provenance import header_lines

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "results.csv", index=False, float_format="%.6g")
    _prune_maps(out / "cache" / "maps", {str(h) for h in df["dataset_hash"]})
    failed = df[df["error"].notna()] if "error" in df else df.iloc[:0]
    df = df.drop(failed.index)
    summary = summarise(df, bootstrap)
    figs = figures(df, summary, out, out / "cache") if len(df) else []
    md = [f"# Leaderboard: suite `{suite_name}` (profile `{profile}`, ispsim {__version__})", ""]
    if prov:
        md += [*header_lines(prov), ""]
    md += [METRIC_NOTES, ""]
    if lpips_note:
        md += [f"{lpips_note}", ""]
    body_html = []
    if len(failed):  # listed first: a mean over fewer images must not pass unnoticed
        rows = [["method", "dataset", "images", "error"]]
        for (m, d, err), g in failed.groupby(["method", "dataset", "error"], sort=False):
            ids = sorted(int(i) for i in g["index"])
            shown = ", ".join(map(str, ids[:8])) + (f", ... ({len(ids)} in all)" if len(ids) > 8 else "")
            rows.append([m, d, shown, str(err)])
        md += [f"## Failures ({len(failed)} images, left out of the means)", "", _markdown(rows), ""]
        body_html.append(f"<h2>Failures ({len(failed)} images, left out of the means)</h2>{_html_table(rows)}")
    for (track, dataset), group in (summary.groupby(["track", "dataset"], sort=False) if len(summary) else ()):
        notes = {"restoration": RESTORATION_NOTES, "denoising": DENOISING_NOTES}.get(track)
        md += [f"## {track} track: {dataset}", ""] + ([notes, ""] if notes else [])
        body_html.append(f"<h2>{html.escape(track)} track: {html.escape(dataset)}</h2>")
        for camera, rows in group.groupby("camera", sort=False):
            table = _table(rows, "no weights" if lpips_note.startswith("LPIPS: no weights") else "not computed")
            md += [f"### {'all cameras' if camera == 'all' else camera}", "", _markdown(table), ""]
            body_html.append(f"<h3>{html.escape('all cameras' if camera == 'all' else camera)}</h3>{_html_table(table)}")
        claims = _inf_claims(group)
        if claims:
            md += claims + [""]
            body_html += [f"<p>{html.escape(line)}</p>" for line in claims]
        slug = dataset.replace("/", "_")
        shown = [f for f in figs if f.startswith(slug)]
        md += [f"![{f}]({f})" for f in shown] + [""]
        body_html += [f'<img src="{f}" alt="{f}">' for f in shown]
    from .budget import budget_rows, budget_table, learning_curves

    budgets = budget_rows([tuple(k) for k in df[["method", "profile"]].drop_duplicates().itertuples(index=False)]
                          if len(df) and "profile" in df else [])
    if budgets:
        table = budget_table(budgets)
        md += ["## Training budgets", "", BUDGET_NOTES, "", _markdown(table), ""]
        body_html.append(f"<h2>Training budgets</h2><p>{html.escape(BUDGET_NOTES)}</p>{_html_table(table)}")
        curves = learning_curves(budgets, out / "learning_curves.png")
        if curves:
            figs.append(curves)
            md += [f"![{curves}]({curves})", ""]
            body_html.append(f'<img src="{curves}" alt="{curves}">')
    for stale in [*out.glob("*_error_maps.png"), *out.glob("*_psnr_vs_*.png"), *out.glob("learning_curves.png")]:
        if stale.name not in figs:  # a figure of a dataset or method no longer on the board
            stale.unlink()
    (out / "leaderboard.md").write_text("\n".join(md))
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}" \
            "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}img{max-width:100%;margin:6px 0}"
    (out / "index.html").write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>ispsim {suite_name}</title><style>{style}</style></head>"
        f"<body><h1>Leaderboard: {html.escape(suite_name)}</h1>"
        + "".join(f"<p>{html.escape(line)}</p>" for line in (header_lines(prov) if prov else []))
        + f"<p>{html.escape(METRIC_NOTES)}</p>"
        f"<p>{html.escape(lpips_note)}</p>{''.join(body_html)}"
        "<p><a href='results.csv'>results.csv</a> (one row per image)</p></body></html>")
    return out / "leaderboard.md"
