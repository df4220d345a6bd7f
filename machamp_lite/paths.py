"""Why a path cannot be opened as an input file, said in the user's words.

A bare "file not found" for a symbolic link loop or a link to nothing sends the user looking
for a file that is there; a device or a pipe would be read forever. One function says which it
is, for data files and config files alike."""

from __future__ import annotations

import errno
import os
import stat


def path_problem(path: str | os.PathLike[str], what: str, not_found: str) -> str | None:
    """None when ``path`` is a regular file (or a link to one); else what is wrong with it,
    as the rest of a message that starts with the path. ``what`` names the expected kind of
    file ("data file", "config file"); ``not_found`` is the message for a missing path."""
    try:
        info = os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return (
                "is a symbolic link loop (a link on this path points, through other links, "
                f"back to itself); fix the link or give the {what}'s own path"
            )
        if os.path.islink(path):
            return (
                f"is a symbolic link to {os.readlink(path)}, which does not exist; fix the "
                f"link or give the {what}'s own path"
            )
        if error.errno == errno.ENOENT:
            return not_found
        return f"cannot be read ({error.strerror}); check the path"
    if stat.S_ISDIR(info.st_mode):
        return f"is a directory, not a {what}; give the path of a file"
    if not stat.S_ISREG(info.st_mode):
        return f"is a device or a pipe, not a {what}; give the path of a file"
    return None
