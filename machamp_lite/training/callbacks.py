"""What hangs off the training loop: the trainer calls these hooks and knows nothing of files,
logs or memory budgets. The built-in callbacks keep the best model and its dev predictions,
write resumable checkpoints, watch memory, and write ``metrics.json`` and the log lines.

A callback of one's own (a fault injected in a test, a progress report to elsewhere) is passed
to ``machamp_lite.train(..., callbacks=[...])``; it runs after the built-in ones. Only the
first process of a data-parallel run writes files: callbacks that write check
``trainer.context.is_main``."""

from __future__ import annotations

import logging
import shutil
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import heap
from ..archive import save_archive
from ..config import write_json
from ..data.vocabulary import LabelVocabulary
from ..devices import describe_device, peak_memory
from ..model import layer_mix_report
from .checkpoint import save_checkpoint
from .dev_predictions import write_dev_predictions
from .selection import best_epoch

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger("machamp_lite")
Predictions = dict[str, dict[str, list[Any]]]  # dataset -> task -> one value per sentence


class Callback:
    """Hooks of the training loop; each does nothing unless overridden."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first remaining epoch (after a resume restored the state)."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before an epoch's first step."""

    def on_step_end(self, trainer: Trainer) -> None:
        """After each optimizer step; ``trainer.steps`` counts them over the whole run."""

    def on_epoch_end(
        self, trainer: Trainer, record: dict[str, Any], predictions: Predictions | None
    ) -> None:
        """After an epoch is scored: ``record`` is its entry of ``trainer.history`` (callbacks
        earlier in the list may have added to it), ``predictions`` the dev predictions (None
        without dev data), and ``trainer.improved`` says whether it is the best so far."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last epoch."""


class MemoryMonitor(Callback):
    """Peak memory per epoch in the record, warnings against ``training.memory_budget_gb``,
    and the CPU heap trimmed after each step (glibc keeps freed activations otherwise)."""

    def __init__(self, budget_gb: float | None):
        self.budget_gb = budget_gb

    def on_fit_start(self, trainer: Trainer) -> None:
        """Warn before training when weights, gradients and AdamW state alone exceed it."""
        parameters = list(trainer.model.parameters())
        weights = sum(p.numel() * p.element_size() for p in parameters)
        trainable = sum(p.numel() * 4 for p in parameters if p.requires_grad)
        estimate = (weights + 3 * trainable) / 2**30  # gradients + two AdamW moments in fp32
        logger.info("weights, gradients and optimizer state need about %.2f GB", estimate)
        if self.budget_gb and estimate > self.budget_gb:
            self.warn(f"weights, gradients and optimizer state alone need about {estimate:.1f} GB")

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if trainer.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(trainer.device)

    def on_step_end(self, trainer: Trainer) -> None:
        if trainer.device.type == "cpu":
            heap.trim()
        # After the first optimizer step every kind of state exists: compare the real peak.
        if trainer.steps == 1 and self.budget_gb:
            peak = self.peak_gb(trainer.device)
            if peak > 0.9 * self.budget_gb:
                self.warn(f"the peak after the first optimizer step is {peak:.1f} GB")

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any], predictions) -> None:
        record.update(peak_memory(trainer.device))

    @staticmethod
    def peak_gb(device: torch.device) -> float:
        """The figure a memory budget is about: peak GPU memory reserved, or peak RSS on CPU."""
        report = peak_memory(device)
        return report.get("peak_gpu_reserved_mb", report["peak_rss_mb"]) / 1024

    def warn(self, finding: str) -> None:
        message = (
            f"{finding}, against a memory budget of {self.budget_gb} GB: the run is likely "
            "to exceed it. Lower batching.max_tokens or batching.batch_size (with "
            "training.accumulation_steps to keep the effective batch), use training.precision "
            "bf16, or freeze the embeddings."
        )
        logger.warning(message)
        warnings.warn(message, stacklevel=2)


class LayerMixReporter(Callback):
    """The softmaxed scalar-mix weights of each task that mixes several layers
    (``layers_to_use``) in the epoch's record, as ``layer_mix``: which layers a task learned to
    read is part of what a run reports (MaChAmp writes them to ``scalars.json``)."""

    def on_epoch_end(self, trainer: Trainer, record, predictions) -> None:
        mixes = layer_mix_report(trainer.model)
        if mixes:
            record["layer_mix"] = mixes


class BestModelSaver(Callback):
    """The archive of the best epoch so far in ``RUN/model``, and its dev predictions in
    ``RUN/dev_predictions``, written by the same writer as ``predict``."""

    def __init__(
        self,
        run_dir: Path,
        params: dict[str, Any],
        datasets: dict[str, Any],
        vocabularies: dict[str, LabelVocabulary],
    ):
        self.run_dir = run_dir
        self.params = params
        self.datasets = datasets
        self.vocabularies = vocabularies

    def on_epoch_end(self, trainer: Trainer, record, predictions: Predictions | None) -> None:
        if not (trainer.improved and trainer.context.is_main):
            return
        model = trainer.model
        save_archive(self.run_dir / "model", model, self.params, self.datasets, self.vocabularies)
        if predictions is not None:
            write_dev_predictions(
                self.run_dir / "dev_predictions", trainer.dev, self.datasets, predictions
            )


