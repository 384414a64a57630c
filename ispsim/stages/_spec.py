"""Stage specification and backend dispatch shared by every stage package."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .._checks import backend_of

INVERTIBLE = ("exact", "approximate", "none")


@dataclass(frozen=True)
class StageSpec:
    """Capability flags of one ISP stage."""

    name: str
    invertible: str
    differentiable: bool
    stochastic: bool
    methods: tuple[str, ...] = ()
    doc: str = ""

    def __post_init__(self):
        if self.invertible not in INVERTIBLE:
            raise ValueError(f"StageSpec.invertible: expected one of {INVERTIBLE}, got {self.invertible!r}")


def kernels(package: str, x):
    """Return the backend module (``_numba`` or ``_torch``) of ``package`` for the type of ``x``."""
    suffix = "_torch" if backend_of(x) == "torch" else "_numba"
    return importlib.import_module(f"{package}.{suffix}")


def check_method(name: str, methods, what: str) -> str:
    if name not in methods:
        raise ValueError(f"{what}: unknown method {name!r}; valid methods: {', '.join(methods)}")
    return name
