"""PriorRAW (ACM MM 2024): RAW from sRGB with prior metadata built offline, nothing per image."""

from .method import PriorRAW, PriorRAWSearch

__all__ = ["PriorRAW", "PriorRAWSearch"]
