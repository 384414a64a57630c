"""ispsim: camera-ISP simulator, inverse ISP and dataset generator."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ispsim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
