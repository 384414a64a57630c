"""Checkpoints that ship: a weights file, its sha256 and a model card beside it.

``name.pt`` + ``name.json`` (the card: data, profile, training command, metrics, sha256). Loading
checks the hash and uses ``torch.load(weights_only=True)``, so a checkpoint can never run code.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from ..errors import ConfigError, DataError


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(state: dict, path: str | Path, card: dict) -> Path:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    tmp.replace(path)
    write_card(path, {**card, "sha256": sha256_of(path), "file": path.name})
    return path


def write_card(path: Path, card: dict) -> None:
    """The model card beside ``path``, written whole or not at all (a partial file, then a rename)."""
    dest = Path(path).with_suffix(".json")
    tmp = dest.with_name(f".{dest.name}.partial")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    tmp.replace(dest)


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """(state dict, model card); the file must match the card's sha256."""
    import torch

    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise ConfigError(f"{path}: checkpoint or its model card {card_path.name} is missing")
    card = read_card(card_path)
    digest = sha256_of(path)
    if digest != card.get("sha256"):
        raise DataError(f"{path}: sha256 {digest[:12]}... does not match its model card ({str(card.get('sha256'))[:12]}...): "
                        f"the weights are damaged or not the card's")
    try:
        return torch.load(path, map_location="cpu", weights_only=True), card
    except Exception as e:  # noqa: BLE001 - unpickling fails in many types
        raise DataError(f"{path}: cannot be loaded ({type(e).__name__}: {e})") from None


def read_card(card_path: Path) -> dict:
    """A model card, or a DataError naming it (truncated, unreadable, not an object)."""
    try:
        card = json.loads(Path(card_path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{card_path}: model card is unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(card, dict):
        raise DataError(f"{card_path}: model card is not a JSON object")
    return card


def shipped_cards(method) -> list[dict]:
    """The readable model cards of ``method``'s shipped checkpoints for its profile (a damaged card
    is left out here; loading the weights reports it)."""
    from .base import SETTINGS_DIR

    prefix = method.checkpoint_name("\0").split("\0")[0]
    cards = []
    for path in sorted((SETTINGS_DIR / "checkpoints").glob(f"{prefix}*.json")):
        try:
            cards.append(read_card(path))
        except DataError:
            continue
    return cards


def cache_dir() -> Path:
    import os

    return Path(os.environ.get("ISPSIM_CACHE", Path.home() / ".cache" / "ispsim")) / "checkpoints"


class PerCameraModels:
    """``fit`` for methods with one trained model per camera (CAM, PriorRAW).

    Loads ``methods/checkpoints/<name>-<profile>-<camera>.pt`` when it ships (sha256-checked,
    ``weights_only``), else a cached one trained earlier with the same recipe and settings, else
    trains on the store's training split for that camera and caches the weights under
    ``$ISPSIM_CACHE/checkpoints`` (default ``~/.cache/ispsim``). Subclasses implement
    ``_train(camera, store, path, progress)`` (which saves to ``path``) and ``_load(camera, state)``.
    """

    inference_only: tuple[str, ...] = ()  # settings of how a trained model runs, not of its weights

    def _init_models(self):
        self.models: dict = {}
        self.digests: dict[str, str] = {}

    def checkpoint(self):
        return ",".join(f"{k}:{v[:12]}" for k, v in sorted(self.digests.items())) or None

    def _settings_key(self) -> str:
        """Names the cached weights: the settings, and the method's ``version`` once it is past 1
        (a change to the network invalidates weights trained before it; version 1 keys stay as
        they were)."""
        made = self.training_settings()
        made = made if self.version == 1 else {**made, "version": self.version}
        return hashlib.sha256(json.dumps(made, sort_keys=True).encode()).hexdigest()[:8]

    def training_settings(self, settings: dict | None = None) -> dict:
        """The settings that make the weights: all but ``inference_only`` ones (changing how a
        trained network is run must not invalidate it)."""
        return {k: v for k, v in self.named_settings(settings).items() if k not in self.inference_only}

    def checkpoint_name(self, camera: str) -> str:
        return f"{self.settings_file or self.info.name}-{self.profile}-{camera}.pt"

    def shipped_checkpoint(self, camera: str) -> Path:
        from .base import SETTINGS_DIR

        return SETTINGS_DIR / "checkpoints" / self.checkpoint_name(camera)

    def load_file(self, camera: str, path: Path) -> None:
        state, _ = load_checkpoint(path)
        self._load(camera, state)
        self.digests[camera] = sha256_of(path)

    def made_with_these_settings(self, path: Path) -> bool:
        """Whether the checkpoint's model card names exactly this method's settings and version."""
        card = path.with_suffix(".json")
        if not card.is_file():
            return True  # load_checkpoint reports the missing card
        card = read_card(card)
        made = card.get("settings")
        if card.get("version", 1) != self.version:  # the network or its training changed since
            return False
        return made is None or (json.dumps(self.training_settings(made), sort_keys=True)
                                == json.dumps(self.training_settings(), sort_keys=True))

    def _stamp_version(self, path: Path, seconds: float | None = None) -> None:
        """Writes the method's ``version`` into the model card of weights it just trained, and the
        training's cost (wall seconds, device, torch threads): the budget the leaderboard shows."""
        import torch

        card = {**read_card(path.with_suffix(".json")), "version": self.version}
        # a stage read from a cache: its seconds (where its run recorded them) and what the sum covers
        cached = card.pop("cached_stage", None) or {}
        if seconds is not None:
            card["budget"] = {"train_seconds": round(seconds + (cached.get("seconds") or 0), 1), "device": "cpu",
                              "threads": torch.get_num_threads()}
            if cached.get("note"):
                card["budget"]["note"] = cached["note"]
        write_card(path, card)

    def _train_and_stamp(self, camera, store, path: Path, progress: bool) -> None:
        import torch

        if torch.cuda.is_available():  # say it rather than let a paper-size run crawl unnoticed
            print(f"{self.info.name}: training runs on the CPU; the trainers do not place networks on a GPU "
                  f"(the {self.profile!r} profile's sizes and schedule are unchanged)", file=sys.stderr)
        start = time.perf_counter()
        self._train(camera, store, path, progress)
        self._stamp_version(path, time.perf_counter() - start)
        self.digests[camera] = sha256_of(path)

    def model_keys(self, store) -> list[str]:
        """One model per camera; a method with one model for everything returns ``["all"]``."""
        return list(store.meta["cameras"])

    def model_key(self, camera: str, track: str = "image") -> str:
        """The key of the model that reconstructs ``camera``'s samples of ``track``."""
        return camera

    def fit(self, store, *, progress: bool = True, save_to: Path | None = None) -> None:
        """Load or train one model per key (camera) of ``store``. ``save_to``: train afresh and write
        the checkpoints (with model cards) there, as ``bench train`` does for the shipped ones."""
        for camera in self.model_keys(store):
            name = self.checkpoint_name(camera)
            if save_to is not None:
                self._train_and_stamp(camera, store, Path(save_to) / name, progress)
                continue
            cached = cache_dir() / f"{name[:-3]}-{store.recipe.digest()}-{self._settings_key()}.pt"
            shipped = self.shipped_checkpoint(camera)
            if shipped.exists() and not self.made_with_these_settings(shipped):
                print(f"{self.info.name}: {shipped.name} was trained with other settings (or an older version) than the "
                      f"{self.profile!r} profile now has; using or training one for these", file=sys.stderr)
                shipped = None
            for path in (shipped, cached):
                if path is not None and path.exists():
                    self.load_file(camera, path)
                    break
            else:
                self._train_and_stamp(camera, store, cached, progress)
