"""Label accuracy, for token-level tasks (per word) and sentence-level tasks (per sentence)."""

from __future__ import annotations

from ..registry import metrics
from .base import Metric


@metrics.register("accuracy")
class Accuracy(Metric):
    """The fraction of labels predicted exactly; ``score`` is that fraction."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, gold, predicted) -> None:
        for g, p in zip(gold, predicted):
            if isinstance(g, list):
                if len(g) != len(p):
                    raise ValueError("gold and predicted sentences differ in length")
                self.correct += sum(a == b for a, b in zip(g, p))
                self.total += len(g)
            else:
                self.correct += int(g == p)
                self.total += 1

    def compute(self) -> dict:
        accuracy = self.correct / self.total if self.total else 0.0
        return {"accuracy": accuracy, "score": accuracy, "total": self.total}
