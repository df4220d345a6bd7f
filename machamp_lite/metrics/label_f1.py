"""MaChAmp's label F1 metrics, ``f1_micro``, ``f1_macro`` and ``f1_binary``: precision, recall
and F1 over whole labels, one per word for token-level tasks and one per sentence otherwise.

MaChAmp counts them on its label vocabulary: index 0 is its padding/unknown entry, and the
task's labels follow in the order in which they first appear in the training data; a dev label
that training never saw is that unknown entry. Its binary F1 takes the label at index 1 as the
positive one, and its macro F1 averages over the indices from 1 up to the highest one that
occurs among the gold and predicted labels. Neither can be told from the dev labels alone, so
these metrics take the task's training labels (``use_training_labels``; the trainer hands them
over, ``machamp-lite evaluate`` reads them from ``--train_file``) and then give MaChAmp's
numbers. Without them, the vocabulary is made of the labels scored, in the order met, and the
result says which positive label that chose.

One difference remains, and only for predictions of another system: two different labels that
training never saw are MaChAmp's one unknown entry, so MaChAmp counts the pair as a hit; here it
is a miss. A machamp-lite model only predicts training labels, so its scores are not affected.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..registry import metrics
from .base import Metric

logger = logging.getLogger("machamp_lite")


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _f1(precision: float, recall: float) -> float:
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


class LabelCounts(Metric):
    """True positives, false positives and false negatives per label, as MaChAmp counts them:
    a right label is a true positive of that label, a wrong one a false positive of the
    predicted label and a false negative of the gold label."""

    uses_training_labels = True

    def __init__(self):
        self.training_labels: list[str] | None = None
        self.reset()

    def use_training_labels(self, labels: Sequence[str]) -> None:
        self.training_labels = list(dict.fromkeys(labels))

    def reset(self) -> None:
        self.true_positives: Counter = Counter()
        self.false_positives: Counter = Counter()
        self.false_negatives: Counter = Counter()
        self.met: dict[str, None] = {}  # every gold and predicted label, in the order met
        self.total = 0

    def update(self, gold, predicted) -> None:
        if len(gold) != len(predicted):
            raise ValueError("gold and predicted differ in length")
        for g, p in zip(gold, predicted):
            if isinstance(g, list):
                if len(g) != len(p):
                    raise ValueError("gold and predicted sentences differ in length")
                for gold_label, predicted_label in zip(g, p):
                    self._count(gold_label, predicted_label)
            else:
                self._count(g, p)

    def _count(self, gold: str, predicted: str) -> None:
        self.total += 1
        self.met.setdefault(gold)
        self.met.setdefault(predicted)
        if gold == predicted:
            self.true_positives[gold] += 1
        else:
            self.false_positives[predicted] += 1
            self.false_negatives[gold] += 1

    def vocabulary(self) -> list[str]:
        """MaChAmp's label vocabulary after its index-0 entry: the training labels when known,
        else the labels scored in the order met."""
        return self.training_labels if self.training_labels is not None else list(self.met)

    def labels_in_use(self) -> list[str]:
        """The vocabulary from its first label up to the last one that occurs among the gold
        and predicted labels (labels outside the vocabulary are MaChAmp's index 0)."""
        vocabulary = self.vocabulary()
        position = {label: index for index, label in enumerate(vocabulary)}
        highest = max((position[label] + 1 for label in self.met if label in position), default=0)
        return vocabulary[:highest]

    def label_result(self, label: str) -> dict[str, Any]:
        tp = self.true_positives[label]
        precision = _ratio(tp, tp + self.false_positives[label])
        recall = _ratio(tp, tp + self.false_negatives[label])
        return {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": tp + self.false_negatives[label],
        }


@metrics.register("f1_micro")
class MicroF1(LabelCounts):
    """MaChAmp's ``f1_micro``: precision, recall and F1 over all labels pooled. Each wrong label
    is one false positive and one false negative, so all three equal the label accuracy;
    ``score`` is F1.

    The order of the labels plays no part, so this is MaChAmp's number in every case."""

    uses_training_labels = False

    def compute(self) -> dict[str, Any]:
        tp = sum(self.true_positives.values())
        precision = _ratio(tp, tp + sum(self.false_positives.values()))
        recall = _ratio(tp, tp + sum(self.false_negatives.values()))
        f1 = _f1(precision, recall)
        return {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "score": f1,
            "total": self.total,
        }


@metrics.register("f1_macro")
class MacroF1(LabelCounts):
    """MaChAmp's ``f1_macro``: the unweighted means of the per-label precision, recall and F1
    (each 0 where undefined) over the task's training labels in order of first appearance,
    from the first up to the last one that occurs among the gold and predicted labels
    (MaChAmp's vocabulary indices); ``score`` is the mean F1 (0 when no label is averaged). So
    a training label absent from the data scored counts as F1 0 when a later one occurs, and a
    label training never saw is not averaged (though it counts against the labels predicted
    for it).

    Without the training labels (a metric built on its own, e.g. for training-batch scores),
    every gold and predicted label is averaged. ``per_label`` gives each averaged label's
    precision, recall, F1 and gold count."""

    def compute(self) -> dict[str, Any]:
        per_label = {label: self.label_result(label) for label in self.labels_in_use()}
        rows = list(per_label.values())

        def mean(key: str) -> float:
            return sum(row[key] for row in rows) / len(rows) if rows else 0.0

        f1 = mean("f1")
        return {
            "precision": mean("precision"),
            "recall": mean("recall"),
            "f1": f1,
            "score": f1,
            "labels_averaged": len(rows),
            "per_label": per_label,
            "total": self.total,
        }


@metrics.register("f1_binary")
class BinaryF1(LabelCounts):
    """MaChAmp's ``f1_binary``: precision, recall and F1 of the positive label, which is the
    task's first label in the training data (MaChAmp's vocabulary index 1, not the label that
    sorts last), named in the result as ``positive_label``; ``score`` is F1. As in MaChAmp, when
    a third training label occurs among the gold or predicted labels, ``score`` is 0 (with a
    ``note``).

    Without the training labels (a metric built on its own, e.g. for training-batch scores) the
    positive label is the first gold label scored, MaChAmp's rule applied to the data at hand;
    ``machamp-lite evaluate`` takes it from ``--train_file`` or ``--positive_label``."""

    def __init__(self):
        self.given_positive: str | None = None
        super().__init__()

    def use_positive_label(self, label: str) -> None:
        """Choose the positive label outright (``machamp-lite evaluate --positive_label``)."""
        self.given_positive = label

    def positive_label(self) -> str | None:
        if self.given_positive is not None:
            return self.given_positive
        vocabulary = self.vocabulary()
        return vocabulary[0] if vocabulary else None

    def compute(self) -> dict[str, Any]:
        positive = self.positive_label()
        result: dict[str, Any] = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
        in_use = self.labels_in_use()
        if len(in_use) > 2:
            note = (
                f"f1_binary needs two labels but {len(in_use)} occur ({', '.join(in_use[:5])}"
                f"{', ...' if len(in_use) > 5 else ''}); score 0, as in MaChAmp"
            )
            logger.warning(note)
            result["note"] = note
        elif positive is not None:
            result.update(self.label_result(positive))
            del result["support"]
        return {**result, "score": result["f1"], "positive_label": positive, "total": self.total}
