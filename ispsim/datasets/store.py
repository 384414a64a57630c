"""The Zarr v3 dataset store.

Layout::

    STORE/zarr.json                      group attributes "ispsim": recipe text, seed, size, version, fields, counts
    STORE/<split>/<field>                float32 arrays (N, *shape), one zstd-compressed chunk per sample
    STORE/_samples/<split>/<index>.json  completion marker: parameters and sha256 of each field
    STORE/_failed/<split>/<index>.json   why a sample could not be built

A sample counts as written only when its marker exists, and the marker is written (atomically)
after the sample's chunks, so a killed build never leaves a half-written sample that reads as
whole; a resumed build rewrites every sample without a marker. Each sample owns its chunks, so
workers never write the same chunk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import ConfigError
from .generators import field_shapes, split_count
from .recipe import GENERATOR_VERSION, SPLITS, Recipe, parse_recipe

SAMPLES, FAILED = "_samples", "_failed"


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def _atomic_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(data, sort_keys=True, indent=1))
    os.replace(tmp, path)


@dataclass
class Problem:
    split: str
    index: int
    kind: str  # missing | failed | corrupt
    detail: str

    def __str__(self):
        return f"{self.split}/{self.index}: {self.kind}: {self.detail}"


class DatasetStore:
    def __init__(self, path: str | Path):
        import zarr

        self.path = Path(path)
        if not (self.path / "zarr.json").exists():
            raise ConfigError(f"{self.path}: not an ispsim dataset store (no zarr.json)")
        self.group = zarr.open_group(str(self.path), mode="r")
        meta = self.group.attrs.get("ispsim")
        if meta is None:
            raise ConfigError(f"{self.path}: a Zarr group, but not written by ispsim (no 'ispsim' attributes)")
        self.meta = meta
        self.recipe = parse_recipe(meta["recipe"], f"{self.path}:recipe")
        self.size_name = meta["size"]
        self.size = self.recipe.size(self.size_name)
        self.fields = {k: tuple(v) for k, v in meta["fields"].items()}
        self.counts = dict(meta["counts"])

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, path: str | Path, recipe: Recipe, size_name: str) -> "DatasetStore":
        import zarr
        from zarr.codecs import ZstdCodec

        path = Path(path)
        size = recipe.size(size_name)
        if (path / "zarr.json").exists():
            store = cls(path)
            if store.meta.get("generator", 1) != GENERATOR_VERSION:
                raise ConfigError(
                    f"{path}: built by an older dataset generator (version {store.meta.get('generator', 1)}, now "
                    f"{GENERATOR_VERSION}: its samples differ); build into a new folder")
            if store.meta["recipe"] != recipe.text or store.size_name != size_name:
                raise ConfigError(
                    f"{path}: holds a build of another recipe or size ({store.recipe.name!r}, {store.size_name!r}); "
                    "choose a new output folder to build this one")
            return store
        if path.is_dir() and any(path.iterdir()):
            raise ConfigError(f"{path}: a folder that is neither empty nor an ispsim store; choose a new output folder")
        fields = field_shapes(recipe, size)
        counts = {s: split_count(recipe, size, s) for s in SPLITS}
        # The skeleton is made under a temporary name and renamed into place whole: a crash at any
        # instant leaves either no store (and a hidden leftover, removed by the next creation) or
        # a complete skeleton that resumes.
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{path.name}.creating-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = path.parent / f".{path.name}.creating-{os.getpid()}"
        group = zarr.open_group(str(tmp), mode="w")
        for split, n in counts.items():
            if n == 0:
                continue
            for name, shape in fields.items():
                group.create_array(f"{split}/{name}", shape=(n,) + shape, chunks=(1,) + shape, dtype="float32",
                                   fill_value=np.nan, compressors=ZstdCodec(level=3, checksum=True))
        group.attrs["ispsim"] = {
            "recipe": recipe.text, "recipe_name": recipe.name, "style": recipe.style, "seed": recipe.seed,
            "size": size_name, "version": __version__, "fields": {k: list(v) for k, v in fields.items()},
            "counts": counts, "cameras": list(recipe.cameras), "generator": GENERATOR_VERSION,
        }
        if path.is_dir():
            path.rmdir()  # empty (checked above): rename() needs the name free
        os.rename(tmp, path)
        return cls(path)

    # -- samples ----------------------------------------------------------------------------
    def marker(self, split: str, index: int) -> Path:
        return self.path / SAMPLES / split / f"{index:06d}.json"

    def failure(self, split: str, index: int) -> Path:
        return self.path / FAILED / split / f"{index:06d}.json"

    def is_done(self, split: str, index: int) -> bool:
        return self.marker(split, index).exists()

    def pending(self) -> list[tuple[str, int]]:
        return [(s, i) for s in SPLITS for i in range(self.counts[s]) if not self.is_done(s, i)]

    def array(self, split: str, name: str, mode: str = "r"):
        import zarr

        return zarr.open_array(str(self.path / split / name), mode=mode)

    def write_sample(self, split: str, index: int, arrays: dict, params: dict) -> int:
        if set(arrays) != set(self.fields):
            raise ConfigError(f"sample {split}/{index}: fields {sorted(arrays)} != store fields {sorted(self.fields)}")
        digests = {}
        for name, a in arrays.items():
            a = np.asarray(a, dtype=np.float32)
            if a.shape != self.fields[name]:
                raise ConfigError(f"sample {split}/{index}: {name} has shape {a.shape}, the store expects {self.fields[name]}")
            self.array(split, name, "r+")[index] = a
            digests[name] = _digest(a)
        self.failure(split, index).unlink(missing_ok=True)
        _atomic_json(self.marker(split, index), {"split": split, "index": index, "sha256": digests, "params": params})
        return sum(np.asarray(a).nbytes for a in arrays.values())

    def record_failure(self, split: str, index: int, error: str) -> None:
        _atomic_json(self.failure(split, index), {"split": split, "index": index, "error": error})

    def done_indices(self, split: str) -> list[int]:
        return [i for i in range(self.counts.get(split, 0)) if self.is_done(split, i)]

    def read_sample(self, split: str, index: int) -> dict:
        if not self.is_done(split, index):
            raise ConfigError(f"{self.path}: sample {split}/{index} is not complete")
        return {name: self.array(split, name)[index] for name in self.fields}

    def params(self, split: str, index: int) -> dict:
        return json.loads(self.marker(split, index).read_text())["params"]

    def failures(self) -> list[dict]:
        out = []
        for split in SPLITS:
            folder = self.path / FAILED / split
            if folder.is_dir():
                out += [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        return out

    # -- checks -----------------------------------------------------------------------------
    def verify(self) -> list[Problem]:
        """Every sample present, decodable and equal to the checksums in its marker."""
        problems = []
        for split in SPLITS:
            for i in range(self.counts[split]):
                if not self.is_done(split, i):
                    f = self.failure(split, i)
                    if f.exists():
                        problems.append(Problem(split, i, "failed", json.loads(f.read_text())["error"]))
                    else:
                        problems.append(Problem(split, i, "missing", "no completion marker"))
                    continue
                try:
                    marker = json.loads(self.marker(split, i).read_text())
                except (OSError, ValueError) as e:
                    problems.append(Problem(split, i, "corrupt", f"unreadable marker: {e}"))
                    continue
                for name in self.fields:
                    try:
                        a = self.array(split, name)[i]
                    except Exception as e:  # codec errors come in many types
                        problems.append(Problem(split, i, "corrupt", f"{split}/{name} chunk {i} cannot be decoded: {e}"))
                        continue
                    if _digest(a) != marker["sha256"].get(name):
                        problems.append(Problem(split, i, "corrupt", f"{split}/{name} chunk {i} does not match its sha256"))
        return problems

    def table(self):
        """One row per complete sample: split, index, camera and the scalar parameters."""
        import pandas as pd

        rows = []
        for split in SPLITS:
            for i in self.done_indices(split):
                p = self.params(split, i)
                row = {"split": split, "index": i, "camera": p.get("camera")}
                rec = p.get("record") or (p.get("records") or [{}])[0]
                for k, v in rec.items():
                    if isinstance(v, (int, float, str)) and k not in ("camera",):
                        row[k] = v
                for k in ("iso", "bayer"):
                    if k in p:
                        row[k] = p[k]
                rows.append(row)
        return pd.DataFrame(rows)

    def nbytes_on_disk(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
