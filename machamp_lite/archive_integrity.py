"""Whether a model folder is what machamp-lite wrote: ``archive.json``'s format and version,
every listed file present with its size and SHA-256, nothing stray in ``encoder/``, and no
pickles. Loading (archive.py) runs these checks before reading anything else, so a damaged or
incomplete copy is one error naming the file, never a model that silently predicts something
else."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

WEIGHTS = "model.safetensors"
ENCODER_DIR = "encoder"
MANIFEST = "archive.json"
FORMAT = "machamp-lite"
# 1: archive.json held only {format, version} (releases before checksums).
# 2: archive.json lists every file with its SHA-256 and size, and what loading needs.
# 3: a label of several columns (dependency: HEAD and DEPREL) starts at its task's column_idx,
#    as in MaChAmp; before, it ended there (loading converts: ``convert_label_columns``).
ARCHIVE_VERSION = 3
# What every archive's encoder/ folder must hold, whatever its version: without these files
# transformers would build some other tokenizer (or none), and the labels would silently change.
ENCODER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_SHA256 = re.compile(r"[0-9a-f]{64}")
DAMAGED = "the model directory is damaged: copy it again or retrain"
INCOMPLETE = "the model directory is incomplete: copy it again or retrain"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def refuse_pickles(path: Path) -> None:
    for file in path.rglob("*"):
        if file.suffix in PICKLE_SUFFIXES and file.is_file():
            raise ModelLoadError(
                f"{file}: model directories may not contain pickle files ({file.suffix}); "
                "machamp-lite loads weights only from safetensors. Remove the file if you trust "
                "the rest of the directory."
            )


def read_json_object(path: Path, valid) -> dict[str, Any]:
    """A JSON object of the archive whose values pass ``valid``; anything else (a missing,
    truncated or edited file) is one ModelLoadError naming the file."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        problem = error.strerror if isinstance(error, OSError) else f"not valid JSON: {error}"
        raise ModelLoadError(
            f"{path}: {problem}; the model directory is incomplete or damaged: copy it again "
            "or retrain"
        ) from None
    if not isinstance(value, dict) or not valid(value.values()):
        raise ModelLoadError(f"{path}: not what machamp-lite writes there; {DAMAGED}")
    return value


def read_manifest(root: Path) -> dict[str, Any]:
    """archive.json, checked: its format, a version this release reads, and (version 2) a
    well-formed file table."""
    from . import __version__

    path = root / MANIFEST
    manifest = read_json_object(path, lambda v: True)
    version = manifest.get("version")
    if manifest.get("format") != FORMAT or type(version) is not int or version < 1:
        raise ModelLoadError(f"{path}: not what machamp-lite writes there; {DAMAGED}")
    if version > ARCHIVE_VERSION:
        raise ModelLoadError(
            f"{path}: archive format version {version} was written by a newer machamp-lite "
            f"({manifest.get('written_by', 'unknown release')}); this release ({__version__}) "
            f"reads versions 1 to {ARCHIVE_VERSION}. Upgrade machamp-lite "
            "(pip install --upgrade machamp-lite) to load this model"
        )
    if version >= 2:
        files = manifest.get("files")
        if not isinstance(files, dict) or not all(
            _safe_relative(name)
            and isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and _SHA256.fullmatch(entry["sha256"])
            and type(entry.get("size")) is int
            and entry["size"] >= 0
            for name, entry in files.items()
        ):
            raise ModelLoadError(
                f"{path}: its file table is not what machamp-lite writes; {DAMAGED}"
            )
    return manifest


def _safe_relative(name: Any) -> bool:
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def verify_files(root: Path, manifest: dict[str, Any]) -> None:
    """Every file that archive.json lists is there with its size and SHA-256, and nothing
    unlisted is in encoder/ (a stray file there could change how the tokenizer or config loads;
    hidden files, which transformers never reads, are ignored). Version 1 archives carry no
    checksums: only the files the encoder needs are required."""
    encoder_dir = root / ENCODER_DIR
    if not encoder_dir.is_dir():
        raise ModelLoadError(
            f"{encoder_dir}: missing (the encoder's config.json and tokenizer); {INCOMPLETE}"
        )
    if manifest["version"] == 1:
        needed = [f"{ENCODER_DIR}/{name}" for name in ENCODER_FILES]
        _refuse_missing(root, needed, "the tokenizer and encoder need it")
        warnings.warn(
            f"{root}: written by an earlier machamp-lite (archive format 1, without checksums), "
            "so damage to its files cannot be detected; machamp_lite.archive.upgrade_archive "
            "adds them",
            stacklevel=3,
        )
        return
    files: dict[str, dict[str, Any]] = manifest["files"]
    required = [WEIGHTS, "params.json", "datasets.json", "vocabularies.json"]
    required += [f"{ENCODER_DIR}/{name}" for name in ENCODER_FILES]
    absent = [name for name in required if name not in files]
    if absent:
        raise ModelLoadError(
            f"{root / MANIFEST}: does not list {absent[0]}, which every model needs; {DAMAGED}"
        )
    _refuse_missing(root, list(files), "archive.json lists it")
    for name in sorted(p.relative_to(root).as_posix() for p in encoder_dir.rglob("*")):
        hidden = any(part.startswith(".") for part in name.split("/"))
        if name not in files and not hidden and (root / name).is_file():
            raise ModelLoadError(
                f"{root / name}: not part of the model as saved (archive.json does not list "
                "it), and a file in encoder/ can change how the tokenizer or config loads; "
                "remove it, or copy the model directory again"
            )
    # Sizes first (free), then the checksums (reading every byte: measured 0.39 s for the
    # 470 MB of multilingual-e5-small's weights, from the page cache, on one core).
    for check in ("size", "sha256"):
        for name, entry in files.items():
            file = root / name
            actual = file.stat().st_size if check == "size" else file_sha256(file)
            if actual != entry[check]:
                what = "size" if check == "size" else "SHA-256"
                raise ModelLoadError(
                    f"{file}: changed since the model was saved (its {what} differs from the "
                    f"one in archive.json); {DAMAGED}"
                )


def _refuse_missing(root: Path, names: list[str], why: str) -> None:
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        more = f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""
        raise ModelLoadError(f"{root / missing[0]}: missing ({why}){more}; {INCOMPLETE}")
