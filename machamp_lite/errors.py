"""The project's own error types: every user-facing failure is one of these, not a traceback."""

from __future__ import annotations


class MachampError(Exception):
    """Base class for errors that the command line reports as one clear message."""


class ConfigError(MachampError):
    """A configuration file or key is missing, unknown or of the wrong type."""


class DataError(MachampError):
    """An input data file is missing, empty or malformed."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)
        self.path = path
        self.line = line


class RegistryError(ConfigError):
    """A component name is not registered."""


class ModelLoadError(MachampError):
    """A transformer model or a trained model directory cannot be loaded."""
