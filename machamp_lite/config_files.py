"""Reading config files (JSON, or jsonnet in a sandbox), writing JSON safely, and resolving
data paths: the part of configuration that touches the file system.

Kept apart from the checks (``config_checks``) and the dataset rules (``config_datasets``) so
that what a config may *read* is in one short file that a reviewer of the threat model can
read whole.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import path_problem
from .permissions import apply_umask

PACKAGE_DIR = Path(__file__).resolve().parent
# The one defaults file: an installed package has no param_configs/ folder beside it.
DEFAULT_PARAMS_PATH = PACKAGE_DIR / "default_params.json"
DATA_DIR_ENV = "MACHAMP_DATA_DIR"
IMPORT_PATH_ENV = "MACHAMP_CONFIG_IMPORT_PATH"
MAX_CONFIG_BYTES = 16 * 2**20  # configs are kB; a larger file is not a config


def default_params() -> dict[str, Any]:
    """A fresh copy of the defaults, read each time so that no caller can change another's."""
    return json.loads(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))


def allowed_import_roots(config_folder: Path) -> list[Path]:
    """jsonnet imports may read files inside the config's own folder and the folders listed in
    $MACHAMP_CONFIG_IMPORT_PATH, nothing else: configs are data, and a config downloaded with
    a model must not read arbitrary files of the machine."""
    return [config_folder.resolve()] + [
        Path(p).resolve() for p in os.environ.get(IMPORT_PATH_ENV, "").split(os.pathsep) if p
    ]


def _strict_json(text: str, path: Path) -> Any:
    """Plain JSON, or None when the text needs jsonnet (comments, trailing commas, code).
    The result is what jsonnet gives for the same text: keys sorted, a key given twice an
    error (dataset order decides the order of training batches, so it must not depend on
    which path read the file)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ConfigError(f"{path}: key {key!r} is given twice in one object")
            result[key] = value
        return dict(sorted(result.items()))

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError:
        return None


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON or jsonnet file (comments, trailing commas, variables, imports) as a dict.

    Plain JSON is parsed directly. Anything else is evaluated by jsonnet in a child process
    bounded in time and memory (``jsonnet_sandbox``), without native callbacks, and with
    imports confined to the config's folder."""
    from .jsonnet_sandbox import SandboxError, evaluate

    path = Path(path)
    problem = path_problem(path, "config file", "")
    if problem == "":
        raise ConfigError(f"config file not found: {path}; check the path")
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {path.stat().st_size} bytes, too large for a config file (at most "
            f"{MAX_CONFIG_BYTES // 2**20} MB); check the path"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start}); configs "
            "are JSON or jsonnet text in UTF-8"
        ) from None
    value = _strict_json(text, path)
    if value is None:
        try:
            value = json.loads(evaluate(path, allowed_import_roots(path.parent)))
        except SandboxError as error:
            raise ConfigError(f"{path}: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: expected a JSON object at the top level, got {type(value).__name__}"
        )
    return value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``; dicts merge, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_data_path(path: str, data_dir: str | os.PathLike | None) -> str:
    """Relative data paths resolve against the data root (``--data_dir`` or $MACHAMP_DATA_DIR),
    then against the working directory, so the same configs work with any copy of the data."""
    if os.path.isabs(path):
        return path
    root = data_dir or os.environ.get(DATA_DIR_ENV)
    if root:
        under_root = Path(root) / path
        # A file that is not under the data root but is under the working directory (the demo
        # data that ships in the repository) is taken from there, so configs can be mixed.
        if not under_root.exists() and Path(path).exists():
            return str(Path(path))
        return str(under_root)
    return str(Path(path))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write JSON atomically (temporary name, then rename) so a crash never leaves half a file;
    a failed write (a full disk) leaves neither the temporary file nor a changed target."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        apply_umask(tmp, replaces=path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
