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
from ..errors import ConfigError, DataError
from .generators import field_shapes, split_count
from .recipe import GENERATOR_VERSION, SPLITS, Recipe, parse_recipe

SAMPLES, FAILED = "_samples", "_failed"


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float32).tobytes()).hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _read_json(path: Path, what: str) -> dict:
    """A JSON file, or a ConfigError naming it (truncated, unreadable, not an object)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: {what} is unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} is not a JSON object")
    return data


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
        where = self.split if self.index < 0 else f"{self.split}/{self.index}"
        return f"{where}: {self.kind}: {self.detail}"


class DatasetStore:
    def __init__(self, path: str | Path):
        import zarr

        self.path = Path(path)
        if not (self.path / "zarr.json").exists():
            raise ConfigError(f"{self.path}: not an ispsim dataset store (no zarr.json)")
        root = _read_json(self.path / "zarr.json", "the store's root metadata (recipe, sizes, fields)")
        meta = root.get("attributes", {}).get("ispsim")
        if meta is None:
            raise ConfigError(f"{self.path}: a Zarr group, but not written by ispsim (no 'ispsim' attributes)")
        try:
            self.group = zarr.open_group(str(self.path), mode="r")
        except Exception as e:  # noqa: BLE001 - zarr raises many types for damaged metadata
            raise ConfigError(f"{self.path / 'zarr.json'}: Zarr cannot open the store: {e}") from None
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

    def chunk_file(self, split: str, name: str, index: int) -> Path:
        """The file of one sample's chunk (Zarr v3 default key encoding, '/' separator)."""
        return self.path / split / name / "c" / "/".join([str(index)] + ["0"] * len(self.fields[name]))

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
        # The encoded chunk's own digest: a resumed build re-checks every sample without decoding.
        chunks = {name: _file_digest(self.chunk_file(split, name, index)) for name in arrays}
        self.failure(split, index).unlink(missing_ok=True)
        _atomic_json(self.marker(split, index), {"split": split, "index": index, "sha256": digests,
                                                 "chunk_sha256": chunks, "params": params})
        return sum(np.asarray(a).nbytes for a in arrays.values())

    def record_failure(self, split: str, index: int, error: str) -> None:
        _atomic_json(self.failure(split, index), {"split": split, "index": index, "error": error})

    def done_indices(self, split: str) -> list[int]:
        return [i for i in range(self.counts.get(split, 0)) if self.is_done(split, i)]

    def read_marker(self, split: str, index: int) -> dict:
        m = _read_json(self.marker(split, index), f"the completion marker of {split}/{index}")
        if not isinstance(m.get("sha256"), dict) or "params" not in m:
            raise ConfigError(f"{self.marker(split, index)}: completion marker of {split}/{index} lacks sha256 or params")
        return m

    def read_field(self, split: str, index: int, name: str, digest: str | None = None) -> np.ndarray:
        """One field of one sample, checked against ``digest`` (its marker's sha256) when given."""
        where = f"{self.path}: sample {split}/{index}, field {name!r}"
        try:
            a = self.array(split, name)[index]
        except Exception as e:  # noqa: BLE001 - codecs and metadata fail in many types
            raise DataError(f"{where}: cannot be read ({type(e).__name__}: {e}); "
                            f"`ispsim dataset build` on this store rebuilds it") from None
        if digest is not None and _digest(a) != digest:
            raise DataError(f"{where}: does not match its sha256 (a missing, swapped or altered chunk); "
                            f"`ispsim dataset build` on this store rebuilds it")
        return a

    def read_sample(self, split: str, index: int, *, verify: bool = True) -> dict:
        """Every field of a complete sample, each checked against its marker's sha256."""
        if not self.is_done(split, index):
            raise ConfigError(f"{self.path}: sample {split}/{index} is not complete")
        sha = self.read_marker(split, index)["sha256"] if verify else {}
        return {name: self.read_field(split, index, name, sha.get(name) if verify else None) for name in self.fields}

    def params(self, split: str, index: int) -> dict:
        return self.read_marker(split, index)["params"]

    def failures(self) -> list[dict]:
        out = []
        for split in SPLITS:
            folder = self.path / FAILED / split
            if folder.is_dir():
                for p in sorted(folder.glob("*.json")):
                    try:
                        out.append(_read_json(p, "failure record"))
                    except ConfigError as e:
                        out.append({"split": split, "index": int(p.stem) if p.stem.isdigit() else -1, "error": str(e)})
        return out

    # -- checks -----------------------------------------------------------------------------
    def metadata_problems(self) -> dict[tuple[str, str], str]:
        """(split, field) -> why its array metadata (``<split>/<field>/zarr.json``) is unusable."""
        bad = {}
        for split in SPLITS:
            if not self.counts.get(split):
                continue
            for name, shape in self.fields.items():
                f = self.path / split / name / "zarr.json"
                try:
                    meta = _read_json(f, "array metadata")
                    if tuple(meta.get("shape", ())) != (self.counts[split],) + tuple(shape):
                        raise ConfigError(f"{f}: array metadata has shape {meta.get('shape')}, the store "
                                          f"expects {[self.counts[split], *shape]}")
                except ConfigError as e:
                    bad[(split, name)] = str(e)
        return bad

    def check_sample(self, split: str, index: int, *, decode: bool = False) -> str | None:
        """Why a complete sample is damaged, or None. Without ``decode`` the encoded chunks are
        compared with the marker's chunk digests (cheap; decoded when the marker predates them)."""
        try:
            marker = self.read_marker(split, index)
        except ConfigError as e:
            return str(e)
        chunks = marker.get("chunk_sha256") or {}
        for name in self.fields:
            if not decode and chunks.get(name):
                f = self.chunk_file(split, name, index)
                got = _file_digest(f)
                if got is None:
                    return f"{split}/{name} chunk {index} is missing ({f})"
                if got != chunks[name]:
                    return f"{split}/{name} chunk {index} does not match its sha256"
                continue
            try:
                self.read_field(split, index, name, marker["sha256"].get(name))
            except DataError as e:
                return str(e)
        return None

    def verify(self) -> list[Problem]:
        """Every sample present, decodable and equal to the checksums in its marker; damaged array
        metadata is reported once per array, not as every chunk of it."""
        problems = []
        bad_meta = self.metadata_problems()
        for (split, name), why in bad_meta.items():
            problems.append(Problem(split, -1, "corrupt", why))
        for split in SPLITS:
            if any(s == split for s, _ in bad_meta):
                continue
            for i in range(self.counts[split]):
                if not self.is_done(split, i):
                    f = self.failure(split, i)
                    if f.exists():
                        try:
                            why = _read_json(f, "failure record").get("error", "?")
                        except ConfigError as e:
                            why = str(e)
                        problems.append(Problem(split, i, "failed", why))
                    else:
                        problems.append(Problem(split, i, "missing", "no completion marker"))
                    continue
                why = self.check_sample(split, i, decode=True)
                if why:
                    problems.append(Problem(split, i, "corrupt", why))
        return problems

    def repair(self) -> list[str]:
        """Before a resumed build: rewrite damaged array metadata, and drop the marker of every
        complete sample that fails :meth:`check_sample`, so the build makes it again (a sample is
        a pure function of recipe, seed, split and index: the repair is byte-identical)."""
        import zarr
        from zarr.codecs import ZstdCodec

        done = []
        for (split, name), why in self.metadata_problems().items():
            tmp = self.path / f".repair-{os.getpid()}"
            g = zarr.open_group(str(tmp), mode="w")
            g.create_array(name, shape=(self.counts[split],) + self.fields[name], chunks=(1,) + self.fields[name],
                           dtype="float32", fill_value=np.nan, compressors=ZstdCodec(level=3, checksum=True))
            os.replace(tmp / name / "zarr.json", self.path / split / name / "zarr.json")
            shutil.rmtree(tmp, ignore_errors=True)
            done.append(f"rewrote {split}/{name}/zarr.json ({why})")
        for split in SPLITS:
            for i in self.done_indices(split):
                why = self.check_sample(split, i)
                if why:
                    self.marker(split, i).unlink(missing_ok=True)
                    done.append(f"{split}/{i}: {why}: rebuilt")
        return done

    def table(self):
        """One row per complete sample: split, index, camera and the scalar parameters."""
        import pandas as pd

        rows = []
        for split in SPLITS:
            for i in self.done_indices(split):
                try:
                    p = self.params(split, i)
                except ConfigError:
                    continue  # an unreadable marker: verify names it; the table leaves it out
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
