"""A trained model as a directory: safetensors weights, the tokenizer and encoder config beside
them, the label vocabularies and the resolved configs. It loads on another machine without the
original model path, and never by unpickling.

``archive.json`` (format version 2) lists every file of the archive with its SHA-256 and size,
and what loading needs (plugin modules, tokenizer files). Loading checks it first: a missing,
truncated or changed file is one error naming it, never a model that silently predicts
something else. The checksums detect damage (a partial copy, a flipped byte, a lost file), not
a forger; what keeps a model folder from running code is that nothing in it is executed:
weights are safetensors (pickles are refused), the tokenizer and config are read from the folder
only (no hub, no remote code), and plugin modules that its configs name are imported only when
the caller allows them (``allow_plugins``, ``machamp-lite predict --plugins``)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .archive_integrity import (
    ARCHIVE_VERSION,
    DAMAGED,
    ENCODER_DIR,
    FORMAT,
    MANIFEST,
    WEIGHTS,
    file_sha256,
    read_json_object,
    read_manifest,
    refuse_pickles,
    verify_files,
)
from .config import validate_params, write_json
from .data.vocabulary import LabelVocabulary
from .errors import ConfigError, MachampError, ModelLoadError
from .model import MultiTaskModel, TaskSpec, build_model, collect_tasks, layer_mix_report
from .permissions import apply_umask
from .registry import import_allowed_plugins

LAYER_MIX = "layer_mix.json"
_RUST_IO_ERROR = re.compile(r"\(os error \d+\)$")


class ModelSaveError(MachampError):
    """A model archive could not be written (a full disk, no permission); nothing was replaced."""


# ---- saving ----


def save_archive(
    path: str | os.PathLike,
    model: MultiTaskModel,
    params: dict[str, Any],
    datasets: dict[str, dict[str, Any]],
    vocabularies: dict[str, LabelVocabulary],
) -> Path:
    """Write the archive to a temporary folder and swap it into place, so a crash or a full disk
    never leaves a half-written model where a complete one was. A failed write is one
    ``ModelSaveError`` naming ``path``; the temporary folder is removed and an archive already
    at ``path`` is kept as it was."""
    from safetensors.torch import save_model

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise ModelSaveError(_save_failed(target, error)) from None
    try:
        save_model(model, str(tmp / WEIGHTS))
        encoder = model.encoder
        encoder.transformer.config.save_pretrained(tmp / ENCODER_DIR)
        encoder.save_tokenizer(tmp / ENCODER_DIR)
        write_json(tmp / "vocabularies.json", {t: v.to_list() for t, v in vocabularies.items()})
        write_json(tmp / "params.json", params)
        write_json(tmp / "datasets.json", datasets)
        mixes = layer_mix_report(model)
        if mixes:  # the learned layer weights of tasks with layers_to_use, to read without torch
            write_json(tmp / LAYER_MIX, mixes)
        write_json(tmp / MANIFEST, _manifest(tmp, params, datasets))
        apply_umask(tmp)  # mkdtemp made it 0700: give the archive the modes the umask allows
        _swap_into_place(tmp, target)
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if failed_write(error):
            raise ModelSaveError(_save_failed(target, error)) from None
        raise
    return target


def failed_write(error: BaseException) -> bool:
    """The file system refused a write: an OSError from Python, a SafetensorError from the
    weights writer, or the plain Exception that the tokenizers library raises, whose message
    ends like every Rust I/O error ("No space left on device (os error 28)")."""
    from safetensors import SafetensorError

    if isinstance(error, (OSError, SafetensorError)):
        return True
    return type(error) is Exception and _RUST_IO_ERROR.search(str(error)) is not None


def _save_failed(target: Path, error: BaseException) -> str:
    reason = (error.strerror if isinstance(error, OSError) else None) or str(error) or repr(error)
    return (
        f"{target}: cannot save the model ({reason}); nothing was written there, and a model "
        "saved there before is kept. Free disk space or choose another output folder and "
        "try again"
    )


def _swap_into_place(tmp: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _manifest(folder: Path, params: dict[str, Any], datasets: dict[str, Any]) -> dict[str, Any]:
    from . import __version__

    files = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        if name != MANIFEST:
            files[name] = {"sha256": file_sha256(file), "size": file.stat().st_size}
    encoder_files = sorted(
        n[len(ENCODER_DIR) + 1 :] for n in files if n.startswith(f"{ENCODER_DIR}/")
    )
    return {
        "format": FORMAT,
        "version": ARCHIVE_VERSION,
        "written_by": f"machamp-lite {__version__}",
        "needs": {
            "plugins": [module for module, _ in archive_plugins(params, datasets)],
            "tokenizer_files": [n for n in encoder_files if n != "config.json"],
        },
        "files": files,
    }


# ---- loading ----


def _require(path: Path, value: Any, key: str, kind: type[Any], required: bool = True) -> None:
    """``value`` (found under ``key`` in the file ``path``) is of ``kind``; else one error
    naming the file and the key."""
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    if value is None:
        if required:
            raise ModelLoadError(f"{path}: missing required key {key!r}; {DAMAGED}")
        return
    if not isinstance(value, kind) or (
        kind is list and not all(isinstance(item, str) for item in value)
    ):
        wanted = "a list of strings" if kind is list else names[kind]
        raise ModelLoadError(f"{path}: key {key!r} should be {wanted}; {DAMAGED}")


def check_sections(
    root: Path,
    params: dict[str, Any],
    datasets: dict[str, Any],
    vocabularies: dict[str, LabelVocabulary],
) -> None:
    """The keys that loading and predicting read are there, with the right types: an archive
    written by hand or by another tool fails here, naming the file and the key, rather than with
    a KeyError deep inside."""
    where = root / "params.json"
    _require(where, params.get("transformer_model"), "transformer_model", str)
    _require(where, params.get("encoder"), "encoder", dict)
    for key in ("decoder", "prediction"):
        _require(where, params.get(key), key, dict, required=False)
    _require(where, params.get("plugins"), "plugins", list, required=False)
    # Values too, as a user's file is checked: an archive rewritten with its checksums (or by
    # another tool) must not hand predict a zero chunk size or a negative batch.
    try:
        validate_params(params, str(where), required=())
    except ConfigError as error:
        raise ModelLoadError(f"{error}; {DAMAGED}") from None
    where = root / "datasets.json"
    if not datasets:
        raise ModelLoadError(f"{where}: names no dataset; {DAMAGED}")
    for name, dataset in datasets.items():
        _require(where, dataset.get("plugins"), f"{name}.plugins", list, required=False)
        _require(where, dataset.get("tasks"), f"{name}.tasks", dict)
        if not dataset["tasks"]:
            raise ModelLoadError(f"{where}: key '{name}.tasks' names no task; {DAMAGED}")
        for task, settings in dataset["tasks"].items():
            _require(where, settings, f"{name}.tasks.{task}", dict)
            _require(where, settings.get("task_type"), f"{name}.tasks.{task}.task_type", str)
            if task not in vocabularies:
                raise ModelLoadError(
                    f"{root / 'vocabularies.json'}: missing required key {task!r} (the labels "
                    f"of task {task!r} of dataset {name!r}); {DAMAGED}"
                )


def archive_plugins(params: dict[str, Any], datasets: dict[str, Any]) -> list[tuple[str, str]]:
    """(module, config file) for each plugin module the configs name, in order, once each."""
    found: dict[str, str] = {}
    for module in params.get("plugins") or []:
        found.setdefault(module, "params.json")
    for dataset in datasets.values():
        for module in dataset.get("plugins") or []:
            found.setdefault(module, "datasets.json")
    return list(found.items())


def _load_encoder_files(encoder_dir: Path):
    """The tokenizer and config from the archive's own files: never the hub, a cache, or code
    shipped with them."""
    from transformers import AutoConfig, AutoTokenizer

    strict = {"local_files_only": True, "trust_remote_code": False}
    try:
        config = AutoConfig.from_pretrained(str(encoder_dir), **strict)
        tokenizer = AutoTokenizer.from_pretrained(str(encoder_dir), use_fast=True, **strict)
    except Exception as error:  # transformers raises OSError, ValueError, ... for bad files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ModelLoadError(
            f"{encoder_dir}: cannot load the encoder's config or tokenizer ({reason}); {DAMAGED}"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"{encoder_dir}: the tokenizer is not a fast tokenizer (tokenizer.json); {DAMAGED}"
        )
    return tokenizer, config


def read_archive_configs(
    root: Path,
    allow_plugins: Iterable[str] = (),
    advice: str = "pass --plugins {modules} to machamp-lite predict, or "
    "allow_plugins={module_list} to Predictor.load",
    weights: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(params, datasets) of a model folder, its files checked against its manifest first and
    its datasets in the current label-column convention; ``weights=False`` for callers that
    need only the configs (``evaluate --model``), so the weights file need not be there."""
    needed = (MANIFEST, WEIGHTS) if weights else (MANIFEST,)
    if not all((root / name).is_file() for name in needed):
        raise ModelLoadError(
            f"{root}: not a machamp-lite model directory (expected {' and '.join(needed)}); "
            "pass the 'model' folder inside a training run directory"
        )
    refuse_pickles(root)
    manifest = read_manifest(root)
    verify_files(root, manifest)
    params = read_json_object(root / "params.json", lambda v: True)
    datasets = read_json_object(
        root / "datasets.json",
        lambda v: all(isinstance(d, dict) and {"name", "source", "tasks"} <= set(d) for d in v),
    )
    if manifest["version"] < 3:
        convert_label_columns(datasets)
    # Decoders and readers from other packages register when their modules are imported; a
    # model folder may come from anyone, so only the modules the caller allows (or imported
    # already: naming those runs no code) are imported.
    import_allowed_plugins(
        [(module, str(root / file)) for module, file in archive_plugins(params, datasets)],
        allow_plugins,
        f"{root}: this model",
        advice,
        error=ModelLoadError,
    )
    return params, datasets


def load_archive(
    path: str | os.PathLike,
    device: str | torch.device = "cpu",
    allow_plugins: Iterable[str] = (),
):
    """(model, params, datasets, vocabularies, tasks) from an archive directory.

    ``allow_plugins`` names the plugin modules that the archive's configs may have imported;
    any other module they name (and that is not imported already) is refused before it runs."""
    from safetensors.torch import load_model

    root = Path(path)
    params, datasets = read_archive_configs(root, allow_plugins)
    vocabularies = {
        task: LabelVocabulary(labels)
        for task, labels in read_json_object(
            root / "vocabularies.json",
            lambda v: all(isinstance(x, list) and all(isinstance(y, str) for y in x) for x in v),
        ).items()
    }
    check_sections(root, params, datasets, vocabularies)
    tasks: dict[str, TaskSpec] = collect_tasks(datasets)
    encoder_dir = root / ENCODER_DIR
    tokenizer, config = _load_encoder_files(encoder_dir)
    # The encoder is built from the archive's own config: the path it was trained from (which
    # may be another machine's, or an unset ${VARIABLE}) is not needed here.
    model = build_model(
        {**params, "transformer_model": str(encoder_dir)},
        tasks,
        vocabularies,
        pretrained=False,
        tokenizer=tokenizer,
        model_config=config,
    )
    try:
        missing, unexpected = load_model(model, str(root / WEIGHTS), strict=False)
    except Exception as error:  # safetensors raises its own error type for a damaged file
        raise ModelLoadError(
            f"{root / WEIGHTS}: cannot read the weights ({error}); the file is damaged or "
            "incomplete: copy the model directory again or retrain"
        ) from None
    if missing or unexpected:
        raise ModelLoadError(
            f"{root / WEIGHTS}: weights do not match the model described by params.json "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    model.to(device)
    model.eval()
    return model, params, datasets, vocabularies, tasks


def convert_label_columns(datasets: dict[str, Any]) -> None:
    """An archive before format 3 gave a label of several columns (a dependency task's HEAD
    and DEPREL) by its last column; it now names its first, as MaChAmp does. Rewrite such
    tasks' ``column_idx`` in place, so that an older model writes its predictions into the
    same columns as before (for negative numbers too: -1, the last, becomes -2)."""
    from .registry import decoders

    for dataset in datasets.values():
        for task in dataset.get("tasks", {}).values():
            task_type = task.get("task_type")
            if not isinstance(task_type, str) or task_type not in decoders:
                continue
            width = getattr(getattr(decoders.get(task_type), "codec", None), "label_width", 1)
            column = task.get("column_idx")
            if width > 1 and isinstance(column, int) and not isinstance(column, bool):
                task["column_idx"] = column - (width - 1)


def upgrade_archive(path: str | os.PathLike, allow_plugins: Iterable[str] = ()) -> Path:
    """Load an archive written by an earlier release (format 1 or 2) and save it again in the
    current format (checksums; label columns as MaChAmp gives them). Only for a folder you
    trust as it is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, params, datasets, vocabularies, _ = load_archive(path, "cpu", allow_plugins)
    return save_archive(path, model, params, datasets, vocabularies)
