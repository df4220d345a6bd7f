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
        encoder.tokenizer.save_pretrained(tmp / ENCODER_DIR)
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
    params = json.loads((root / "params.json").read_text(encoding="utf-8"))
    datasets = json.loads((root / "datasets.json").read_text(encoding="utf-8"))
    vocabularies = {
        task: LabelVocabulary(labels)
        for task, labels in json.loads(
            (root / "vocabularies.json").read_text(encoding="utf-8")
        ).items()
    }
    tasks: dict[str, TaskSpec] = collect_tasks(datasets)
    encoder_dir = root / ENCODER_DIR
    tokenizer = load_tokenizer(str(encoder_dir))
    config = AutoConfig.from_pretrained(str(encoder_dir))
    model = build_model(
        params, tasks, vocabularies, pretrained=False, tokenizer=tokenizer, model_config=config
    )
    missing, unexpected = load_model(model, str(root / WEIGHTS), strict=False)
    if missing or unexpected:
        raise ModelLoadError(
            f"{root / WEIGHTS}: weights do not match the model described by params.json "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    model.to(device)
    model.eval()
    return model, params, datasets, vocabularies, tasks
