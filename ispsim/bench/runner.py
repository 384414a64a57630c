"""``bench run``: every method on every dataset of its tracks; results cached and resumable.

Per image the runner builds the method's reference (the sampler's mask over the ground truth, the
true record for the oracle, nothing for blind methods), times ``reconstruct``, measures peak
memory, and scores the output against the ground truth. Rows go to a JSON-lines cache keyed by
(method settings + checkpoint, dataset hash); a rerun skips what is there, so an interrupted run
resumes and a changed method reruns alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from ..datasets.build import build
from ..datasets.recipe import load_recipe
from ..datasets.sampling import ReferenceSampler
from ..datasets.store import DatasetStore
from ..errors import ConfigError, DataError
from ..methods import REGISTRY, Reference, create_method
from ..pipeline import Pipeline, Record
from .metrics import patch_psnr, peak_signal_noise_ratio, structural_similarity
from .suite import Suite, SuiteDataset

RAW_BYTES, SRGB_BYTES = 2, 1  # a stored RAW value is 16-bit, an sRGB value 8-bit


def default_data_dir() -> Path:
    return Path(os.environ.get("ISPSIM_DATA", Path.home() / ".cache" / "ispsim" / "data"))


def dataset_path(recipe, size: str, data_dir: str | Path | None = None) -> Path:
    """Where ``recipe``'s store of ``size`` is built: its name, the digest of its text, the size."""
    return Path(data_dir or default_data_dir()) / f"{recipe.name}-{recipe.digest()}-{size}"


def built_store(recipe, size: str, data_dir: str | Path | None = None, progress: bool = False) -> DatasetStore:
    """``recipe``'s store of ``size`` (a recipe or its name), built or completed first, the
    samples that failed to build reported and left out: what a benchmark, a training or an
    ablation script reads."""
    if isinstance(recipe, (str, Path)):
        recipe = load_recipe(recipe)
    path = dataset_path(recipe, size, data_dir)
    report = build(recipe, path, size, progress=progress)
    if report.failed:
        print(f"bench: {len(report.failed)} samples of {recipe.name}/{size} failed to build; they are left out",
              file=sys.stderr)
    return DatasetStore(path)


def read_cache(path: Path) -> dict:
    """Cached result rows by image index. A line torn by a crash mid-write (or otherwise not a
    row) is dropped with a warning naming the file, and cut from it, so the run redoes that image
    and appends after whole lines only."""
    done: dict = {}
    if not path.exists():
        return done
    data = path.read_bytes()
    good, bad = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            done[row["index"]] = row
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            bad += 1
            continue
        good.append(line)
    if bad:
        print(f"bench: warning: {path}: dropped {bad} torn or unreadable line(s); those images run again",
              file=sys.stderr)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        tmp.write_bytes(b"".join(g + b"\n" for g in good))
        os.replace(tmp, path)
    return done


def dataset_hash(recipe, ds: SuiteDataset) -> str:
    blob = f"{recipe.digest()}|{ds.size}|{ds.split}|{ds.reference}|{ds.rate}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _card_recipe(path: Path) -> str | None:
    from ..methods.checkpoints import read_card

    return (read_card(path.with_suffix(".json")).get("data") or {}).get("recipe")


def _budget_note(method) -> str:
    """'smoke: N training steps' for a network trained on the quick profile: its score says the
    code runs, not how good the method is."""
    if method.info.trainable and method.profile == "quick":
        steps = method.settings.get("steps")
        return f"smoke: {steps} training steps" if steps is not None else "smoke: quick profile"
    return ""


def render_packed(packed: np.ndarray, params: dict) -> np.ndarray:
    """Packed RAW ``[R, Gr, Gb, B]`` in [0, 1] -> 8-bit-quantised sRGB, LibRaw's plain look."""
    from ..pipeline import PLAIN, Pipeline
    from ..stages import cfa

    mosaic = cfa.unpack(np.ascontiguousarray(packed, dtype=np.float32), params["cfa"])
    pipe = Pipeline(params["camera"], PLAIN).with_sensor(cfa=params["cfa"])
    return pipe.render(np.clip(mosaic, 0, 1), 0, gains=tuple(params["gains"]))[0].astype(np.float32)


