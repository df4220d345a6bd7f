"""A trained model as a directory: safetensors weights, the tokenizer and encoder config beside
them, the label vocabularies and the resolved configs. It loads on another machine without the
original model path, and never by unpickling."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from .config import write_json
from .data.vocabulary import LabelVocabulary
from .errors import ModelLoadError
from .model import MultiTaskModel, TaskSpec, build_model, collect_tasks
from .registry import import_plugin_modules

WEIGHTS = "model.safetensors"
ENCODER_DIR = "encoder"
ARCHIVE_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def save_archive(
    path: str | os.PathLike,
    model: MultiTaskModel,
    params: dict[str, Any],
    datasets: dict[str, dict[str, Any]],
    vocabularies: dict[str, LabelVocabulary],
) -> Path:
    """Write the archive to a temporary folder and swap it into place, so a crash never leaves a
    half-written model where a complete one was."""
    from safetensors.torch import save_model

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save_model(model, str(tmp / WEIGHTS))
        encoder = model.encoder
        encoder.transformer.config.save_pretrained(tmp / ENCODER_DIR)
        encoder.save_tokenizer(tmp / ENCODER_DIR)
        write_json(tmp / "vocabularies.json", {t: v.to_list() for t, v in vocabularies.items()})
        write_json(tmp / "params.json", params)
        write_json(tmp / "datasets.json", datasets)
        write_json(tmp / "archive.json", {"version": ARCHIVE_VERSION, "format": "machamp-lite"})
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def refuse_pickles(path: Path) -> None:
    for file in path.rglob("*"):
        if file.suffix in PICKLE_SUFFIXES and file.is_file():
            raise ModelLoadError(
                f"{file}: model directories may not contain pickle files ({file.suffix}); "
                "machamp-lite loads weights only from safetensors. Remove the file if you trust "
                "the rest of the directory."
            )


def _read_json(path: Path, valid) -> dict[str, Any]:
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
        raise ModelLoadError(
            f"{path}: not what machamp-lite writes there; the model directory is damaged: copy "
            "it again or retrain"
        )
    return value


def load_archive(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """(model, params, datasets, vocabularies, tasks) from an archive directory."""
    from safetensors.torch import load_model
    from transformers import AutoConfig

    from .modules.encoder import load_tokenizer

    root = Path(path)
    if not (root / "archive.json").is_file() or not (root / WEIGHTS).is_file():
        raise ModelLoadError(
            f"{root}: not a machamp-lite model directory (expected archive.json and {WEIGHTS}); "
            "pass the 'model' folder inside a training run directory"
        )
    refuse_pickles(root)
    params = _read_json(root / "params.json", lambda v: True)
    datasets = _read_json(
        root / "datasets.json",
        lambda v: all(isinstance(d, dict) and {"name", "source", "tasks"} <= set(d) for d in v),
    )
    vocabularies = {
        task: LabelVocabulary(labels)
        for task, labels in _read_json(
            root / "vocabularies.json",
            lambda v: all(isinstance(x, list) and all(isinstance(y, str) for y in x) for x in v),
        ).items()
    }
    # Decoders and readers from other packages register when their modules are imported.
    import_plugin_modules(params.get("plugins", []), f"{root / 'params.json'}")
    for dataset in datasets.values():
        import_plugin_modules(dataset.get("plugins", []), f"{root / 'datasets.json'}")
    tasks: dict[str, TaskSpec] = collect_tasks(datasets)
    encoder_dir = root / ENCODER_DIR
    if not (encoder_dir / "config.json").is_file():
        raise ModelLoadError(
            f"{encoder_dir}: missing (the encoder's config.json and tokenizer); the model "
            "directory is incomplete: copy it again or retrain"
        )
    tokenizer = load_tokenizer(str(encoder_dir))
    config = AutoConfig.from_pretrained(str(encoder_dir))
    model = build_model(
        params, tasks, vocabularies, pretrained=False, tokenizer=tokenizer, model_config=config
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
