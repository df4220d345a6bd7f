"""Model selection: the best epoch is the one with the highest SUM of every dataset-task's main
dev metric (for main + auxiliary NER: the summed span-F1 of both)."""

from __future__ import annotations

from typing import Any


def summed_score(dev_scores: dict[str, dict[str, Any]]) -> float:
    """Sum of the ``score`` entry of each ``dataset/task`` result."""
    return float(sum(result["score"] for result in dev_scores.values()))


def best_epoch(history: list[dict[str, Any]]) -> int | None:
    """The epoch number with the highest summed dev score; the earliest wins a tie. None when no
    epoch has dev scores."""
    best, best_sum = None, None
    for record in history:
        if record.get("dev_sum") is None:
            continue
        if best_sum is None or record["dev_sum"] > best_sum:
            best, best_sum = record["epoch"], record["dev_sum"]
    return best
