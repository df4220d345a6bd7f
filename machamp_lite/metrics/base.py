"""The metric interface: every registered metric accumulates gold/predicted pairs per sentence
and reports a dict whose ``"score"`` entry (higher is better) is what model selection sums."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Metric:
    """Base class for registered metrics.

    ``update`` takes one batch of sentences: for token-level tasks each item is a list of labels,
    for sentence-level tasks each item is one label. ``compute`` returns plain floats (fractions
    between 0 and 1 where that applies) and always includes the key ``"score"``.
    """

    # MaChAmp counts some metrics on its label vocabulary, whose order is that of the training
    # data; a metric that depends on that order sets this, and whoever scores with it hands it
    # the task's training labels first (``use_training_labels``; see metrics/task_scores.py).
    uses_training_labels = False

    def use_training_labels(self, labels: Sequence[str]) -> None:
        """The task's labels in order of first appearance in the training data. Only metrics
        with ``uses_training_labels`` look at them."""

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, gold: Sequence[Any], predicted: Sequence[Any]) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError
