"""``seq``: a linear layer and a softmax per word, trained with cross-entropy."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import Decoder


@decoders.register("seq")
class SoftmaxTagger(Decoder):
    """Independent per-word classification (POS tags, BIOES NER without constraints, ...)."""

    level = "token"
    default_metric = "accuracy"

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))

    def loss(self, vectors, mask, gold):
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
    def decode(self, vectors, mask):
        best = self.projection(vectors).argmax(dim=-1).tolist()
        lengths = mask.sum(dim=1).tolist()
        labels = self.vocabulary.labels
        return [[labels[i] for i in row[:n]] for row, n in zip(best, lengths)]