def stale_weights_note(name: str, profile: str, recipe) -> str:
    """'weights from an older build of the data' when the method's shipped weights for ``recipe``
    were trained on samples an older generator made (their card's digest is not the recipe's
    now): a score with them is not a score of weights trained on these samples."""
    from ..methods import create_method
    from ..methods.checkpoints import shipped_cards

    try:
        cards = shipped_cards(create_method(name, profile))
    except (ConfigError, AttributeError, TypeError):
        return ""
    made = [(d.get("recipe"), d.get("digest") or d.get("recipe_sha")) for d in (c.get("data") or {} for c in cards)]
    stale = any(name_ == recipe.name and digest and digest != recipe.digest() for name_, digest in made)
    if stale:
        return "weights from an older build of the data"
    others = sorted({n for n, _ in made if n})
    if others and recipe.name not in others:  # e.g. nus weights scored on nus-localtone
        return f"weights trained on other data ({', '.join(others)})"
    return ""


def annotate_stale_weights(df, suite):
    """Mark rows scored with shipped weights trained on an older build of their dataset."""
    from ..datasets.recipe import load_recipe

    if not len(df) or "profile" not in df:
        return df
    df = df.copy()
    if "note" not in df:
        df["note"] = ""
    df["note"] = df["note"].astype(object).where(df["note"].notna(), "").astype(str)
    recipes = {ds.key: load_recipe(ds.recipe) for ds in suite.datasets}
    for (method, dataset, profile), idx in df.groupby(["method", "dataset", "profile"]).groups.items():
        if dataset in recipes:
            note = stale_weights_note(method, profile, recipes[dataset])
            if note:
                df.loc[idx, "note"] = [f"{n}; {note}" if n and note not in n else (n or note) for n in df.loc[idx, "note"]]
    return df


def current_hashes(suite) -> set[str]:
    """The dataset hashes of every dataset of ``suite`` as its recipes stand now."""
    from ..datasets.recipe import load_recipe

    return {dataset_hash(load_recipe(ds.recipe), ds) for ds in suite.datasets}


def first_frame_reference(arrays, params) -> Reference:
    """RVD's metadata: the first frame's sRGB and its RAW (demosaiced camera RGB), stored whole."""
    from ..stages import cfa, demosaic

    pattern = params["records"][0]["cfa"]
    packed = arrays["raw"][0]
    return Reference("first_frame", nbytes=int(packed.size) * RAW_BYTES, srgb=arrays["srgb"][0],
                     raw=demosaic.demosaic(cfa.unpack(packed, pattern), pattern), frame=0)


def score_clip(out, arrays, params):
    """Frames 2..N of a clip's camera RGB ``out (T - 1, 3, H, W)`` scored as packed sensor RAW against
    the truth: (PSNR per frame, mean SSIM, the packed prediction)."""
    from ..stages import cfa

    pattern = params["records"][0]["cfa"]
    pred, gt = cfa.pack(cfa.mosaic(out, pattern), pattern), arrays["raw"][1:]
    return ([peak_signal_noise_ratio(g, p) for g, p in zip(gt, pred)],
            float(np.mean([structural_similarity(g, p) for g, p in zip(gt, pred)])), pred)


def restoration_inputs(arrays, params) -> dict:
    """What a restoration method gets: the LQ mosaic and what a RAW file carries with it."""
    return {"lq_raw": arrays["lq_raw"], "bayer": params["bayer"], "record": Record.from_dict(params["record"]),
            "camera": params["camera"], "iso": float(params["iso"])}


def score_restoration(out, gt, record):
    """A linear image ``out`` scored against ``gt`` and both rendered with the record: (PSNR / SSIM
    on each, the two sRGB images)."""
    a, b = Pipeline.finish(gt, record), Pipeline.finish(np.clip(out, 0, None), record)
    return ({"psnr": peak_signal_noise_ratio(gt, out), "ssim": structural_similarity(gt, out),
             "psnr_srgb": peak_signal_noise_ratio(a, b), "ssim_srgb": structural_similarity(a, b)}, a, b)


