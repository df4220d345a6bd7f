"""Training batches for the trainer: the epoch's batches as the ``batching`` keys ask
(data/batching.py decides which sentences go together), and each batch turned into model
inputs and gold.

A batch is a list of (dataset, sentence index). One dataset per batch is the default; with
``batching.diverse`` a batch mixes datasets whose tasks differ, so each task's gold covers
only the rows of the datasets that carry it and the model is told which rows those are
(``task_rows``). A batch of one dataset passes no ``task_rows``, exactly as before diverse
batches existed, so its numbers do not change.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import torch

from ..data.batching import diverse_batches, epoch_schedule, make_batches
from ..decoders.base import Decoder
from ..errors import DataError, MachampError
from ..metrics.task_scores import build_metric
from ..model import MultiTaskModel
from .splits import DatasetSplit

Batch = list[tuple[str, int]]


@dataclass(frozen=True)
class BatchingOptions:
    """The ``batching`` section of the parameters; keys added after a run's config was saved
    (``shuffle``, ``sort_by_size``, ``diverse``) default to the behaviour that run had."""

    batch_size: int
    max_tokens: int
    smoothing: float
    shuffle: bool
    sort_by_size: bool
    diverse: bool

    @classmethod
    def from_params(cls, batching: dict[str, Any]) -> BatchingOptions:
        return cls(
            batch_size=int(batching["batch_size"]),
            max_tokens=int(batching["max_tokens"]),
            smoothing=float(batching.get("sampling_smoothing", 1.0)),
            shuffle=bool(batching.get("shuffle", True)),
            sort_by_size=bool(batching.get("sort_by_size", True)),
            diverse=bool(batching.get("diverse", False)),
        )


def epoch_batches(
    splits: dict[str, DatasetSplit], options: BatchingOptions, rng: random.Random
) -> list[Batch]:
    """One epoch's batches. Only ``shuffle`` lets them draw on ``rng``, the trainer's generator
    (saved in checkpoints), so a resumed run redraws the same epochs."""
    order_rng = rng if options.shuffle else None
    if options.diverse:
        lengths = {name: split.lengths for name, split in splits.items()}
        return diverse_batches(
            lengths, options.batch_size, options.max_tokens, options.smoothing, order_rng
        )
    per_dataset = {
        name: make_batches(
            split.lengths, options.batch_size, options.max_tokens, order_rng, options.sort_by_size
        )
        for name, split in splits.items()
    }
    schedule = epoch_schedule(per_dataset, options.smoothing, order_rng)
    return [[(name, index) for index in batch] for name, batch in schedule]


@dataclass
class PreparedBatch:
    """A batch ready for the model. ``parts`` holds each dataset's sentences in row order
    (the rows are grouped by dataset); ``task_rows`` is None when every row carries every
    task in ``gold``; ``task_sentences`` counts the rows of each task, the weight of its loss
    in the epoch's per-task average."""

    parts: list[tuple[DatasetSplit, list[int]]]
    inputs: dict[str, Any]
    gold: dict[str, torch.Tensor]
    task_rows: dict[str, torch.Tensor] | None
    task_sentences: dict[str, int]

    def __len__(self) -> int:
        return sum(len(indices) for _, indices in self.parts)

    def datasets(self) -> str:
        """``dataset 'a'`` or ``datasets 'a', 'b'``, for messages."""
        names = [split.name for split, _ in self.parts]
        return ("dataset " if len(names) == 1 else "datasets ") + ", ".join(map(repr, names))

    def sentence_ids(self) -> list[str]:
        """Each sentence's id (else its first line), prefixed by its dataset in a mixed batch."""
        prefix = len(self.parts) > 1
        return [
            (f"{split.name}:" if prefix else "") + (s.sent_id or f"line {s.first_line}")
            for split, indices in self.parts
            for s in (split.sentences[i] for i in indices)
        ]


