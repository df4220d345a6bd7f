"""``classification``: one label per sentence, predicted from the first word's vector."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional

from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec
from .confidence import sentence_softmax, softmax_nll


@decoders.register("classification")
class SentenceClassifier(LinearDecoder):
    """A linear layer over the first position; the encoder's context makes it sentence-aware."""

    codec = LabelCodec(level="sentence")
    default_metric = "accuracy"
    gives_probabilities = True

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors[:, 0])).float()
        return functional.cross_entropy(logits, gold, ignore_index=-100)

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[str]:
        labels = self.vocabulary.labels
        return [labels[i] for i in self.projection(vectors[:, 0]).argmax(dim=-1).tolist()]

    def logits(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.projection(vectors[:, 0])

    def nll_at_temperature(
        self, logits: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        return softmax_nll(logits, gold, temperature)

    @torch.no_grad()
    def confidences(
        self,
        logits: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        topn: int = 1,
        min_confidence: float | None = None,
    ) -> list[dict[str, Any]]:
        return sentence_softmax(logits, self.vocabulary.labels, temperature, topn)
