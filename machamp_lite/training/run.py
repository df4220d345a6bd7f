"""The run pipeline: configs -> datasets -> vocabularies -> model -> trainer, in a run directory
of its own, or continued from an interrupted run's last checkpoint. ``train`` is the library's
entry point (``machamp_lite.train``) and what ``machamp-lite train`` calls."""

from __future__ import annotations

import datetime
import json
import logging
import random
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..calibration import calibrate_after_training
from ..config import (
    Problems,
    check_run_name,
    check_task_components,
    load_configs,
    validate_dataset,
    validate_params,
    write_json,
)
from ..devices import describe_device, resolve_device
from ..errors import ConfigError, Terminated
from ..model import build_model, collect_tasks
from ..registry import import_allowed_plugins
from .callbacks import Callback, standard_callbacks
from .checkpoint import latest_checkpoint, load_checkpoint
from .distributed import init_distributed, shutdown_distributed
from .retrain import (
    check_retrain_source,
    export_archive_encoder,
    keep_matching_decoders,
    place_start_encoder,
)
from .splits import build_vocabularies, encode_splits, read_splits, warn_unseen_labels
from .trainer import Trainer

logger = logging.getLogger("machamp_lite")


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def setup_logging(run_dir: Path) -> logging.Handler:
    """The run's own ``train.log``, and the console when nothing else logs there yet."""
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if not any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        for h in logger.handlers
    ):
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    return handler


def make_run_dir(output_dir: str, name: str | None) -> Path:
    """A new folder ``OUTPUT_DIR/NAME/TIMESTAMP`` (numbered when two runs start in a second)."""
    if name is not None:
        check_run_name(name)
    stamp = datetime.datetime.now().strftime("%Y.%m.%d_%H.%M.%S")
    run_dir = Path(output_dir) / (name or "run") / stamp
    suffix = 1
    while run_dir.exists():
        run_dir = Path(output_dir) / (name or "run") / f"{stamp}_{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    return run_dir