class TopModelsKeeper(Callback):
    """MaChAmp's ``training.keep_top_n``: the archives of the n best epochs by dev sum, in
    ``RUN/models/epoch_<N>``, beside ``RUN/model`` (always the best one). With n = 1 (the
    default) ``RUN/model`` is all there is and this keeps nothing more. An archive that falls
    out of the top n is removed once the new one is written, so a crash in between leaves
    n + 1, never fewer than n."""

    def __init__(self, run_dir: Path, params, datasets, vocabularies, keep: int):
        self.run_dir = run_dir
        self.params = params
        self.datasets = datasets
        self.vocabularies = vocabularies
        self.keep = keep

    def on_epoch_end(self, trainer: Trainer, record, predictions) -> None:
        if self.keep <= 1 or not trainer.context.is_main:
            return
        top = self.top_epochs(trainer.history)
        folder = self.run_dir / "models"
        if record["epoch"] in top:
            save_archive(
                folder / f"epoch_{record['epoch']}",
                trainer.model,
                self.params,
                self.datasets,
                self.vocabularies,
            )
        for kept in folder.glob("epoch_*") if folder.is_dir() else ():
            number = kept.name.removeprefix("epoch_")
            if not (number.isdigit() and int(number) in top):
                shutil.rmtree(kept, ignore_errors=True)

    def top_epochs(self, history: list[dict[str, Any]]) -> set[int]:
        """The best ``keep`` epochs; ties go to the earlier epoch, as the best model does;
        without dev data every epoch scores its own number, so the last ones are kept."""

        def score(record: dict[str, Any]) -> float:
            summed = record.get("dev_sum")
            return float(record["epoch"]) if summed is None else float(summed)

        ranked = sorted(history, key=lambda r: (-score(r), r["epoch"]))
        return {record["epoch"] for record in ranked[: self.keep]}


class Checkpointer(Callback):
    """A resumable checkpoint after every epoch (only the newest complete one is kept)."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def on_epoch_end(self, trainer: Trainer, record, predictions) -> None:
        if trainer.context.is_main:
            save_checkpoint(self.run_dir, record["epoch"], trainer.model, trainer.training_state())


class MetricsReporter(Callback):
    """``metrics.json`` after every epoch and at the end, and one log line per epoch."""

    def __init__(self, run_dir: Path, memory_budget_gb: float | None):
        self.run_dir = run_dir
        self.memory_budget_gb = memory_budget_gb
        self.started = time.time()

    def on_fit_start(self, trainer: Trainer) -> None:
        # A resumed run counts the time its finished epochs took before the interruption.
        self.started = time.time() - sum(r.get("epoch_seconds", 0.0) for r in trainer.history)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any], predictions) -> None:
        if trainer.context.is_main:
            self.write(trainer)
            logger.info(describe_epoch(record))

    def on_fit_end(self, trainer: Trainer) -> None:
        summary = self.summary(trainer)
        if trainer.context.is_main:
            write_json(self.run_dir / "metrics.json", summary)
        logger.info(
            "best epoch %s (summed dev score %s); model in %s",
            summary["best_epoch"],
            summary["best_dev_sum"],
            self.run_dir / "model",
        )

    def write(self, trainer: Trainer) -> None:
        write_json(self.run_dir / "metrics.json", self.summary(trainer))

    def summary(self, trainer: Trainer) -> dict[str, Any]:
        history = trainer.history
        best = best_epoch(history)
        if best is None and history:
            best = history[-1]["epoch"]
        best_record = next((r for r in history if r["epoch"] == best), {})
        parameters = list(trainer.model.parameters())
        budget = self.memory_budget_gb
        return {
            "best_epoch": best,
            "best_dev_sum": best_record.get("dev_sum"),
            "best_dev": best_record.get("dev"),
            "epochs": history,
            "training_seconds": time.time() - self.started,
            "device": describe_device(trainer.device),
            "precision": trainer.precision,  # what training.precision "auto" became here
            "parameters": sum(p.numel() for p in parameters),
            "trainable_parameters": sum(p.numel() for p in parameters if p.requires_grad),
            "memory_budget_gb": budget,
            "fits_memory_budget": None
            if not budget
            else MemoryMonitor.peak_gb(trainer.device) <= budget,
            **peak_memory(trainer.device),
        }


def describe_epoch(record: dict[str, Any]) -> str:
    """The log line of one epoch: losses, each task's dev score, the sum and the time."""
    parts = [f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}"]
    for key, result in record.get("dev", {}).items():
        parts.append(f"{key} {result['score']:.4f}")
    if record.get("dev_sum") is not None:
        parts.append(f"sum {record['dev_sum']:.4f}")
    parts.append(f"{record['epoch_seconds']:.1f}s")
    return ", ".join(parts)


def standard_callbacks(
    run_dir: Path,
    params: dict[str, Any],
    datasets: dict[str, Any],
    vocabularies: dict[str, LabelVocabulary],
) -> list[Callback]:
    """The callbacks every run has, in the order they must run after an epoch: the peak memory
    joins the record first; the model is saved before the checkpoint that refers to it."""
    budget = params["training"].get("memory_budget_gb")
    return [
        MemoryMonitor(budget),
        LayerMixReporter(),
        BestModelSaver(run_dir, params, datasets, vocabularies),
        TopModelsKeeper(
            run_dir, params, datasets, vocabularies, int(params["training"].get("keep_top_n", 1))
        ),
        Checkpointer(run_dir),
        MetricsReporter(run_dir, budget),
    ]
