"""Checkpoints that ship: a weights file, its sha256 and a model card beside it.

``name.pt`` + ``name.json`` (the card: data, profile, training command, metrics, sha256). Loading
checks the hash and uses ``torch.load(weights_only=True)``, so a checkpoint can never run code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import ConfigError


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
    card = {**card, "sha256": sha256_of(path), "file": path.name}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    return path


def load_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """(state dict, model card); the file must match the card's sha256."""
    import torch

    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file() or not card_path.is_file():
        raise ConfigError(f"{path}: checkpoint or its model card {card_path.name} is missing")
    card = json.loads(card_path.read_text())
    digest = sha256_of(path)
    if digest != card.get("sha256"):
        raise ConfigError(f"{path}: sha256 {digest[:12]}... does not match its model card ({str(card.get('sha256'))[:12]}...)")
    return torch.load(path, map_location="cpu", weights_only=True), card
