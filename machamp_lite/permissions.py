"""File modes for what machamp-lite writes: the user's umask, as ``open()`` would give.

Atomic writes go through ``tempfile.mkstemp``/``mkdtemp``, which create 0600 files and 0700
folders whatever the umask says, so a research group sharing a folder could not read the
predictions, models and checkpoints a member wrote. Each temporary file or folder is given the
mode a plain ``open()``/``mkdir()`` would have given before it is renamed into place; a file
that replaces an existing one keeps that file's mode."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (reading it means setting it; a lock keeps threads from racing)."""
    with _lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    return 0o666 & ~current_umask()


def new_dir_mode() -> int:
    return 0o777 & ~current_umask()


def apply_umask(path: str | os.PathLike, replaces: str | os.PathLike | None = None) -> None:
    """Give a freshly made temporary file or folder the mode the user expects: the mode of the
    file it ``replaces`` when that exists, else what the umask allows. Folders get the umask
    mode recursively (an archive or checkpoint folder and what is inside it)."""
    path = Path(path)
    if replaces is not None:
        try:
            old = os.stat(replaces)
        except OSError:
            old = None
        if old is not None and stat.S_ISREG(old.st_mode) and path.is_file():
            os.chmod(path, stat.S_IMODE(old.st_mode))
            return
    if path.is_dir():
        dir_mode, file_mode = new_dir_mode(), new_file_mode()
        os.chmod(path, dir_mode)
        for root, folders, files in os.walk(path):
            for name in folders:
                os.chmod(os.path.join(root, name), dir_mode)
            for name in files:
                os.chmod(os.path.join(root, name), file_mode)
    else:
        os.chmod(path, new_file_mode())
