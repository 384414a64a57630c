"""Strict TOML reading: unknown keys and missing fields are errors that name file and field."""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import ConfigError


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def take(table: dict, allowed: dict, where: str, *, required: tuple[str, ...] = ()) -> dict:
    """Check ``table`` against ``allowed`` (key -> expected Python type or tuple of types)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: unknown key; valid keys: {', '.join(allowed)}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}.{key}: missing required field")
    for key, value in table.items():
        types = allowed[key]
        if types is float:
            types = (int, float)
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise ConfigError(f"{where}.{key}: expected {_names(types)}, got {value!r}")
        if not isinstance(value, types):
            raise ConfigError(f"{where}.{key}: expected {_names(types)}, got {value!r}")
    return table


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)
