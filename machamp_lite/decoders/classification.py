"""``classification``: one label per sentence, predicted from the first word's vector."""

from __future__ import annotations

import torch
from torch.nn import functional

from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec


@decoders.register("classification")
class SentenceClassifier(LinearDecoder):
    """A linear layer over the first position; the encoder's context makes it sentence-aware."""

    codec = LabelCodec(level="sentence")
    default_metric = "accuracy"

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors[:, 0])).float()
        return functional.cross_entropy(logits, gold, ignore_index=-100)

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[str]:
        labels = self.vocabulary.labels
        return [labels[i] for i in self.projection(vectors[:, 0]).argmax(dim=-1).tolist()]