def make_reference(method, arrays, params, ds: SuiteDataset, seed: int, index: int, need: str | None = None) -> Reference:
    need = need or method.info.needs_reference
    if need == "record":  # the upper bound sees the record and the same samples as the others
        record = Record.from_dict(params["record"])
        sampled = make_reference(method, arrays, params, ds, seed, index, need="sampled")
        return Reference("record", nbytes=len(record.to_json().encode()) + sampled.nbytes, record=record,
                         srgb=sampled.srgb, raw=sampled.raw, mask=sampled.mask)
    if need in ("sampled", "learned"):
        h, w = arrays["raw"].shape[-2:]
        if need == "learned":  # the method's own sampler runs at capture time; positions are stored
            mask = method.sample(arrays["srgb"], arrays["raw"], params["camera"])
            positions = True
        else:
            mask = ReferenceSampler(ds.reference, ds.rate).mask(h, w, np.random.default_rng([seed, index]))
            positions = ds.reference != "uniform"
        nbytes = int(mask.sum()) * (3 * (RAW_BYTES + SRGB_BYTES) + (4 if positions else 0))
        return Reference("sampled", nbytes=nbytes, srgb=arrays["srgb"], raw=arrays["raw"], mask=mask)
    if need == "prior_bank":  # built offline from training RAW: a model asset, not per-image bytes
        return Reference("prior_bank")
    return Reference("none")


