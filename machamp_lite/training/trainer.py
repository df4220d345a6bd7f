"""The generic multi-task trainer: it runs epochs and optimizer steps, sums the task losses,
scores the dev sets and keeps track of the best epoch by the summed dev metric. It knows tasks
only through the decoder interface, their label codecs and the metric registry; files, logs
and memory reports hang off it as callbacks (callbacks.py), and run.py builds what it needs."""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from tqdm import tqdm

from ..devices import move
from ..metrics.task_scores import TrainingLabels, score_task
from ..model import MultiTaskModel, TaskSpec
from ..modules.bit_dropout import use_bit_dropout
from ..precision import autocast, resolve_precision, slow_precision_note
from ..predict import predict_encoded
from .batches import (
    Batch,
    BatchingOptions,
    PreparedBatch,
    epoch_batches,
    non_finite_error,
    out_of_memory_error,
    prepare_batch,
    score_batch,
)
from .callbacks import Callback, Predictions
from .checkpoint import latest_checkpoint, random_states, restore_random_states
from .distributed import DistributedContext, wrap_data_parallel
from .optimization import build_optimizer, build_scheduler, freezes_encoder
from .selection import summed_score
from .splits import DatasetSplit

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel


class Trainer:
    """Trains a MultiTaskModel on the train splits and selects the epoch on the dev splits."""

    def __init__(
        self,
        model: MultiTaskModel,
        params: dict[str, Any],
        tasks: dict[str, TaskSpec],
        train: list[DatasetSplit],
        dev: list[DatasetSplit],
        run_dir: Path,
        device: torch.device,
        seed: int,
        context: DistributedContext | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.context = context or DistributedContext()
        self.model = model
        self.params = params
        self.tasks = tasks
        self.train_splits = {s.name: s for s in train}
        self.dev = dev
        self.run_dir = run_dir
        self.device = device
        self.callbacks = list(callbacks)
        self.rng = random.Random(seed)
        batching, training = params["batching"], params["training"]
        self.batching = BatchingOptions.from_params(batching)
        self.num_epochs = int(training["num_epochs"])
        self.grad_clip = float(training.get("grad_clip") or 0.0)
        self.accumulation_steps = max(1, int(training.get("accumulation_steps", 1)))
        setting = training.get("precision", "fp32")
        self.precision = resolve_precision(setting, device)
        if setting != self.precision:
            logger.info("training.precision %s: %s on this %s", setting, self.precision, device)
        if note := slow_precision_note(self.precision, device):
            logger.warning(note)
        self.train_metrics_on = bool(training.get("train_metrics"))
        if training.get("bit_dropout") and device.type == "cpu":
            # same p, cheaper masks on a CPU (docs/performance.md); a GPU's dropout is fused
            use_bit_dropout(model)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        # Unused parameters (DDP must not wait for their gradients): other tasks' decoders, or
        # the encoder while gradual unfreezing holds it in the first epoch.
        self.network = wrap_data_parallel(
            model,
            device,
            self.context,
            len(tasks) > 1 or freezes_encoder(training["learning_rate_scheduler"]),
        )
        self.optimizer = build_optimizer(model, training["optimizer"])
        steps_per_epoch = len(self.step_groups(self._epoch_batches()))
        self.scheduler = build_scheduler(
            self.optimizer, training["learning_rate_scheduler"], steps_per_epoch, self.num_epochs
        )
        self.history: list[dict[str, Any]] = []
        self.best_sum: float | None = None
        self.improved = False
        self.completed_epochs = 0
        self.steps = 0
        self.train_metrics: dict[str, Any] | None = None

    def autocast(self):
        """Mixed precision for the forward pass; the CRF and the losses compute in fp32+."""
        return autocast(self.precision, self.device)

    def training_state(self) -> dict[str, Any]:
        """Everything besides the weights that an exact resume needs."""
        return {
            "epoch": self.completed_epochs,
            "steps": self.steps,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "random": random_states(self.rng),
            "history": self.history,
            "best_sum": self.best_sum,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_random_states(state["random"], self.rng)
        self.history = list(state["history"])
        self.best_sum = state["best_sum"]
        self.completed_epochs = int(state["epoch"])
        self.steps = int(state["steps"])

    def _epoch_batches(self) -> list[Batch]:
        return epoch_batches(self.train_splits, self.batching, self.rng)

    def step_groups(self, schedule: list[Batch]) -> list[list[Batch]]:
        """Split an epoch's batches into optimizer steps of ``world_size x accumulation_steps``
        batches each; the last step takes what is left."""
        size = self.context.world_size * self.accumulation_steps
        return [schedule[i : i + size] for i in range(0, len(schedule), size)]

    def compute_gradients(self, group: list[Batch]) -> dict[str, tuple[float, int]]:
        """Forward and backward for this rank's share of one optimizer step.

        Each batch's loss (a mean over its sentences) is weighted by its share of the step's
        sentences over all ranks, so the accumulated (and DDP-averaged) gradient equals that of
        one big batch holding them all. A rank with no batch left runs one with weight 0, so
        every rank takes part in each gradient all-reduce. Returns each task's loss summed over
        the sentences that carry it, and their number."""
        world = self.context.world_size
        total = sum(len(batch) for batch in group)
        mine = group[self.context.rank :: world]
        weights = [world * len(batch) / total for batch in mine]
        if not mine:
            mine, weights = [group[0]], [0.0]
        losses: dict[str, tuple[float, int]] = {}
        for position, (batch, weight) in enumerate(zip(mine, weights)):
            prepared = prepare_batch(
                self.model, self.train_splits, batch, self.batching.max_tokens, self.device
            )
            # Rows that carry only some of the tasks are named; a batch of one dataset passes
            # nothing more, as before diverse batches.
            extra = () if prepared.task_rows is None else (prepared.task_rows,)
            sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if self.context.active and position < len(mine) - 1:
                # Active: the network is DDP. All-reduce once, after the last batch.
                sync = cast("DistributedDataParallel", self.network).no_sync()
            try:
                with sync:
                    inputs = move(prepared.inputs, self.device)
                    with self.autocast():
                        loss, task_losses = self.network(inputs, prepared.gold, *extra)
                    if not torch.isfinite(loss):
                        self.report_non_finite(loss, prepared)
                    self.scaler.scale(loss * weight).backward()
            except torch.OutOfMemoryError:
                raise out_of_memory_error(prepared, self.device, self.batching) from None
            if weight > 0 and self.train_metrics is not None:
                self.score_training_batch(prepared, inputs)
            if weight > 0:
                for task, value in task_losses.items():
                    summed, count = losses.get(task, (0.0, 0))
                    rows = prepared.task_sentences[task]
                    losses[task] = (summed + value.item() * rows, count + rows)
        return losses

    def score_training_batch(self, prepared: PreparedBatch, inputs: dict) -> None:
        """Decode a training batch for a training score: only when training.train_metrics is
        on, since decoding (Viterbi for a CRF) every step costs time and trains nothing."""
        assert self.train_metrics is not None
        self.model.eval()
        with torch.no_grad(), self.autocast():
            metric_names = {task: spec.metric for task, spec in self.tasks.items()}
            labels = TrainingLabels(self.train_splits.values())
            score_batch(self.model, prepared, inputs, self.train_metrics, metric_names, labels)
        self.model.train()

    def report_non_finite(self, loss: torch.Tensor, prepared: PreparedBatch):
        last = latest_checkpoint(self.run_dir)
        kept = (
            f"the last checkpoint ({last.name}) is kept"
            if last is not None
            else "there is no checkpoint yet (no epoch finished), so nothing was saved"
        )
        raise non_finite_error(loss, prepared, kept)

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        self.network.train()
        groups = self.step_groups(self._epoch_batches())
        self.train_metrics = {} if self.train_metrics_on else None
        totals: dict[str, list[float]] = {}
        main = self.context.is_main
        description = f"epoch {epoch}/{self.num_epochs}"
        for group in tqdm(
            groups, desc=description, unit="step", disable=None if main else True, leave=False
        ):
            self.optimizer.zero_grad(set_to_none=True)
            losses = self.compute_gradients(group)
            self.scaler.unscale_(self.optimizer)
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.steps += 1
            for callback in self.callbacks:
                callback.on_step_end(self)
            for task, (summed, count) in losses.items():
                entry = totals.setdefault(task, [0.0, 0])
                entry[0] += summed
                entry[1] += count
        self.scheduler.end_epoch()  # MaChAmp's epoch-level schedule: unfreezing, epoch lengths
        tasks = sorted(self.tasks)
        flat = self.context.sum([totals.get(t, [0.0, 0])[i] for t in tasks for i in (0, 1)])
        per_task = {
            t: flat[2 * k] / flat[2 * k + 1] for k, t in enumerate(tasks) if flat[2 * k + 1] > 0
        }
        record = {
            "train_loss": sum(per_task.values()),
            "train_loss_per_task": per_task,
            "train_sentences": sum(len(batch) for group in groups for batch in group),
            "optimizer_steps": len(groups),
        }
        if self.train_metrics is not None:
            record["train"] = {key: m.compute() for key, m in self.train_metrics.items()}
        return record

    def evaluate(self) -> tuple[dict[str, dict], Predictions]:
        """Predict every dev set and score each dataset/task with its metric (its additional
        metrics beside it: metrics/task_scores.py)."""
        scores: dict[str, dict] = {}
        training_labels = TrainingLabels(self.train_splits.values())
        predictions: Predictions = {}
        prediction = self.params.get("prediction", {})
        world, rank = self.context.world_size, self.context.rank
        for split in self.dev:
            # Each rank predicts every world_size-th sentence; the shards are gathered so every
            # rank scores the whole dev set exactly as a single process would.
            indices = list(range(rank, len(split.sentences), world))
            with self.autocast():
                shard = predict_encoded(
                    self.model,
                    [split.encoded[i] for i in indices],
                    split.tasks,
                    int(prediction.get("batch_size", 64)),
                    int(prediction.get("max_tokens", 4096)),
                    self.device,
                    [split.sentences[i].words for i in indices],
                    dataset=split.name,
                )
            predicted: dict[str, list] = {
                task: [None] * len(split.sentences) for task in split.tasks
            }
            for part, shard_of_rank in enumerate(self.context.gather(shard)):
                for task, values in shard_of_rank.items():
                    predicted[task][part::world] = values
            predictions[split.name] = predicted
            for task in split.tasks:
                spec = self.tasks[task]
                scores[f"{split.name}/{task}"] = score_task(
                    spec.metric,
                    spec.additional_metrics,
                    [s.labels[task] for s in split.sentences],
                    predicted[task],
                    f"task {task!r}",
                    partial(training_labels, task),
                )
        return scores, predictions

    def fit(self) -> list[dict[str, Any]]:
        """Train the remaining epochs; after each, score dev and hand the epoch's record to the
        callbacks (which keep the best model, write checkpoints and metrics). Returns the
        per-epoch records."""
        for callback in self.callbacks:
            callback.on_fit_start(self)
        for epoch in range(self.completed_epochs + 1, self.num_epochs + 1):
            for callback in self.callbacks:
                callback.on_epoch_start(self, epoch)
            epoch_start = time.time()
            record: dict[str, Any] = {"epoch": epoch, **self.train_epoch(epoch)}
            record["train_seconds"] = time.time() - epoch_start
            record["learning_rate"] = self.scheduler.get_last_lr()[0]
            predictions = None
            record["dev_sum"] = None
            if self.dev:
                eval_start = time.time()
                scores, predictions = self.evaluate()
                record["dev"] = scores
                record["dev_sum"] = summed_score(scores)
                record["dev_seconds"] = time.time() - eval_start
            record["epoch_seconds"] = time.time() - epoch_start
            self.improved = (
                not self.dev or self.best_sum is None or record["dev_sum"] > self.best_sum
            )
            if self.improved:
                self.best_sum = record["dev_sum"]
            self.history.append(record)
            self.completed_epochs = epoch
            for callback in self.callbacks:
                callback.on_epoch_end(self, record, predictions)
            self.context.barrier()
        for callback in self.callbacks:
            callback.on_fit_end(self)
        return self.history
