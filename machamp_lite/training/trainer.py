"""The generic multi-task trainer: it knows tasks only through the decoder interface and the
metric registry, sums task losses, and keeps the epoch with the best summed dev metric."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import random
import resource
import shutil
import signal
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .. import heap
from ..archive import save_archive
from ..config import (
    check_name,
    check_run_name,
    load_dataset_configs,
    load_params,
    validate_params,
    write_json,
)
from ..data.batching import epoch_schedule, make_batches
from ..data.dataset import read_dataset_file
from ..data.sentence import Sentence
from ..data.vocabulary import LabelVocabulary
from ..data.writers import write_in_place
from ..errors import ConfigError, DataError, MachampError, Terminated
from ..model import MultiTaskModel, TaskSpec, build_model, collect_tasks
from ..predict import input_length, move, predict_encoded, writer_settings
from ..registry import decoders, import_allowed_plugins, metrics
from .checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    random_states,
    restore_random_states,
    save_checkpoint,
)
from .distributed import DistributedContext, init_distributed, shutdown_distributed
from .optimization import build_optimizer, build_scheduler
from .selection import best_epoch, summed_score

logger = logging.getLogger("machamp_lite")
PRECISIONS = ("fp32", "bf16", "fp16")


# Where training keeps the tokenizer it released (see TransformerEncoder.release_tokenizer).
TOKENIZER_DIR = ".tokenizer"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def pick_device(device: str | None, context: DistributedContext | None = None) -> torch.device:
    if (
        context is not None
        and context.active
        and torch.cuda.is_available()
        and (device is None or device.startswith("cuda"))
    ):
        return torch.device("cuda", context.local_rank)
    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
        try:
            return torch.device(device)
        except RuntimeError:
            raise ConfigError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak process RSS, and on GPU the peak allocated and reserved memory, in MB."""
    report = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        report["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        report["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    return report


class DatasetSplit:
    """The sentences of one dataset file with their subword encodings."""

    def __init__(
        self,
        name: str,
        path: str,
        sentences: list[Sentence],
        tasks: list[str],
        task_types: dict[str, str],
    ):
        self.name = name
        self.path = path
        self.sentences = sentences
        self.tasks = tasks
        self.decoder_classes = {task: decoders.get(task_types[task]) for task in tasks}
        self.encoded: list = []
        self.lengths: list[int] = []
        # What each task's decoder learns per sentence (its gold_to_targets of the labels).
        self.targets: dict[str, list[Any]] = {
            task: [
                decoders.get(task_types[task]).gold_to_targets(s.words, s.labels[task])
                for s in sentences
            ]
            for task in tasks
        }


def setup_logging(run_dir: Path) -> logging.Handler:
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


def build_vocabularies(
    tasks: dict[str, TaskSpec], train: list[DatasetSplit]
) -> dict[str, LabelVocabulary]:
    counts: dict[str, Counter] = {name: Counter() for name in tasks}
    for split in train:
        for task in split.tasks:
            for value in split.targets[task]:
                counts[task].update(split.decoder_classes[task].vocabulary_items(value))
    vocabularies = {}
    for name, spec in tasks.items():
        decoder_class = decoders.get(spec.task_type)
        vocabularies[name] = LabelVocabulary.from_counts(
            counts[name], complete_bio=getattr(decoder_class, "complete_bio", False)
        )
    return vocabularies


def warn_unseen_labels(dev: list[DatasetSplit], vocabularies: dict[str, LabelVocabulary]) -> None:
    """Dev labels never seen in training cannot be predicted: they are scored as wrong."""
    for split in dev:
        for task in split.tasks:
            unseen: Counter = Counter()
            for value in split.targets[task]:
                for label in split.decoder_classes[task].vocabulary_items(value):
                    if label not in vocabularies[task]:
                        unseen[label] += 1
            if unseen:
                message = (
                    f"{split.path}: task {task!r} has labels never seen in training, "
                    f"scored as wrong: {dict(unseen.most_common(5))}"
                )
                logger.warning(message)
                warnings.warn(message, stacklevel=2)


class Trainer:
    """Trains a MultiTaskModel on the train splits and selects the epoch on the dev splits."""

    def __init__(
        self,
        model: MultiTaskModel,
        params: dict[str, Any],
        datasets: dict[str, Any],
        tasks: dict[str, TaskSpec],
        vocabularies: dict[str, LabelVocabulary],
        train: list[DatasetSplit],
        dev: list[DatasetSplit],
        run_dir: Path,
        device: torch.device,
        seed: int,
        context: DistributedContext | None = None,
    ):
        self.context = context or DistributedContext()
        self.model = model
        self.params = params
        self.datasets = datasets
        self.tasks = tasks
        self.vocabularies = vocabularies
        self.train_splits = {s.name: s for s in train}
        self.dev = dev
        self.run_dir = run_dir
        self.device = device
        self.rng = random.Random(seed)
        batching = params["batching"]
        self.batch_size = int(batching["batch_size"])
        self.max_tokens = int(batching["max_tokens"])
        self.alpha = float(batching.get("sampling_smoothing", 1.0))
        training = params["training"]
        self.num_epochs = int(training["num_epochs"])
        self.grad_clip = float(training.get("grad_clip") or 0.0)
        self.accumulation_steps = max(1, int(training.get("accumulation_steps", 1)))
        self.precision = training.get("precision", "fp32")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"training.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision == "fp16")
        self.network = model
        if self.context.active:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            # Tasks of other datasets leave their decoders unused in a step.
            self.network = DistributedDataParallel(
                model, device_ids=ids, find_unused_parameters=len(self.tasks) > 1
            )
        self.optimizer = build_optimizer(model, training["optimizer"])
        steps_per_epoch = len(self.step_groups(self._epoch_batches()))
        self.scheduler = build_scheduler(
            self.optimizer, steps_per_epoch * self.num_epochs, training["learning_rate_scheduler"]
        )
        self.history: list[dict[str, Any]] = []
        self.best_sum: float | None = None
        self.completed_epochs = 0
        self.steps = 0
        # Fault injection for the kill-and-resume test: SIGKILL this process after N steps.
        self.kill_at_step = int(os.environ.get("MACHAMP_LITE_FAULT_KILL_AT_STEP", "0"))
        self.memory_budget_gb = training.get("memory_budget_gb")
        self.train_metrics: dict[str, Any] | None = None
        self.check_static_memory()

    def peak_memory_gb(self) -> float:
        """The figure a memory budget is about: peak GPU memory reserved, or peak RSS on CPU."""
        report = peak_memory(self.device)
        return report.get("peak_gpu_reserved_mb", report["peak_rss_mb"]) / 1024

    def check_static_memory(self) -> None:
        """Warn before training when weights, gradients and AdamW state alone exceed the budget."""
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        trainable = sum(p.numel() * 4 for p in self.model.parameters() if p.requires_grad)
        estimate = (weights + 3 * trainable) / 2**30  # gradients + two AdamW moments in fp32
        logger.info("weights, gradients and optimizer state need about %.2f GB", estimate)
        if self.memory_budget_gb and estimate > self.memory_budget_gb:
            self.warn_memory(
                f"weights, gradients and optimizer state alone need about {estimate:.1f} GB"
            )

    def check_measured_memory(self) -> None:
        """After the first optimizer step every kind of state exists: compare the real peak."""
        if not self.memory_budget_gb:
            return
        peak = self.peak_memory_gb()
        if peak > 0.9 * self.memory_budget_gb:
            self.warn_memory(f"the peak after the first optimizer step is {peak:.1f} GB")

    def warn_memory(self, finding: str) -> None:
        message = (
            f"{finding}, against a memory budget of {self.memory_budget_gb} GB: the run is likely "
            "to exceed it. Lower batching.max_tokens or batching.batch_size (with "
            "training.accumulation_steps to keep the effective batch), use training.precision "
            "bf16, or freeze the embeddings."
        )
        logger.warning(message)
        warnings.warn(message, stacklevel=2)

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

    def _epoch_batches(self) -> list[tuple[str, list[int]]]:
        per_dataset = {
            name: make_batches(split.lengths, self.batch_size, self.max_tokens, self.rng)
            for name, split in self.train_splits.items()
        }
        return epoch_schedule(per_dataset, self.alpha, self.rng)

    def _gold(
        self, split: DatasetSplit, batch: list[int], num_words: int
    ) -> dict[str, torch.Tensor]:
        gold = {}
        for task in split.tasks:
            labels = [split.targets[task][i] for i in batch]
            gold[task] = (
                self.model.decoders[task].labels_to_tensor(labels, num_words).to(self.device)
            )
        return gold

    def step_groups(self, schedule: list) -> list[list]:
        """Split an epoch's batches into optimizer steps of ``world_size x accumulation_steps``
        batches each; the last step takes what is left."""
        size = self.context.world_size * self.accumulation_steps
        return [schedule[i : i + size] for i in range(0, len(schedule), size)]

    def compute_gradients(self, group: list) -> dict[str, tuple[float, int]]:
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
            encoder = self.model.encoder
            inputs = encoder.subwords.build_inputs(
                [split.encoded[i] for i in batch], encoder.pooling
            )
            inputs["max_tokens"] = self.max_tokens  # the encoder chunks a longer sentence
            gold = self._gold(split, batch, inputs["word_mask"].shape[1])
            last = position == len(mine) - 1
            sync = (
                contextlib.nullcontext()
                if last or not self.context.active
                else self.network.no_sync()
            )
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
        self.model.eval()
        with torch.no_grad(), self.autocast():
            predicted = self.model.predict(move(inputs, self.device), split.tasks)
        self.model.train()
        for task in split.tasks:
            decoder = self.model.decoders[task]
            key = f"{split.name}/{task}"
            if key not in self.train_metrics:
                self.train_metrics[key] = metrics.get(self.tasks[task].metric)()
            words = [split.sentences[i].words for i in batch]
            self.train_metrics[key].update(
                [split.sentences[i].labels[task] for i in batch],
                [decoder.targets_to_labels(w, p) for w, p in zip(words, predicted[task])],
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
        self.train_metrics = {} if self.params["training"].get("train_metrics") else None
        totals: dict[str, list[float]] = {}
        progress = tqdm(
            groups,
            desc=f"epoch {epoch}/{self.num_epochs}",
            unit="step",
            disable=None if self.context.is_main else True,
            leave=False,
        )
        for group in progress:
            self.optimizer.zero_grad(set_to_none=True)
            losses = self.compute_gradients(group)
            self.scaler.unscale_(self.optimizer)
            if self.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.steps += 1
            if self.device.type == "cpu":
                heap.trim()
            if self.steps == 1:
                self.check_measured_memory()
            if self.kill_at_step and self.steps == self.kill_at_step:
                os.kill(os.getpid(), signal.SIGKILL)
            for task, (summed, count) in losses.items():
                entry = totals.setdefault(task, [0.0, 0])
                entry[0] += summed
                entry[1] += count
        tasks = sorted(self.tasks)
        flat = self.context.sum([totals.get(t, [0.0, 0])[i] for t in tasks for i in (0, 1)])
        per_task = {
            t: flat[2 * k] / flat[2 * k + 1] for k, t in enumerate(tasks) if flat[2 * k + 1] > 0
        }
        return {
            "train_loss": sum(per_task.values()),
            "train_loss_per_task": per_task,
            "train_sentences": sum(len(batch) for group in groups for _, batch in group),
            "optimizer_steps": len(groups),
            **(
                {"train": {key: m.compute() for key, m in self.train_metrics.items()}}
                if self.train_metrics is not None
                else {}
            ),
        }

    def evaluate(self) -> tuple[dict[str, dict], dict[str, dict[str, list]]]:
        """Predict every dev set and score each dataset/task with its metric."""
        scores: dict[str, dict] = {}
        predictions: dict[str, dict[str, list]] = {}
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
            predicted = {task: [None] * len(split.sentences) for task in split.tasks}
            for part, shard_of_rank in enumerate(self.context.gather(shard)):
                for task, values in shard_of_rank.items():
                    predicted[task][part::world] = values
            predictions[split.name] = predicted
            for task in split.tasks:
                metric = metrics.get(self.tasks[task].metric, where=f"task {task!r} metric")()
                metric.update([s.labels[task] for s in split.sentences], predicted[task])
                scores[f"{split.name}/{task}"] = metric.compute()
        return scores, predictions

    def write_dev_predictions(self, predictions: dict[str, dict[str, list]]) -> None:
        folder = self.run_dir / "dev_predictions"
        for split in self.dev:
            dataset = self.datasets[split.name]
            token_tasks = [t for t in split.tasks if self.model.decoders[t].level == "token"]
            if not token_tasks:
                continue
            columns = {t: dataset["tasks"][t]["column_idx"] for t in token_tasks}
            by_file: dict[str, list[int]] = {}
            for index, sentence in enumerate(split.sentences):
                by_file.setdefault(sentence.source, []).append(index)
            for source, name in dev_output_names(list(by_file)).items():
                indices = by_file[source]
                # One folder per dataset: dev files of different datasets may share a name.
                target = folder / split.name / name
                if folder.resolve() not in target.resolve().parents:  # names are checked at load
                    raise ConfigError(f"dataset {split.name!r}: not a usable folder name")
                write_in_place(
                    source,
                    str(target),
                    [split.sentences[i] for i in indices],
                    {t: [predictions[split.name][t][i] for i in indices] for t in token_tasks},
                    columns,
                    **writer_settings(dataset, source),
                    last_line=split.sentences[indices[-1]].line_numbers[-1]
                    if dataset.get("max_dev_sents", -1) > 0
                    else None,
                )

    def fit(self) -> dict[str, Any]:
        """Train the remaining epochs; after each, score dev, keep the best model and write a
        resumable checkpoint."""
        started = time.time() - sum(r.get("epoch_seconds", 0.0) for r in self.history)
        for epoch in range(self.completed_epochs + 1, self.num_epochs + 1):
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            epoch_start = time.time()
            record: dict[str, Any] = {"epoch": epoch}
            record.update(self.train_epoch(epoch))
            record["train_seconds"] = time.time() - epoch_start
            record["learning_rate"] = self.scheduler.get_last_lr()[0]
            predictions = None
            if self.dev:
                eval_start = time.time()
                scores, predictions = self.evaluate()
                record["dev"] = scores
                record["dev_sum"] = summed_score(scores)
                record["dev_seconds"] = time.time() - eval_start
            else:
                record["dev_sum"] = None
            record["epoch_seconds"] = time.time() - epoch_start
            record.update(peak_memory(self.device))
            improved = not self.dev or self.best_sum is None or record["dev_sum"] > self.best_sum
            if improved:
                self.best_sum = record["dev_sum"]
            self.history.append(record)
            self.completed_epochs = epoch
            if self.context.is_main:  # only rank 0 writes
                if improved:
                    self.save(predictions)
                save_checkpoint(self.run_dir, epoch, self.model, self.training_state())
                self.write_metrics(started)
                logger.info(self.describe(record))
            self.context.barrier()
        summary = self.write_metrics(started, write=self.context.is_main)
        logger.info(
            "best epoch %s (summed dev score %s); model in %s",
            summary["best_epoch"],
            summary["best_dev_sum"],
            self.run_dir / "model",
        )
        return summary

    def save(self, predictions) -> None:
        save_archive(
            self.run_dir / "model", self.model, self.params, self.datasets, self.vocabularies
        )
        if predictions is not None:
            self.write_dev_predictions(predictions)

    def describe(self, record: dict[str, Any]) -> str:
        parts = [f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}"]
        for key, result in record.get("dev", {}).items():
            parts.append(f"{key} {result['score']:.4f}")
        if record.get("dev_sum") is not None:
            parts.append(f"sum {record['dev_sum']:.4f}")
        parts.append(f"{record['epoch_seconds']:.1f}s")
        return ", ".join(parts)

    def write_metrics(self, started: float, write: bool = True) -> dict[str, Any]:
        best = best_epoch(self.history)
        if best is None and self.history:
            best = self.history[-1]["epoch"]
        best_record = next((r for r in self.history if r["epoch"] == best), {})
        total_params = sum(p.numel() for p in self.model.parameters())
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        summary = {
            "best_epoch": best,
            "best_dev_sum": best_record.get("dev_sum"),
            "best_dev": best_record.get("dev"),
            "epochs": self.history,
            "training_seconds": time.time() - started,
            "device": describe_device(self.device),
            "parameters": total_params,
            "trainable_parameters": trainable,
            "memory_budget_gb": self.memory_budget_gb,
            "fits_memory_budget": None
            if not self.memory_budget_gb
            else self.peak_memory_gb() <= self.memory_budget_gb,
            **peak_memory(self.device),
        }
        if write:
            write_json(self.run_dir / "metrics.json", summary)
        return summary


def dev_output_names(sources: list[str]) -> dict[str, str]:
    """The file name each dev file's predictions get in its dataset's folder: its own name,
    numbered when two dev files of one dataset share a name (``dev.conll``, ``dev-2.conll``)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        path = Path(source)
        name, number = path.name, 1
        while name in taken:
            number += 1
            name = f"{path.stem}-{number}{path.suffix}"
        taken.add(name)
        names[source] = name
    return names


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def read_splits(datasets: dict[str, Any]) -> tuple[list[DatasetSplit], list[DatasetSplit]]:
    train, dev = [], []
    for name, dataset in datasets.items():
        tasks = list(dataset["tasks"])
        task_types = {task: spec["task_type"] for task, spec in dataset["tasks"].items()}
        paths = dataset["train_data_path"]
        paths = paths if isinstance(paths, list) else [paths]
        sentences = [s for path in paths for s in read_dataset_file(dataset, path)]
        train.append(DatasetSplit(name, ", ".join(paths), sentences, tasks, task_types))
        if dataset.get("dev_data_path"):
            paths = dataset["dev_data_path"]
            paths = paths if isinstance(paths, list) else [paths]
            limit = dataset.get("max_dev_sents", -1)
            sentences = [s for path in paths for s in read_dataset_file(dataset, path, limit=limit)]
            dev.append(DatasetSplit(name, ", ".join(paths), sentences, tasks, task_types))
    return train, dev


def make_run_dir(output_dir: str, name: str | None) -> Path:
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


def make_fixed_run_dir(path: str) -> Path:
    run_dir = Path(path)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(
            f"{run_dir}: the run directory exists and is not empty; resume it "
            "with --resume or choose another"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


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
) -> Path:
    """Train a model from config files and return the run directory (``RUN/model`` is the
    archive, ``RUN/metrics.json`` the per-epoch report). With ``resume=RUN_DIR`` an interrupted
    run continues from its last complete checkpoint, with the configs it was started with.
    Plugin modules that the configs list are imported only when named in ``allow_plugins``
    (``--plugins``), or already imported."""
    checkpoint = None
    if resume:
        run_dir = Path(resume)
        params, datasets = _resolved_configs(run_dir)
        checkpoint = latest_checkpoint(run_dir)
        if checkpoint is None:
            raise ConfigError(f"{run_dir}: no complete checkpoint to resume from; start a new run")
        _check_resolved_configs(run_dir, params, datasets)
    else:
        if not dataset_configs:
            raise ConfigError("give --dataset_configs (or --resume RUN_DIR)")
        overrides = list(overrides or [])
        params = load_params(
            parameters_config,
            [o for o in overrides if not _is_dataset_override(o, dataset_configs)],
        )
        datasets = load_dataset_configs(dataset_configs, data_dir, overrides)
        params["random_seed"] = params["random_seed"] if seed is None else seed
    params_source = str(run_dir / "params.json") if resume else parameters_config
    needed = [(m, params_source or "the parameters") for m in params.get("plugins") or []]
    for dataset in datasets.values():
        needed += [(m, dataset["source"]) for m in dataset.get("plugins") or []]
    import_allowed_plugins(
        needed,
        allow_plugins,
        "this run" if not resume else str(run_dir),
        "pass --plugins {modules} to machamp-lite train or experiment, or "
        "allow_plugins={module_list} to machamp_lite.train",
    )
    tasks = collect_tasks(datasets)
    if threads:
        torch.set_num_threads(threads)
    set_seed(params["random_seed"])
    context = init_distributed(device)
    torch_device = pick_device(device, context)
    train_splits, dev_splits = read_splits(datasets)

    vocabularies = build_vocabularies(tasks, train_splits)
    # Build the model before the run directory exists, so a model that cannot be loaded leaves
    # nothing behind.
    model = build_model(params, tasks, vocabularies)
    if checkpoint is None:
        run_dir = context.broadcast(
            (make_fixed_run_dir(run_dir) if run_dir else make_run_dir(output_dir, name))
            if context.is_main
            else None
        )
    handler = setup_logging(run_dir) if context.is_main else None
    try:
        if checkpoint is None and context.is_main:
            write_json(run_dir / "params.json", params)
            write_json(run_dir / "datasets.json", datasets)
        logger.info("run directory %s, device %s", run_dir, describe_device(torch_device))
        warn_unseen_labels(dev_splits, vocabularies)
        encoder = model.encoder
        tokenize_start = time.time()
        for split in train_splits + dev_splits:
            split.encoded = encoder.subwords.encode_many([s.words for s in split.sentences])
            split.lengths = [input_length(encoder, e) for e in split.encoded]
        logger.info(
            "tokenized %d sentences in %.1fs",
            sum(len(s.sentences) for s in train_splits + dev_splits),
            time.time() - tokenize_start,
        )
        # Every sentence is encoded now; archives copy the tokenizer from this folder.
        encoder.release_tokenizer(run_dir / TOKENIZER_DIR if context.is_main else None)
        model.to(torch_device)
        trainer = Trainer(
            model,
            params,
            datasets,
            tasks,
            vocabularies,
            train_splits,
            dev_splits,
            run_dir,
            torch_device,
            params["random_seed"],
            context,
        )
        if checkpoint is not None:
            state = load_checkpoint(checkpoint, model)
            trainer.restore(state)
            logger.info("resumed from %s (epoch %d done)", checkpoint, trainer.completed_epochs)
        trainer.fit()
    except Terminated:
        last = latest_checkpoint(run_dir) if context.is_main else None
        if last is None:
            raise Terminated(f"no epoch of {run_dir} finished, so there is no checkpoint") from None
        raise Terminated(
            f"continue from {last.name} with machamp-lite train --resume {run_dir}"
        ) from None
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
        shutdown_distributed(context)
        if context.is_main:
            shutil.rmtree(run_dir / TOKENIZER_DIR, ignore_errors=True)
    return run_dir


def _resolved_configs(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import json

    try:
        params = json.loads((run_dir / "params.json").read_text(encoding="utf-8"))
        datasets = json.loads((run_dir / "datasets.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"{run_dir}: not a resumable run directory (params.json and datasets.json are "
            f"written when a run starts): {error}"
        ) from None
    return params, datasets


def _check_resolved_configs(run_dir: Path, params: Any, datasets: Any) -> None:
    """A run directory may come from someone else: its configs pass the checks a user's do, so
    that, e.g., a dataset named "../x" cannot make dev predictions land outside the run."""
    validate_params(params, str(run_dir / "params.json"))
    if not isinstance(datasets, dict) or not all(isinstance(d, dict) for d in datasets.values()):
        raise ConfigError(f"{run_dir / 'datasets.json'}: expected an object of datasets")
    for name, dataset in datasets.items():
        check_name(name, "dataset", str(run_dir / "datasets.json"))
        for task in dataset.get("tasks", {}):
            check_name(task, "task", f"{run_dir / 'datasets.json'}, dataset {name!r}")


def _is_dataset_override(override: str, dataset_configs: list[str]) -> bool:
    """Overrides whose first key is a dataset name go to the dataset configs."""
    from ..config import load_config_file

    key = override.split("=", 1)[0].split(".", 1)[0]
    names = set()
    for path in dataset_configs:
        try:
            names.update(load_config_file(path))
        except Exception:  # the real load reports the error with its file
            continue
    return key in names