def make_fixed_run_dir(path: str | Path) -> Path:
    """The run directory the caller chose (``experiment`` does); it must be new or empty."""
    run_dir = Path(path)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(
            f"{run_dir}: the run directory exists and is not empty; resume it "
            "with --resume or choose another"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def resolved_configs(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The configs a run was started with (checked by ``check_resolved_configs``)."""
    try:
        params = json.loads((run_dir / "params.json").read_text(encoding="utf-8"))
        datasets = json.loads((run_dir / "datasets.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{run_dir}: not a resumable run directory (params.json and datasets.json are "
            f"written when a run starts): {error}"
        ) from None
    return params, datasets


def check_resolved_configs(run_dir: Path, params: Any, datasets: Any) -> None:
    """A run directory may come from someone else: its configs pass the checks a user's do
    (names, keys, types, tasks and their components), so that, e.g., a dataset named "../x"
    cannot make dev predictions land outside the run, and a damaged file is one error."""
    validate_params(params, str(run_dir / "params.json"))
    where = str(run_dir / "datasets.json")
    if not isinstance(datasets, dict) or not all(isinstance(d, dict) for d in datasets.values()):
        raise ConfigError(f"{where}: expected an object of datasets")
    problems = Problems()
    for name, dataset in datasets.items():
        if not (isinstance(dataset.get("name"), str) and isinstance(dataset.get("source"), str)):
            problems.add(f"{where}, dataset {name!r}: not what machamp-lite writes there")
        written = {k: v for k, v in dataset.items() if k not in ("name", "source")}
        validate_dataset(name, written, where, None, problems)
    problems.raise_if_any()


def _import_plugins(
    params: dict, datasets: dict, params_source: str | None, allowed: Iterable[str], owner: str
) -> None:
    needed = [(m, params_source or "the parameters") for m in params.get("plugins") or []]
    for dataset in datasets.values():
        needed += [(m, dataset["source"]) for m in dataset.get("plugins") or []]
    import_allowed_plugins(
        needed,
        allowed,
        owner,
        "pass --plugins {modules} to machamp-lite train or experiment, or "
        "allow_plugins={module_list} to machamp_lite.train",
    )


def train(
    dataset_configs: list[str] | None = None,
    parameters_config: str | None = None,
    name: str | None = None,
    output_dir: str = "logs",
    device: str | None = None,
    seed: int | None = None,
    data_dir: str | None = None,
    overrides: list[str] | None = None,
    threads: int | None = None,
    resume: str | None = None,
    run_dir: str | None = None,
    allow_plugins: Iterable[str] = (),
    callbacks: Sequence[Callback] = (),
    retrain: str | None = None,
) -> Path:
    """Train a model from config files and return the run directory (``RUN/model`` is the
    archive, ``RUN/metrics.json`` the per-epoch report). With ``resume=RUN_DIR`` an interrupted
    run continues from its last complete checkpoint, with the configs it was started with.
    Plugin modules that the configs list are imported only when named in ``allow_plugins``
    (``--plugins``), or already imported. ``callbacks`` run after the built-in ones.
    ``retrain=MODEL_DIR`` starts from an earlier run's model (``training/retrain.py``)."""
    for position, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{position}]: expected an instance of a subclass of "
                f"machamp_lite.training.callbacks.Callback, got {type(callback).__name__}"
            )
    checkpoint = None
    if retrain is not None:
        if resume:
            raise ConfigError("--retrain starts a new run and --resume continues one: give one")
        check_retrain_source(retrain)
    if resume:
        previous = Path(resume)
        params, datasets = resolved_configs(previous)
        checkpoint = latest_checkpoint(previous)
        if checkpoint is None:
            raise ConfigError(f"{previous}: no complete checkpoint to resume from; start a new run")
        check_resolved_configs(previous, params, datasets)
        _import_plugins(params, datasets, str(previous / "params.json"), allow_plugins, resume)
    else:
        if not dataset_configs:
            raise ConfigError("give --dataset_configs (or --resume RUN_DIR)")
        params, datasets = load_configs(dataset_configs, parameters_config, overrides, data_dir)
        params["random_seed"] = params["random_seed"] if seed is None else seed
        _import_plugins(params, datasets, parameters_config, allow_plugins, "this run")
    # Names that plugin modules register were left unchecked when the configs were read.
    check_task_components(datasets)
    tasks = collect_tasks(datasets)
    if threads:
        torch.set_num_threads(threads)
    set_seed(params["random_seed"])
    context = init_distributed(device)
    torch_device = resolve_device(device, context.local_rank if context.active else None)
    train_splits, dev_splits = read_splits(datasets)
    vocabularies = build_vocabularies(tasks, train_splits)
    # Build the model before the run directory exists, so a model that cannot be loaded leaves
    # nothing behind.
    start = None
    if retrain is not None:
        if context.active:
            raise ConfigError("--retrain is not available with --nproc above 1 yet")
        start = export_archive_encoder(retrain, Path(output_dir), allow_plugins)
        params["transformer_model"] = str(start[0])
    try:
        model = build_model(params, tasks, vocabularies)
        kept: list[str] = []
        if start is not None:
            kept = keep_matching_decoders(model, start[1], vocabularies, start[2], tasks, start[3])
        if checkpoint is not None:
            folder = Path(str(resume))
        else:
            made = None
            if context.is_main:
                made = make_fixed_run_dir(run_dir) if run_dir else make_run_dir(output_dir, name)
            folder = context.broadcast(made)
    except BaseException:
        # The exported encoder has no run directory to move into: remove it.
        if start is not None:
            shutil.rmtree(start[0], ignore_errors=True)
        raise
    handler = setup_logging(folder) if context.is_main else None
    try:
        if start is not None:
            place_start_encoder(start[0], folder, params)
            logger.info("retrain from %s: its encoder, and the decoders of %s", retrain, kept)
        if checkpoint is None and context.is_main:
            write_json(folder / "params.json", params)
            write_json(folder / "datasets.json", datasets)
        logger.info("run directory %s, device %s", folder, describe_device(torch_device))
        warn_unseen_labels(dev_splits, vocabularies)
        encode_splits(model.encoder, train_splits + dev_splits)
        # Every sentence is encoded now; archives copy the tokenizer from the run directory.
        model.encoder.release_tokenizer(folder if context.is_main else None)
        model.to(torch_device)
        trainer = Trainer(
            model,
            params,
            tasks,
            train_splits,
            dev_splits,
            folder,
            torch_device,
            params["random_seed"],
            context,
            [*standard_callbacks(folder, params, datasets, vocabularies), *callbacks],
        )
        if checkpoint is not None:
            trainer.restore(load_checkpoint(checkpoint, model))
            logger.info("resumed from %s (epoch %d done)", checkpoint, trainer.completed_epochs)
        trainer.fit()
        del trainer  # its optimizer state is not needed to calibrate the saved model
        if context.is_main:
            calibrate_after_training(folder, params, datasets, torch_device, allow_plugins)
    except Terminated:
        last = latest_checkpoint(folder) if context.is_main else None
        if last is None:
            raise Terminated(f"no epoch of {folder} finished, so there is no checkpoint") from None
        raise Terminated(
            f"continue from {last.name} with machamp-lite train --resume {folder}"
        ) from None
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
        shutdown_distributed(context)
        model.encoder.discard_released_tokenizer()
    return folder


def train_sequential(dataset_configs: list[str], name: str | None = None, **settings) -> list[Path]:
    """MaChAmp's ``--sequential``: one run per dataset config, in the order given, each starting
    from the previous run's model (``retrain``); runs are named ``NAME.0``, ``NAME.1``, ... as
    MaChAmp names them. Returns the run directories; the last one holds the final model."""
    if not dataset_configs:
        raise ConfigError("give --dataset_configs: --sequential trains on them one after another")
    if settings.get("resume"):
        raise ConfigError("--sequential starts new runs; resume one of them with --resume alone")
    base = name or ".".join(Path(config).stem for config in dataset_configs)
    runs: list[Path] = []
    for position, config in enumerate(dataset_configs):
        previous = str(runs[-1] / "model") if runs else settings.pop("retrain", None)
        runs.append(train([config], name=f"{base}.{position}", retrain=previous, **settings))
    return runs
