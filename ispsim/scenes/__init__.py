"""Scene sources. Built in: a procedural, scene-referred demo scene that needs no download."""

from .synthetic import SyntheticScene, demo_scene

__all__ = ["SyntheticScene", "demo_scene"]
