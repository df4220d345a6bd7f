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

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, gold: Sequence[Any], predicted: Sequence[Any]) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError
