"""PyTorch readers of dataset stores: training patches, whole test images, clips.

Reading is lazy (one Zarr chunk per sample), so a ``DataLoader`` with workers scales; each item is
a dict of float32 tensors. A :class:`ReferenceSampler` adds the stored-pixel ``mask`` at load
time, drawn from a generator seeded by (seed, sample, patch) so an epoch is repeatable.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from .sampling import ReferenceSampler
from .store import DatasetStore


class _StoreDataset(Dataset):
    """``verify`` (default on): each sample's fields are checked against its marker's sha256 the
    first time this reader (or this DataLoader worker) decodes them; a damaged sample raises a
    DataError naming store, split, index and field instead of returning NaNs or another image."""

    def __init__(self, store, split, fields, camera, verify=True):
        self.store = store if isinstance(store, DatasetStore) else DatasetStore(store)
        if split not in self.store.counts or self.store.counts[split] == 0:
            raise ConfigError(f"{self.store.path}: no split {split!r} in this store")
        self.split = split
        self.fields = tuple(fields or self.store.fields)
        unknown = set(self.fields) - set(self.store.fields)
        if unknown:
            raise ConfigError(f"{self.store.path}: no fields {sorted(unknown)}; it has {sorted(self.store.fields)}")
        self.samples = [i for i in self.store.done_indices(split)
                        if camera is None or self.store.params(split, i)["camera"] == camera]
        self._arrays = {}
        self.verify = verify
        self._verified: set = set()
        self._sha: dict = {}

    def _sample(self, name, i):
        """The whole decoded sample (one chunk: Zarr decodes it whole for any crop anyway)."""
        if not self.verify or (i, name) in self._verified:
            return self._array(name)[i]
        if i not in self._sha:
            self._sha[i] = self.store.read_marker(self.split, i)["sha256"]
        a = self.store.read_field(self.split, i, name, self._sha[i].get(name))
        self._verified.add((i, name))
        return a

    def _array(self, name):
        if name not in self._arrays:  # opened lazily: each DataLoader worker opens its own
            self._arrays[name] = self.store.array(self.split, name)
        return self._arrays[name]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_arrays"] = {}
        state["_verified"] = set()
        return state


class PatchDataset(_StoreDataset):
    """Overlapping ``patch`` x ``patch`` crops (stride ``stride``) of image-style stores."""

    def __init__(self, store, split="train", *, patch=128, stride=None, fields=None, camera=None,
                 reference: ReferenceSampler | None = None, seed: int = 0, verify: bool = True):
        super().__init__(store, split, fields, camera, verify)
        h, w = self.store.size.height, self.store.size.width
        if self.store.recipe.style == "rvd":
            raise ConfigError("PatchDataset reads image stores; use ClipDataset for rvd")
        patch_h, patch_w = (h, w) if patch is None else (min(patch, h), min(patch, w))
        stride = stride or max(1, min(patch_h, patch_w) // 2)
        if any(self.store.fields[f][0] == 1 for f in self.fields):
            # Crops of a Bayer mosaic start on even rows and columns so its CFA order holds.
            patch_h, patch_w, stride = patch_h // 2 * 2, patch_w // 2 * 2, max(2, stride // 2 * 2)
        ys = list(range(0, h - patch_h + 1, stride)) or [0]
        xs = list(range(0, w - patch_w + 1, stride)) or [0]
        self.patch = (patch_h, patch_w)
        self.items = [(i, y, x) for i in self.samples for y in ys for x in xs]
        self.reference, self.seed = reference, seed

    def __len__(self):
        return len(self.items)

    def _crop(self, name, i, y, x, ph, pw):
        if self.verify and (i, name) not in self._verified:
            return self._sample(name, i)[:, y:y + ph, x:x + pw]
        return self._array(name)[i, :, y:y + ph, x:x + pw]

    def __getitem__(self, k):
        i, y, x = self.items[k]
        ph, pw = self.patch
        out = {name: torch.from_numpy(np.ascontiguousarray(self._crop(name, i, y, x, ph, pw)))
               for name in self.fields}
        out["index"] = torch.tensor([i, y, x])
        if self.reference is not None:
            rng = np.random.default_rng([self.seed, i, y, x])
            out["mask"] = torch.from_numpy(self.reference.mask(ph, pw, rng)[None].astype(np.float32))
        return out


class ImageDataset(PatchDataset):
    """Whole images (for testing)."""

    def __init__(self, store, split="test", *, fields=None, camera=None, reference=None, seed=0, verify=True):
        super().__init__(store, split, patch=None, fields=fields, camera=camera, reference=reference, seed=seed,
                         verify=verify)


class ClipDataset(_StoreDataset):
    """RVD-style clips: ``raw (T, 4, H/2, W/2)``, ``srgb (T, 3, H, W)``, ``flow (T, 2, H, W)``.

    Frame 0 is the metadata frame: its (sRGB, RAW) pair is the reference for the rest.
    """

    def __init__(self, store, split="test", *, fields=None, camera=None, verify=True):
        super().__init__(store, split, fields, camera, verify)
        if self.store.recipe.style != "rvd":
            raise ConfigError(f"{self.store.path}: ClipDataset reads rvd stores, this one is {self.store.recipe.style}")

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, k):
        i = self.samples[k]
        out = {name: torch.from_numpy(self._sample(name, i)) for name in self.fields}
        out["index"] = torch.tensor(i)
        return out
