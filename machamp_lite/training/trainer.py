"""The generic multi-task trainer: it runs epochs and optimizer steps, sums the task losses,
scores the dev sets and keeps track of the best epoch by the summed dev metric. It knows tasks
only through the decoder interface, their label codecs and the metric registry; files, logs
and memory reports hang off it as callbacks (callbacks.py), and run.py builds what it needs."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from tqdm import tqdm

from ..data.batching import epoch_schedule, make_batches
from ..decoders.base import Decoder
from ..errors import DataError, MachampError
from ..model import MultiTaskModel, TaskSpec
from ..predict import move, predict_encoded
from ..registry import metrics
from .callbacks import Callback, Predictions
from .checkpoint import latest_checkpoint, random_states, restore_random_states
from .distributed import DistributedContext, wrap_data_parallel
from .optimization import build_optimizer, build_scheduler
from .selection import summed_score
from .splits import DatasetSplit

if TYPE_CHECKING:
    from torch.nn.parallel import DistributedDataParallel

Batch = tuple[str, list[int]]  # a dataset name and the indices of its sentences


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
        self.batch_size = int(batching["batch_size"])
        self.max_tokens = int(batching["max_tokens"])
        self.alpha = float(batching.get("sampling_smoothing", 1.0))
        self.num_epochs = int(training["num_epochs"])
        self.grad_clip = float(training.get("grad_clip") or 0.0)
        self.accumulation_steps = max(1, int(training.get("accumulation_steps", 1)))
        self.precision = training.get("precision", "fp32")
        self.train_metrics_on = bool(training.get("train_metrics"))
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        self.network = wrap_data_parallel(model, device, self.context, len(tasks) > 1)
        self.optimizer = build_optimizer(model, training["optimizer"])
        steps_per_epoch = len(self.step_groups(self._epoch_batches()))
        self.scheduler = build_scheduler(
            self.optimizer, steps_per_epoch * self.num_epochs, training["learning_rate_scheduler"]
        )
        self.history: list[dict[str, Any]] = []
        self.best_sum: float | None = None
        self.improved = False
        self.completed_epochs = 0
        self.steps = 0
        self.train_metrics: dict[str, Any] | None = None

    def autocast(self):
        """Mixed precision for the forward pass; the CRF and the losses compute in fp32+."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

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
        per_dataset = {
            name: make_batches(split.lengths, self.batch_size, self.max_tokens, self.rng)
            for name, split in self.train_splits.items()
        }
        return epoch_schedule(per_dataset, self.alpha, self.rng)

    def step_groups(self, schedule: list[Batch]) -> list[list[Batch]]:
        """Split an epoch's batches into optimizer steps of ``world_size x accumulation_steps``
        batches each; the last step takes what is left."""
        size = self.context.world_size * self.accumulation_steps
        return [schedule[i : i + size] for i in range(0, len(schedule), size)]

    def _gold(self, split: DatasetSplit, batch: list[int], num_words: int) -> dict:
        return {
            task: split.codecs[task]
            .to_tensor(
                cast(Decoder, self.model.decoders[task]).vocabulary,
                [split.targets[task][i] for i in batch],
                num_words,
            )
            .to(self.device)
            for task in split.tasks
        }

    def compute_gradients(self, group: list[Batch]) -> dict[str, tuple[float, int]]:
        """Forward and backward for this rank's share of one optimizer step.

        Each batch's loss (a mean over its sentences) is weighted by its share of the step's
        sentences over all ranks, so the accumulated (and DDP-averaged) gradient equals that of
        one big batch holding them all. A rank with no batch left runs one with weight 0, so
        every rank takes part in each gradient all-reduce."""
        world = self.context.world_size
        total = sum(len(batch) for _, batch in group)
        mine = group[self.context.rank :: world]
        weights = [world * len(batch) / total for _, batch in mine]
        if not mine:
            mine, weights = [group[0]], [0.0]
        losses: dict[str, tuple[float, int]] = {}
        for position, ((dataset, batch), weight) in enumerate(zip(mine, weights)):
            split = self.train_splits[dataset]
            inputs = self.model.encoder.collate([split.encoded[i] for i in batch], self.max_tokens)
            gold = self._gold(split, batch, inputs["word_mask"].shape[1])
            sync: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            if self.context.active and position < len(mine) - 1:
                # Active: the network is DDP. All-reduce once, after the last batch.
                sync = cast("DistributedDataParallel", self.network).no_sync()
            try:
                with sync:
                    with self.autocast():
                        loss, task_losses = self.network(move(inputs, self.device), gold)
                    if not torch.isfinite(loss):
                        self.report_non_finite(loss, split, batch)
                    self.scaler.scale(loss * weight).backward()
            except torch.OutOfMemoryError:
                self.report_out_of_memory(split, inputs)
            if weight > 0 and self.train_metrics is not None:
                self.score_training_batch(split, batch, inputs)
            if weight > 0:
                for task, value in task_losses.items():
                    summed, count = losses.get(task, (0.0, 0))
                    losses[task] = (summed + value.item() * len(batch), count + len(batch))
        return losses

    def score_training_batch(self, split: DatasetSplit, batch: list[int], inputs: dict) -> None:
        """Decode a training batch for a training score: only when training.train_metrics is
        on, since decoding (Viterbi for a CRF) every step costs time and trains nothing."""
        assert self.train_metrics is not None
        self.model.eval()
        with torch.no_grad(), self.autocast():
            predicted = self.model.predict(move(inputs, self.device), split.tasks)
        self.model.train()
        for task in split.tasks:
            key = f"{split.name}/{task}"
            if key not in self.train_metrics:
                self.train_metrics[key] = metrics.get(self.tasks[task].metric)()
            words = [split.sentences[i].words for i in batch]
            restore = split.codecs[task].targets_to_labels
            self.train_metrics[key].update(
                [split.sentences[i].labels[task] for i in batch],
                [restore(w, p) for w, p in zip(words, predicted[task])],
            )

    def report_out_of_memory(self, split: DatasetSplit, inputs: dict) -> None:
        rows, width = inputs["input_ids"].shape
        raise MachampError(
            f"out of memory on {self.device} in a training batch of dataset {split.name!r}: "
            f"{inputs['word_mask'].shape[0]} sentences, {rows} x {width} subword positions "
            f"(batching.max_tokens {self.max_tokens}, batching.batch_size {self.batch_size}). "
            "Lower batching.max_tokens or batching.batch_size (with training.accumulation_steps "
            "to keep the effective batch), or use training.precision bf16, "
            "encoder.gradient_checkpointing or encoder.freeze_embeddings."
        )

    def report_non_finite(self, loss: torch.Tensor, split: DatasetSplit, batch: list[int]):
        ids = [s.sent_id or f"line {s.first_line}" for s in (split.sentences[i] for i in batch)]
        last = latest_checkpoint(self.run_dir)
        kept = (
            f"the last checkpoint ({last.name}) is kept"
            if last is not None
            else "there is no checkpoint yet (no epoch finished), so nothing was saved"
        )
        raise DataError(
            f"the training loss became {loss.item()} on a batch of dataset {split.name!r} "
            f"(sentences {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}); training "
            f"stopped and {kept}. Lower the learning rate, use training.precision fp32, or "
            "check these sentences",
            split.path,
        )

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
        tasks = sorted(self.tasks)
        flat = self.context.sum([totals.get(t, [0.0, 0])[i] for t in tasks for i in (0, 1)])
        per_task = {
            t: flat[2 * k] / flat[2 * k + 1] for k, t in enumerate(tasks) if flat[2 * k + 1] > 0
        }
        record = {
            "train_loss": sum(per_task.values()),
            "train_loss_per_task": per_task,
            "train_sentences": sum(len(batch) for group in groups for _, batch in group),
            "optimizer_steps": len(groups),
        }
        if self.train_metrics is not None:
            record["train"] = {key: m.compute() for key, m in self.train_metrics.items()}
        return record

    def evaluate(self) -> tuple[dict[str, dict], Predictions]:
        """Predict every dev set and score each dataset/task with its metric."""
        scores: dict[str, dict] = {}
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
                )
            predicted: dict[str, list] = {
                task: [None] * len(split.sentences) for task in split.tasks
            }
            for part, shard_of_rank in enumerate(self.context.gather(shard)):
                for task, values in shard_of_rank.items():
                    predicted[task][part::world] = values
            predictions[split.name] = predicted
            for task in split.tasks:
                metric = metrics.get(self.tasks[task].metric, where=f"task {task!r} metric")()
                metric.update([s.labels[task] for s in split.sentences], predicted[task])
                scores[f"{split.name}/{task}"] = metric.compute()
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
