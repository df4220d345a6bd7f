"""Scoring one dataset/task: the task's ``metric``, whose ``score`` is what the dev sum adds up,
and its ``additional_metrics`` (MaChAmp's task key), reported beside it and never summed.

Both the trainer's dev evaluation and ``machamp-lite evaluate`` score through here, so a metric
that follows MaChAmp's label vocabulary gets the task's training labels in MaChAmp's order in
both places, and the extra results sit under the same key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..registry import metrics
from .base import Metric

# The key of a task's result under which its additional metrics are reported, by name. It is
# absent when the task has none, so results without them look as they always did.
ADDITIONAL_KEY = "additional_metrics"


def training_label_order(label_values: Iterable[Any]) -> list[str]:
    """The labels in the order they first appear: MaChAmp's label vocabulary of a task after its
    padding/unknown entry, which it builds while reading the training data (datasets in the
    order of the configs, sentences and words in file order). Each value is one sentence's
    label, or its list of word labels."""
    order: dict[str, None] = {}
    for value in label_values:
        if isinstance(value, list):
            order.update(dict.fromkeys(value))
        elif value is not None:
            order.setdefault(value)
    return list(order)


class TrainingLabels:
    """Each task's training labels in MaChAmp's order, read from the training splits (objects
    with ``tasks`` and ``sentences``) only when a metric asks for them, once per task."""

    def __init__(self, splits: Iterable[Any]):
        self.splits = list(splits)
        self.found: dict[str, list[str]] = {}

    def __call__(self, task: str) -> list[str]:
        if task not in self.found:
            self.found[task] = training_label_order(
                sentence.labels.get(task)
                for split in self.splits
                if task in split.tasks
                for sentence in split.sentences
            )
        return self.found[task]


def build_metric(
    name: str, where: str = "", training_labels: Callable[[], Sequence[str]] | None = None
) -> Metric:
    """A new metric by its registered name, handed the training labels when it uses them
    (``training_labels`` is only called then)."""
    metric = metrics.get(name, where=where)()
    if training_labels is not None and getattr(metric, "uses_training_labels", False):
        metric.use_training_labels(training_labels())
    return metric


def score_task(
    metric: str,
    additional: Sequence[str],
    gold: Sequence[Any],
    predicted: Sequence[Any],
    where: str = "",
    training_labels: Callable[[], Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The main metric's result, with each additional metric's result under
    ``ADDITIONAL_KEY`` (by name) when there are any. Only the main result's ``score`` is meant
    for the dev sum: MaChAmp drops the additional metrics from its sum too."""
    main = build_metric(metric, f"{where} metric" if where else "", training_labels)
    main.update(gold, predicted)
    result = main.compute()
    if additional:
        extra = {}
        for name in additional:
            other = build_metric(name, f"{where} additional_metrics", training_labels)
            other.update(gold, predicted)
            extra[name] = other.compute()
        result[ADDITIONAL_KEY] = extra
    return result
