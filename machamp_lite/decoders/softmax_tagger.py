"""``seq``: a linear layer and a softmax per word, trained with cross-entropy."""

from __future__ import annotations

import torch
from torch.nn import functional

from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec


@decoders.register("seq")
class SoftmaxTagger(LinearDecoder):
    """Independent per-word classification (POS tags, BIOES NER without constraints, ...)."""

    codec = LabelCodec(level="token")
    default_metric = "accuracy"

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
