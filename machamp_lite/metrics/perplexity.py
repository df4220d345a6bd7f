"""Perplexity of hidden tokens, for masked language modelling.

Perplexity falls as a model gets better and has no upper bound, while model selection adds up
scores where higher is better, most of them between 0 and 1. MaChAmp's docs/mlm.md says it adds
``1 - 1/perplexity``, which rises as the model gets worse; the score here is ``1 /
perplexity`` instead: the geometric mean of the probabilities the model gives the hidden tokens,
between 0 and 1, higher for a better model, so it adds to an F1 in the dev sum in the right
direction. It is counted over tokens (every hidden token of the dev set weighs the same), not
averaged over batches as MaChAmp does.
"""

from __future__ import annotations

import math

from ..registry import metrics
from .base import Metric


@metrics.register("perplexity")
class Perplexity(Metric):
    """``exp`` of the mean negative log-likelihood of the hidden tokens. Each predicted item
    is one sentence's list of negative log-likelihoods (one per hidden token), as the ``mlm``
    decoder gives them; the gold side is not read (the hidden tokens were scored already)."""

    # What it scores are token losses, not labels: only a task of raw text may name it.
    reads_token_losses = True

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, gold, predicted) -> None:
        for values in predicted:
            if not isinstance(values, list):
                raise ValueError(
                    "the perplexity metric scores masked language modelling (task type mlm): "
                    f"each prediction must be a list of token losses, got {type(values).__name__}"
                )
            for value in values:
                if isinstance(value, (int, float)):
                    self.total += float(value)
                    self.count += 1

    def compute(self) -> dict:
        if self.count == 0:
            # Nothing hidden: no evidence either way; 0 adds nothing to the dev sum.
            return {"perplexity": None, "score": 0.0, "hidden_tokens": 0}
        mean = self.total / self.count
        return {
            "perplexity": math.exp(min(mean, 700.0)),
            "score": math.exp(-mean),
            "loss": mean,
            "hidden_tokens": self.count,
        }
