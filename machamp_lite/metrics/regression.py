"""Metrics for sentence-level numbers: mean squared error (score = -MSE) or Pearson's r."""

from __future__ import annotations

import math

from ..registry import metrics
from .base import Metric


@metrics.register("mse")
class MeanSquaredError(Metric):
    """MSE, RMSE, MAE and Pearson's r between gold and predicted numbers (given as strings or
    floats). ``score`` is the NEGATIVE MSE, so that higher is better as model selection
    expects; it is 0 for a perfect model. MSE is always defined, unlike r, which needs some
    spread in both gold and predicted values (r is None then)."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.gold: list[float] = []
        self.predicted: list[float] = []

    def update(self, gold, predicted) -> None:
        if len(gold) != len(predicted):
            raise ValueError("gold and predicted differ in length")
        self.gold.extend(float(g) for g in gold)
        self.predicted.extend(float(p) for p in predicted)

    def pearson(self) -> float | None:
        n = len(self.gold)
        if n < 2:
            return None
        mean_g = sum(self.gold) / n
        mean_p = sum(self.predicted) / n
        cov = sum((g - mean_g) * (p - mean_p) for g, p in zip(self.gold, self.predicted))
        var_g = sum((g - mean_g) ** 2 for g in self.gold)
        var_p = sum((p - mean_p) ** 2 for p in self.predicted)
        if var_g <= 0 or var_p <= 0:
            return None
        return cov / math.sqrt(var_g * var_p)

    def compute(self) -> dict:
        n = len(self.gold)
        errors = [p - g for g, p in zip(self.gold, self.predicted)]
        mse = sum(e * e for e in errors) / n if n else 0.0
        mae = sum(abs(e) for e in errors) / n if n else 0.0
        return {
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mae": mae,
            "pearson": self.pearson(),
            "score": -mse,
            "total": n,
        }


@metrics.register("pearson")
class PearsonCorrelation(MeanSquaredError):
    """The same numbers, with Pearson's r as ``score`` (0 where r is undefined, e.g. when every
    prediction is the same)."""

    def compute(self) -> dict:
        result = super().compute()
        result["score"] = result["pearson"] if result["pearson"] is not None else 0.0
        return result


# The smallest distance whose inverse ``avg_dist`` reports: a perfect prediction would divide
# by zero (MaChAmp crashes there), so it scores 1e6 instead.
MIN_DISTANCE = 1e-6


@metrics.register("avg_dist")
class AverageDistance(MeanSquaredError):
    """MaChAmp's ``avg_dist``: the mean absolute difference between gold and predicted numbers,
    reported as ``avg_dist`` (lower is better). Model selection sums scores where higher is
    better, so ``score`` is its inverse, 1 / avg_dist, which is what MaChAmp adds to its dev
    sum; a distance below 1e-6 (a perfect prediction, where MaChAmp divides by zero) scores
    1e6. With nothing scored, ``avg_dist`` is None and ``score`` 0 (MaChAmp: -1)."""

    def compute(self) -> dict:
        n = len(self.gold)
        if not n:
            return {"avg_dist": None, "score": 0.0, "total": 0}
        distance = sum(abs(p - g) for g, p in zip(self.gold, self.predicted)) / n
        return {"avg_dist": distance, "score": 1 / max(distance, MIN_DISTANCE), "total": n}
