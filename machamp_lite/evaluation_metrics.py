"""What ``machamp-lite evaluate`` scores besides spans: registered metrics on the label column
(``--metrics``, e.g. a task's ``metric`` and ``additional_metrics``), computed as the trainer
computes them on dev data. MaChAmp's label F1 metrics follow the order of the task's training
labels, which ``--train_file`` gives; ``--positive_label`` names f1_binary's positive label
outright.

A :class:`Tally` counts one group of sentence pairs (a file pair, a language, all pairs pooled)
for the span scores and for these metrics at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .data.sentence import Sentence
from .errors import DataError
from .metrics.base import Metric
from .metrics.span_f1 import SpanCounts
from .metrics.task_scores import build_metric, training_label_order


@dataclass(frozen=True)
class LabelMetrics:
    """The metrics to score by registered name, and what MaChAmp's label F1 metrics need: the
    training labels in order of first appearance (None: unknown) and a positive label chosen
    outright for f1_binary (None: the first training label)."""

    names: tuple[str, ...] = ()
    training_labels: tuple[str, ...] | None = None
    positive_label: str | None = None

    def build(self) -> dict[str, Metric]:
        """A fresh metric per name; each group of sentences is scored by its own."""
        known = self.training_labels
        built = {}
        for name in self.names:
            metric = build_metric(name, "--metrics", None if known is None else lambda: known)
            chooser = getattr(metric, "use_positive_label", None)
            if self.positive_label is not None and chooser is not None:
                chooser(self.positive_label)
            built[name] = metric
        return built


def training_labels_of(sentences: Sequence[Sentence]) -> tuple[str, ...]:
    """The labels of a training file read with the evaluation's layout, in the order they first
    appear: the order of MaChAmp's label vocabulary."""
    return tuple(training_label_order(s.labels["label"] for s in sentences))


class Tally:
    """Span counts (unless ``scheme`` is None) and metrics over one group of sentence pairs.
    An unparseable tag raises the span scorer's ``InvalidTagError``; labels a metric cannot
    score raise a :class:`DataError` naming the file and the line."""

    def __init__(self, scheme: str | None, metrics: LabelMetrics | None = None):
        self.spans = SpanCounts() if scheme is not None else None
        self.metrics = metrics.build() if metrics is not None else {}
        self.sentences = 0
        self.tokens = 0

    def add(
        self,
        gold: Sentence,
        predicted: Sentence,
        scheme: str | None,
        where: str,
        count_spans: bool = True,
    ) -> None:
        """Count one aligned sentence pair; ``where`` is the prediction file, for errors.
        ``count_spans`` False leaves the spans to be merged in from other tallies."""
        gold_labels, predicted_labels = gold.labels["label"], predicted.labels["label"]
        if count_spans and self.spans is not None and scheme is not None:
            self.spans.add_sentence(gold_labels, predicted_labels, scheme)
        for name, metric in self.metrics.items():
            try:
                metric.update([gold_labels], [predicted_labels])
            except (ValueError, TypeError, KeyError) as error:
                raise DataError(
                    f"metric {name!r} cannot score the labels of this sentence ({error})",
                    where,
                    predicted.first_line,
                ) from None
        self.sentences += 1
        self.tokens += len(gold_labels)

    def result(self) -> dict[str, Any]:
        """The span result (with ``counts.sentences``) or, without spans, the counts alone;
        the metrics' results under ``metrics`` when there are any."""
        if self.spans is not None:
            result = self.spans.result()
            result["counts"]["sentences"] = self.spans.sentences
        else:
            result = {"counts": {"sentences": self.sentences, "tokens": self.tokens}}
        if self.metrics:
            result["metrics"] = {name: metric.compute() for name, metric in self.metrics.items()}
        return result