def prepare_batch(
    model: MultiTaskModel,
    splits: dict[str, DatasetSplit],
    batch: Batch,
    max_tokens: int,
    device: torch.device,
) -> PreparedBatch:
    """Collate all rows at once and build each task's gold over the rows that carry it, with
    the codec of each dataset the rows come from (datasets that share a task may read its
    labels differently)."""
    grouped: dict[str, list[int]] = {}
    for name, index in batch:
        grouped.setdefault(name, []).append(index)
    parts = [(splits[name], indices) for name, indices in grouped.items()]
    encoded, hidden = corrupted_rows(parts)
    inputs = model.encoder.collate(encoded, max_tokens)
    if model.needs_dataset_ids:  # each row's dataset, for dataset embeddings
        inputs["dataset_ids"] = model.dataset_ids([s.name for s, ix in parts for _ in ix])
    num_words = inputs["word_mask"].shape[1]
    pieces: dict[str, list[torch.Tensor]] = {}
    rows: dict[str, list[int]] = {}
    start = 0
    for part, (split, indices) in enumerate(parts):
        for task in split.tasks:
            vocabulary = cast(Decoder, model.decoders[task]).vocabulary
            targets = hidden.get((part, task)) or [split.targets[task][i] for i in indices]
            pieces.setdefault(task, []).append(
                split.codecs[task].to_tensor(vocabulary, targets, num_words)
            )
            rows.setdefault(task, []).extend(range(start, start + len(indices)))
        start += len(indices)
    gold = {
        task: torch.cat(p).to(device) if len(p) > 1 else p[0].to(device)
        for task, p in pieces.items()
    }
    task_rows = None
    if any(len(r) < start for r in rows.values()):
        task_rows = {
            task: torch.tensor(r, dtype=torch.long, device=device) for task, r in rows.items()
        }
    task_sentences = {task: len(r) for task, r in rows.items()}
    return PreparedBatch(parts, inputs, gold, task_rows, task_sentences)


def corrupted_rows(
    parts: list[tuple[DatasetSplit, list[int]]],
) -> tuple[list[Any], dict[tuple[int, str], list[Any]]]:
    """The batch's encoded sentences in row order, those of a task that corrupts its input
    (masked language modelling: its codec's ``corrupt``) corrupted afresh, and that task's
    targets for them by (part, task). The choice draws on torch's global generator, which the
    run seeds and checkpoints save: every epoch hides other tokens, and a resumed run hides
    the same ones as the uninterrupted run."""
    rows: list[Any] = []
    hidden: dict[tuple[int, str], list[Any]] = {}
    for part, (split, indices) in enumerate(parts):
        encoded = [split.encoded[i] for i in indices]
        for task in split.tasks:
            corrupt = getattr(split.codecs[task], "corrupt", None)
            if corrupt is None:
                continue
            if split.masking is None:
                raise MachampError(f"dataset {split.name!r}: encode_splits did not run on it")
            encoded = corrupt(encoded, split.masking)
            hidden[(part, task)] = [sentence.masked_targets for sentence in encoded]
        rows.extend(encoded)
    return rows, hidden


def score_batch(
    model: MultiTaskModel,
    batch: PreparedBatch,
    inputs: dict[str, Any],
    scores: dict[str, Any],
    metric_names: dict[str, str],
    training_labels: Callable[[str], Sequence[str]] | None = None,
) -> None:
    """Decode a training batch (the model in eval mode, no gradient: the caller's job) and add
    each dataset part to the training score of its dataset/task pairs; ``inputs`` are the
    batch's inputs on the model's device. ``training_labels(task)`` gives a metric that needs
    them (MaChAmp's F1s) the task's training labels in MaChAmp's order, as on dev."""
    tasks = list(dict.fromkeys(task for split, _ in batch.parts for task in split.tasks))
    predicted = model.predict(inputs, tasks)
    start = 0
    for split, indices in batch.parts:
        rows = slice(start, start + len(indices))
        start += len(indices)
        words = [split.sentences[i].words for i in indices]
        for task in split.tasks:
            key = f"{split.name}/{task}"
            if key not in scores:
                labels = None if training_labels is None else partial(training_labels, task)
                scores[key] = build_metric(metric_names[task], training_labels=labels)
            restore = split.codecs[task].targets_to_labels
            scores[key].update(
                [split.sentences[i].labels[task] for i in indices],
                [restore(w, p) for w, p in zip(words, predicted[task][rows])],
            )


def out_of_memory_error(
    batch: PreparedBatch, device: torch.device, options: BatchingOptions
) -> MachampError:
    rows, width = batch.inputs["input_ids"].shape
    return MachampError(
        f"out of memory on {device} in a training batch of {batch.datasets()}: "
        f"{batch.inputs['word_mask'].shape[0]} sentences, {rows} x {width} subword positions "
        f"(batching.max_tokens {options.max_tokens}, batching.batch_size {options.batch_size}). "
        "Lower batching.max_tokens or batching.batch_size (with training.accumulation_steps "
        "to keep the effective batch), or use training.precision bf16, "
        "encoder.gradient_checkpointing or encoder.freeze_embeddings."
    )


def non_finite_error(loss: torch.Tensor, batch: PreparedBatch, kept: str) -> DataError:
    """The error for a nan or infinite loss; ``kept`` says what the run keeps of itself."""
    ids = batch.sentence_ids()
    return DataError(
        f"the training loss became {loss.item()} on a batch of {batch.datasets()} "
        f"(sentences {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}); training "
        f"stopped and {kept}. Lower the learning rate, use training.precision fp32, or "
        "check these sentences",
        ", ".join(split.path for split, _ in batch.parts),
    )
