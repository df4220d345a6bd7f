"""``classification``: one label per sentence, predicted from the first word's vector."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import Decoder


@decoders.register("classification")
class SentenceClassifier(Decoder):
    """A linear layer over the first position; the encoder's context makes it sentence-aware."""

    level = "sentence"
    default_metric = "accuracy"

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))

    def loss(self, vectors, mask, gold):
        logits = self.projection(self.dropout(vectors[:, 0])).float()
        return functional.cross_entropy(logits, gold, ignore_index=-100)

    @torch.no_grad()
    def decode(self, vectors, mask):
        labels = self.vocabulary.labels
        return [labels[i] for i in self.projection(vectors[:, 0]).argmax(dim=-1).tolist()]
