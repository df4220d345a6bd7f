"""``seq``: a linear layer and a softmax per word, trained with cross-entropy."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional

from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec
from .confidence import softmax_nll, token_softmax


@decoders.register("seq")
class SoftmaxTagger(LinearDecoder):
    """Independent per-word classification (POS tags, BIOES NER without constraints, ...)."""

    codec = LabelCodec(level="token")
    default_metric = "accuracy"
    gives_probabilities = True

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors)).float()
        gold = gold.masked_fill(~mask, -100)
        per_token = functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            gold.reshape(-1),
            ignore_index=-100,
            reduction="none",
        )
        # Sum over each sentence's tokens, mean over sentences: the project's one reduction.
        return per_token.view(gold.shape).sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        best = self.projection(vectors).argmax(dim=-1).tolist()
        lengths = mask.sum(dim=1).tolist()
        labels = self.vocabulary.labels
        return [[labels[i] for i in row[:n]] for row, n in zip(best, lengths)]

    def logits(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.projection(vectors)

    def nll_at_temperature(
        self, logits: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        return softmax_nll(logits, gold.masked_fill(~mask, -100), temperature)

    @torch.no_grad()
    def confidences(
        self,
        logits: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        topn: int = 1,
        min_confidence: float | None = None,
    ) -> list[dict[str, Any]]:
        return token_softmax(logits, mask, self.vocabulary.labels, temperature, topn)
