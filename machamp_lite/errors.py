"""The project's own error types: every user-facing failure is one of these, not a traceback."""

from __future__ import annotations

import errno
import os
import shutil


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


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's time limit, ``kill``): raised in the main thread so that
    every ``finally`` and ``except BaseException`` cleanup runs. A BaseException, like
    KeyboardInterrupt, so that code catching ``Exception`` does not swallow it."""


def write_failure_reason(error: BaseException, folder: str | os.PathLike) -> str:
    """Why a write failed, in the user's words. Libraries report a full disk in their own ways
    (safetensors: "I/O error: No space left on device (os error 28)"; torch.save: "unexpected
    pos 576 vs 534"), so the free space of the folder's file system is looked at as well."""
    text = str(error)
    if getattr(error, "errno", None) == errno.ENOSPC or "No space left" in text:
        return "the disk is full (no space left on device)"
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < 1024 * 1024:
        return f"the disk is full ({free} bytes free)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
