"""What each trained method on a leaderboard was given, beside what its paper trained with.

Read from the model cards of the weights that ship (``methods/checkpoints/*.json``): the steps and
batch of the profile they were trained with, the training images, the wall time the training took
(stamped on cards since budgets were recorded; older cards say so), and the learning curve
(validation score against steps) where the training logged one. The paper's side is the method's
``paper`` profile, the paper's own schedule.
"""

from __future__ import annotations

from pathlib import Path

STAGE_ONE = ("enc_steps", "rvae_steps")  # a pre-training stage before ``steps`` (PriorRAW's encoder, RDDM's RVAE)


def _cards(method) -> list[dict]:
    from ..methods.checkpoints import shipped_cards

    return [c for c in shipped_cards(method) if c.get("profile") == method.profile]


def _images(data: dict) -> str:
    for key in ("train_images", "images", "train"):
        if data.get(key) is not None:
            return str(int(data[key]))
    return f"{data['patches']} patches" if data.get("patches") else "-"


def _key(card: dict) -> str:
    """Which of a method's models a card is: its camera, its track, or "all"."""
    return card.get("camera") or card.get("track") or "all"


def _pixels(settings: dict) -> int:
    """Training pixels seen in the main stage: steps x batch x patch side squared."""
    return int(settings.get("steps") or 0) * int(settings.get("batch") or 0) * int(settings.get("patch") or 0) ** 2


def _steps(settings: dict) -> str:
    first = [f"{settings[k]} + " for k in STAGE_ONE if settings.get(k)]
    return f"{''.join(first)}{settings.get('steps', '?')} x {settings.get('batch', '?')}"


def budget_rows(methods: list[tuple[str, str]]) -> list[dict]:
    """One row per trained (method, profile) with shipped cards."""
    from ..errors import ConfigError
    from ..methods import create_method

    rows, plotted = [], set()
    for name, profile in methods:
        try:
            method = create_method(name, profile)
            paper = create_method(name, "paper").settings
        except ConfigError:
            continue
        if not method.info.trainable or not hasattr(method, "checkpoint_name"):
            continue
        cards = _cards(method)
        if not cards:
            continue
        settings = cards[0].get("settings") or method.settings
        stamped = [c for c in cards if c.get("budget", {}).get("train_seconds") is not None]
        unstamped = [_key(c) for c in cards if c not in stamped]
        files = {c.get("file") for c in cards}
        here, there = _pixels(settings), _pixels(paper)
        rows.append({
            "method": name, "profile": profile, "models": len(cards),
            "steps": f"{_steps(settings)} ({settings.get('patch', '?')} px)",
            "images": _images(cards[0].get("data") or {}),
            "minutes": sum(c["budget"]["train_seconds"] for c in stamped) / 60 if stamped else None,
            "threads": next((c["budget"].get("threads") for c in cards if c.get("budget")), None),
            "budget_note": "; ".join(filter(None, [
                next((c["budget"]["note"] for c in cards if (c.get("budget") or {}).get("note")), ""),
                # some models retrained since budgets were stamped, others not: say which the sum covers
                f"{', '.join(_key(c) for c in stamped)} only; {', '.join(unstamped)} trained before budgets were stamped"
                if stamped and unstamped else ""])),
            "paper_steps": f"{_steps(paper)} ({paper.get('patch', '?')} px)", "share": here / there if here and there else None,
            # a method reading another's weights (cam-ft reads cam's) is in the table, its curve once
            "curves": {} if files & plotted else
            {_key(c): c["curve"] for c in cards if c.get("curve")},
            "curve_note": "" if not files & plotted else "in the figure (shared weights)",
            "curve_metric": next((c.get("curve_metric") for c in cards if c.get("curve")), ""),
        })
        plotted |= files if rows[-1]["curves"] else set()
    return rows


def budget_table(rows: list[dict]) -> list[list[str]]:
    head = ["method", "models", "steps x batch (patch)", "training images", "CPU minutes (all models)",
            "paper: steps x batch (patch), GPU", "share of the paper's training pixels", "learning curve"]
    body = [head]
    for r in rows:
        minutes = (f"{r['minutes']:.1f} ({r['threads']} thread{'s' if r['threads'] != 1 else ''}"
                   f"{'; ' + r['budget_note'] if r['budget_note'] else ''})"
                   if r["minutes"] is not None else "not recorded (trained before budgets were stamped)")
        share = f"{100 * r['share']:.2g}%" if r["share"] is not None else "-"
        curve = "in the figure" if r["curves"] else (r.get("curve_note") or "none logged")
        body.append([r["method"], str(r["models"]), r["steps"], r["images"], minutes,
                     r["paper_steps"], share, curve])
    return body


PER_IMAGE = "validation PSNR per image"


def _panel(metric: str) -> tuple[str, str]:
    """(panel, legend detail): the de-rendering methods' per-image validation PSNRs share a panel
    (each names its reference in the legend: learned samples, sampled pixels, a prior bank);
    any other metric has its own."""
    metric = metric or "validation score"
    if metric.startswith(PER_IMAGE + ","):
        return f"{PER_IMAGE} (dB)", metric[len(PER_IMAGE) + 1:].strip().removesuffix("(dB)").strip()
    return metric, ""


def learning_curves(rows: list[dict], path: Path) -> str | None:
    """One panel of validation score against steps for every method whose cards carry a curve."""
    rows = [r for r in rows if r["curves"]]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = list(dict.fromkeys(_panel(r["curve_metric"])[0] for r in rows))
    cols = min(3, len(metrics))  # rows of three panels: readable at a report's width
    rows_n = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(6 * cols, 3.6 * rows_n), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        for r in rows:
            panel, detail = _panel(r["curve_metric"])
            if panel != metric:
                continue
            for key, curve in r["curves"].items():
                steps, values = zip(*curve)
                ax.plot(steps, values, marker=".",
                        label=r["method"] + ("" if key == "all" else f" ({key})") + (f", {detail}" if detail else ""))
        ax.set_xlabel("training step")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("learning curves (from the model cards)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
