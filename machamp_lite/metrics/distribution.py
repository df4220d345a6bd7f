"""Scores for predicted probability distributions (``probdistr``): which column is most likely
(accuracy over the argmax, what MaChAmp's docs score the task by) and how far the whole
distribution is from the gold one (Kullback-Leibler divergence, total variation).

Gold and predicted values are a task's labels as read and written: the probabilities of its
``column_idxs`` joined with tabs (or lists of numbers). Each row is divided by its sum first,
as the decoder's training targets are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..registry import metrics
from .base import Metric

# Below this a predicted probability counts as this, so that KL stays finite where a written
# prediction was rounded to 0.
SMALLEST = 1e-12


def as_distribution(value: Any) -> list[float]:
    """A row of probabilities from a label (``"0.25\\t0.75"``) or a list, summing to 1."""
    row = [float(v) for v in (value.split("\t") if isinstance(value, str) else value)]
    total = sum(row)
    if not row or not math.isfinite(total) or total <= 0:
        raise ValueError(f"{value!r} is not a probability distribution")
    return [v / total for v in row]


def kl_divergence(gold: Sequence[float], predicted: Sequence[float]) -> float:
    """KL(gold || predicted) in nats; a gold probability of 0 adds nothing."""
    return sum(g * math.log(g / max(p, SMALLEST)) for g, p in zip(gold, predicted) if g > 0)


@metrics.register("distribution_accuracy")
class DistributionAccuracy(Metric):
    """``score`` (= ``accuracy``) is the fraction of sentences whose most probable predicted
    column is a most probable gold column (a gold tie accepts any of the tied columns).
    ``kl`` (mean KL(gold || predicted), nats) and ``total_variation`` (mean half L1 distance,
    0 to 1) say how close the whole distributions are; lower is better for both."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.correct = 0
        self.kl = 0.0
        self.variation = 0.0

    def update(self, gold, predicted) -> None:
        if len(gold) != len(predicted):
            raise ValueError("gold and predicted differ in length")
        for g, p in zip(gold, predicted):
            gold_row, predicted_row = as_distribution(g), as_distribution(p)
            if len(gold_row) != len(predicted_row):
                raise ValueError(
                    f"a gold distribution of {len(gold_row)} values and a predicted one of "
                    f"{len(predicted_row)}"
                )
            best = max(range(len(predicted_row)), key=predicted_row.__getitem__)
            self.correct += int(gold_row[best] == max(gold_row))
            self.kl += kl_divergence(gold_row, predicted_row)
            self.variation += sum(abs(a - b) for a, b in zip(gold_row, predicted_row)) / 2
            self.total += 1

    def compute(self) -> dict:
        n = self.total
        accuracy = self.correct / n if n else 0.0
        return {
            "accuracy": accuracy,
            "kl": self.kl / n if n else None,
            "total_variation": self.variation / n if n else None,
            "score": accuracy,
            "total": n,
        }


@metrics.register("distribution_kl")
class DistributionDivergence(DistributionAccuracy):
    """The same numbers, with the NEGATIVE mean KL divergence as ``score`` (higher is better,
    0 for predictions equal to the gold distributions): for model selection by the whole
    distribution rather than its most likely column."""

    def compute(self) -> dict:
        result = super().compute()
        result["score"] = -result["kl"] if result["kl"] is not None else 0.0
        return result
