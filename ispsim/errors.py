"""Typed errors. Each subclasses ValueError or TypeError and names what was wrong."""


class ShapeError(ValueError):
    """An array has the wrong shape, dtype or values for the operation."""


class ConfigError(ValueError):
    """A profile, config or record has a missing, unknown or invalid field."""


class InputFileError(ValueError):
    """An input file cannot be read or is of an unsupported kind."""


class BackendError(TypeError):
    """An argument is neither a NumPy array nor a torch tensor, or the backends are mixed."""


class DataError(ValueError):
    """A stored sample or file is damaged: named by store, split, index and field."""
