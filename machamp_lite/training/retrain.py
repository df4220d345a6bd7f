"""Starting a run from an earlier machamp-lite model: MaChAmp's ``--retrain`` (and, through it,
``--sequential``).

MaChAmp's ``--retrain MODEL`` takes the encoder of a trained MaChAmp model instead of the
pretrained transformer and trains new decoders on it. Here the earlier model is a machamp-lite
archive (``RUN/model``); its encoder is written out as an ordinary transformer folder inside the
new run (``RUN/start_encoder``) and becomes that run's ``transformer_model``, so the run is
self-contained: it resumes, and its own archive is complete, without the earlier one. Decoders
are kept too where a task of the same name and type has the same labels in the same order (a
decoder's rows are its labels: with other labels its weights would mean other things); every
other decoder starts fresh, as in MaChAmp.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MachampError

logger = logging.getLogger("machamp_lite")
START_ENCODER_DIR = "start_encoder"


def export_archive_encoder(archive: str | Path, scratch_root: Path, allow_plugins=()) -> tuple:
    """Write the archive's encoder (weights, config, tokenizer) to a new folder under
    ``scratch_root``; returns (folder, the archive's model, its vocabularies, its tasks)."""
    from ..archive import failed_write, load_archive

    model, _, _, vocabularies, tasks = load_archive(archive, "cpu", allow_plugins)
    encoder = model.encoder
    folder = None
    try:
        scratch_root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".retrain-", dir=scratch_root))
        encoder.transformer.save_pretrained(folder)
        encoder.save_tokenizer(folder)
    except BaseException as error:
        # A full disk or a signal mid-write leaves no half-written copy behind.
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if failed_write(error):  # OSError, or safetensors' own error for one
            raise MachampError(
                f"--retrain {archive}: cannot write a copy of its encoder under {scratch_root} "
                f"({getattr(error, 'strerror', None) or error}); free space there or choose "
                "another --output_dir"
            ) from None
        raise
    return folder, model, vocabularies, tasks


def keep_matching_decoders(
    model: Any,
    previous: Any,
    vocabularies: dict[str, Any],
    previous_vocabularies: dict[str, Any],
    tasks: dict[str, Any],
    previous_tasks: dict[str, Any],
) -> list[str]:
    """Copy into ``model`` the weights of ``previous``'s decoders whose task name, type and
    label list match; returns the tasks kept."""
    kept = []
    for name, spec in tasks.items():
        old = previous_tasks.get(name)
        if old is None or old.task_type != spec.task_type:
            continue
        if list(previous_vocabularies[name].labels) != list(vocabularies[name].labels):
            logger.info("retrain: task %r has other labels than before; a new decoder", name)
            continue
        new_state = model.decoders[name].state_dict()
        old_state = previous.decoders[name].state_dict()
        if {k: v.shape for k, v in new_state.items()} != {k: v.shape for k, v in old_state.items()}:
            logger.info("retrain: task %r has another decoder shape; a new decoder", name)
            continue
        model.decoders[name].load_state_dict(old_state)
        kept.append(name)
    return kept


def place_start_encoder(folder: Path, run_dir: Path, params: dict[str, Any]) -> None:
    """Move the exported encoder into the run directory and point the run's
    ``transformer_model`` at it, so that ``params.json`` names a folder that stays."""
    target = run_dir / START_ENCODER_DIR
    shutil.move(str(folder), str(target))
    params["transformer_model"] = str(target.resolve())


def check_retrain_source(path: str | Path) -> None:
    root = Path(path)
    if not root.is_dir():
        raise ConfigError(
            f"--retrain {path}: no such model folder; give the 'model' folder of an earlier "
            "machamp-lite run"
        )