def _thumb(a: np.ndarray, width: int = 192) -> np.ndarray:
    step = max(1, a.shape[-1] // width)
    return a[..., ::step, ::step]


class Runner:
    def __init__(self, suite: Suite, out: Path, *, data_dir: Path | None = None, progress: bool = True, lpips=None):
        self.map_indices: set = set()
        self.suite, self.out = suite, Path(out)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.progress = progress
        self.cache = self.out / "cache"
        self.lpips = lpips

    def store_for(self, ds: SuiteDataset) -> DatasetStore:
        return built_store(ds.recipe, ds.size, self.data_dir, self.progress)

    def run(self, methods: list[str], datasets: list[str] | None = None) -> list[dict]:
        known = [ds.key.split("/")[0] for ds in self.suite.datasets]
        unknown = [d for d in datasets or () if d not in known]
        if unknown:
            raise ConfigError(f"--datasets {','.join(unknown)}: the {self.suite.name} suite has no such recipe; "
                              f"its datasets: {', '.join(known)}")
        from tqdm import tqdm

        rows = []
        for ds in self.suite.datasets:
            if datasets and ds.key.split("/")[0] not in datasets:
                continue
            store = self.store_for(ds)
            dhash = dataset_hash(store.recipe, ds)
            indices = store.done_indices(ds.split)
            self.map_indices = set(indices[: self.suite.error_maps])  # images shown in the error-map figure
            for name in methods:
                method = self._method_for(name, store)
                if ds.track not in method.info.tracks:
                    continue
                if method.info.trainable:
                    try:
                        method.fit(store, progress=self.progress)
                    except ModuleNotFoundError as e:  # an optional extra (rddm: diffusers, peft) is not installed
                        print(f"bench: {name} skipped: it needs {e.name}, which is not installed "
                              f"(pip install 'ispsim[{method.info.extra or e.name}]')", file=sys.stderr)
                        continue
                    except DataError as e:  # damaged weights or card: a failure on the leaderboard, not a gap
                        print(f"bench: {name} failed on {ds.key}: {e}", file=sys.stderr)
                        rows += [self._failed(method, store, ds, i, dhash, e) for i in indices]
                        continue
                    except ConfigError as e:  # e.g. a store without training data: the other methods still run
                        print(f"bench: {name} skipped on {ds.key}: it cannot be trained here: {e}", file=sys.stderr)
                        continue
                cache = self.cache / f"{name}-{method.settings_digest()}-{dhash}.jsonl"
                done = read_cache(cache)
                # an image-track row cached before the per-patch PSNR existed is scored again
                todo = [i for i in indices if i not in done or (ds.track == "image" and "psnr_patch" not in done[i])]
                bar = tqdm(total=len(indices), initial=len(indices) - len(todo), desc=f"{name} on {ds.key}",
                           unit="img", disable=not self.progress, file=sys.stderr)
                cache.parent.mkdir(parents=True, exist_ok=True)
                with open(cache, "a") as f:
                    for i in todo:
                        try:
                            row = self.evaluate(method, store, ds, i, dhash)
                        except Exception as e:  # one image's failure is reported; the run goes on
                            done[i] = self._failed(method, store, ds, i, dhash, e)
                            print(f"bench: {name} failed on {ds.key} #{i}: {done[i]['error']}", file=sys.stderr)
                        else:  # only successes are cached: a failed image is tried again next run
                            f.write(json.dumps(row) + "\n")  # whole lines only: a crash loses at most one
                            f.flush()
                            os.fsync(f.fileno())
                            done[i] = row
                        bar.update(1)
                bar.close()
                rows += [done[i] for i in indices]
        return rows

    def _method_for(self, name: str, store: DatasetStore):
        """The method on the suite's profile; on ``quick``, a trainable method whose ``cpu``
        weights ship for this recipe runs with them, since a network trained for a handful of
        steps scores nothing worth reading. Otherwise its rows say "smoke"."""
        method = create_method(name, self.suite.profile)
        if self.suite.profile != "quick" or not method.info.trainable:
            return method
        cpu = create_method(name, "cpu")
        ship = getattr(cpu, "shipped_checkpoint", None)
        if ship is not None:
            try:
                paths = [ship(k) for k in cpu.model_keys(store)]
                if paths and all(p.is_file() and cpu.made_with_these_settings(p)
                                 and _card_recipe(p) == store.recipe.name for p in paths) \
                        and not stale_weights_note(name, "cpu", store.recipe):
                    return cpu
            except (ConfigError, DataError, OSError):
                pass  # a damaged card is reported when the weights are loaded, not here
        return method

    def evaluate(self, method, store: DatasetStore, ds: SuiteDataset, index: int, dhash: str) -> dict:
        if ds.track == "video":
            return self.evaluate_clip(method, store, ds, index, dhash)
        if ds.track == "restoration":
            return self.evaluate_restoration(method, store, ds, index, dhash)
        if ds.track == "denoising":
            return self.evaluate_denoising(method, store, ds, index, dhash)
        arrays = store.read_sample(ds.split, index)
        params = store.params(ds.split, index)
        reference = make_reference(method, arrays, params, ds, self.suite.seed, index)
        inputs = {"srgb": arrays["srgb"], "camera": params["camera"]}
        out, seconds, peak = _measure(lambda: method.reconstruct(inputs, reference))
        gt = arrays["raw"]
        row = self._row(method, ds, params, index, dhash, reference, seconds, peak, gt.shape[-2] * gt.shape[-1],
                        psnr=peak_signal_noise_ratio(gt, out), psnr_patch=patch_psnr(gt, out),
                        ssim=structural_similarity(gt, out))
        if self.lpips is not None:
            record = Record.from_dict(params["record"])
            row["lpips"] = self._lpips(Pipeline.finish(gt, record), Pipeline.finish(np.clip(out, 0, None), record))
        self._save_maps(method, dhash, index, np.abs(out - gt).mean(axis=0), arrays["srgb"])
        return row

    def evaluate_clip(self, method, store: DatasetStore, ds: SuiteDataset, index: int, dhash: str) -> dict:
        """RVD protocol: the first frame's RAW is the reference; metrics on frames 2..N, per clip."""
        arrays = store.read_sample(ds.split, index)
        params = store.params(ds.split, index)
        frames, reference = arrays["srgb"], first_frame_reference(arrays, params)
        out, seconds, peak = _measure(
            lambda: method.reconstruct_video({"srgb": frames, "camera": params["camera"]}, reference))
        per_frame, ssim, pred = score_clip(out, arrays, params)
        self._save_maps(method, dhash, index, np.abs(pred[-1] - arrays["raw"][-1]).mean(0), frames[-1])
        row = self._row(method, ds, params, index, dhash, reference, seconds, peak,
                        (len(frames) - 1) * frames.shape[-2] * frames.shape[-1], psnr=float(np.mean(per_frame)),
                        ssim=ssim, psnr_frames=json.dumps(per_frame))
        if self.lpips is not None:  # frames 2..N, each rendered with its own record, as the image track does
            from ..stages import cfa, demosaic

            scores = []
            for t in range(1, len(frames)):
                rec = Record.from_dict(params["records"][t])
                gt = demosaic.demosaic(cfa.unpack(arrays["raw"][t], rec.cfa), rec.cfa, "bilinear")
                scores.append(self._lpips(Pipeline.finish(gt, rec), Pipeline.finish(np.clip(out[t - 1], 0, None), rec)))
            row["lpips"] = float(np.mean(scores))
        return row

    def evaluate_restoration(self, method, store: DatasetStore, ds: SuiteDataset, index: int, dhash: str) -> dict:
        """RAW restoration: the LQ mosaic (and the camera's record, as a RAW file carries it) in,
        the linear image out; scored on the linear image and on both rendered with the record."""
        arrays = store.read_sample(ds.split, index)
        params = store.params(ds.split, index)
        inputs = restoration_inputs(arrays, params)
        out, seconds, peak = _measure(lambda: method.reconstruct(inputs, Reference("none")))
        gt = arrays["linear"]
        scores, a, b = score_restoration(out, gt, inputs["record"])
        row = self._row(method, ds, params, index, dhash, Reference("none"), seconds, peak, gt.shape[-2] * gt.shape[-1],
                        **scores, bayer=params["bayer"], iso=float(params["iso"]))
        if self.lpips is not None:
            row["lpips"] = self._lpips(a, b)
        self._save_maps(method, dhash, index, np.abs(b - a).mean(axis=0), a)
        return row

    def evaluate_denoising(self, method, store: DatasetStore, ds: SuiteDataset, index: int, dhash: str) -> dict:
        """Low light (ELD's protocol): the amplified short exposure in, the long exposure out, both
        packed; scored on the packed RAW and on both rendered to sRGB (bilinear demosaic, the
        scene's as-shot white balance, the camera's D65 matrix, sRGB gamma), with the ratio."""
        arrays = store.read_sample(ds.split, index)
        params = store.params(ds.split, index)
        keys = ("cfa", "ratio", "K", "read_scale", "row_scale", "black", "white", "camera")
        inputs = {"input": arrays["input"], **{k: params[k] for k in keys}}
        out, seconds, peak = _measure(lambda: method.reconstruct(inputs, Reference("none")))
        gt = arrays["gt"]
        a, b = render_packed(gt, params), render_packed(np.clip(out, 0, 1), params)
        row = self._row(method, ds, params, index, dhash, Reference("none"), seconds, peak, 4 * gt.shape[-2] * gt.shape[-1],
                        psnr=peak_signal_noise_ratio(gt, out), ssim=structural_similarity(gt, out),
                        psnr_srgb=peak_signal_noise_ratio(a, b), ssim_srgb=structural_similarity(a, b),
                        ratio=float(params["ratio"]))
        if self.lpips is not None:
            row["lpips"] = self._lpips(a, b)
        self._save_maps(method, dhash, index, np.abs(b - a).mean(axis=0), a)
        return row

    def _lpips(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS between two sRGB images ``(3, H, W)``."""
        import torch

        with torch.no_grad():
            return float(self.lpips(torch.from_numpy(a)[None], torch.from_numpy(b)[None])[0])

    def _failed(self, method, store, ds, index, dhash, error: Exception) -> dict:
        params = store.params(ds.split, index)
        return self._row(method, ds, params, index, dhash, Reference("none"), float("nan"), 0, 1,
                         error=f"{type(error).__name__}: {error}")

    @staticmethod
    def _row(method, ds, params, index, dhash, reference, seconds, peak, pixels, **metrics) -> dict:
        row = {
            "method": method.info.name, "dataset": ds.key, "track": ds.track, "camera": params["camera"],
            "index": index, "psnr": None, "psnr_patch": None, "ssim": None, "lpips": None, "seconds": seconds,
            "sec_per_mp": seconds / (pixels / 1e6), "peak_mb": peak / 1e6, "ref_bytes": reference.nbytes,
            "upper_bound": method.info.upper_bound, "profile": method.profile, "note": _budget_note(method),
            "settings": method.settings_digest(), "dataset_hash": dhash,
        }
        row.update(metrics)  # known keys keep their column; extras (per-frame PSNR) go last
        return row

    def _save_maps(self, method, dhash, index, error, srgb) -> None:
        """Thumbnails of the error and of the sRGB input for the report's error-map figure."""
        if index not in self.map_indices:
            return
        maps = self.cache / "maps"
        maps.mkdir(parents=True, exist_ok=True)
        np.save(maps / f"{method.info.name}-{dhash}-{index}.npy", _thumb(error).astype(np.float16))
        np.save(maps / f"srgb-{dhash}-{index}.npy", _thumb(srgb).astype(np.float16))


def _measure(fn):
    """(float32 result, wall seconds, peak Python-heap bytes) of ``fn()``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    out = np.asarray(fn(), dtype=np.float32)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak


def resolve_methods(spec: str) -> list[str]:
    """``all`` (every method not flagged experimental), names, or both: ``all,cam,cam-ft``."""
    names = []
    for token in (s.strip() for s in spec.split(",")):
        if token == "all":
            from ..methods import method_class

            names += [n for n in REGISTRY if not method_class(n).info.experimental]
        elif token:
            names.append(token)
    names = list(dict.fromkeys(names))
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ConfigError(f"--methods: unknown {', '.join(unknown)}; registered: {', '.join(REGISTRY)}")
    return names
