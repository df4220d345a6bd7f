"""``seq_focal``: a softmax tagger trained with the focal loss (Lin et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.base import Decoder
from machamp_lite.registry import decoders


@decoders.register("seq_focal")
class FocalTagger(Decoder):
    """A softmax per word, trained with the focal loss ``-(1 - p) ** gamma * log p``.

    The factor ``(1 - p) ** gamma`` shrinks the loss of words the model already labels with
    confidence, so training concentrates on the hard and rare ones: in NER, the entity tags
    among a sea of easy ``O`` words. ``gamma = 0`` is plain cross-entropy (the ``seq``
    decoder). The loss is summed over a sentence's words and averaged over sentences, like
    every machamp-lite decoder.
    """

    level = "token"
    default_metric = "accuracy"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        gamma: float = 2.0,
    ):
        super().__init__(input_dim, vocabulary)
        if gamma < 0:
            raise ValueError(f"seq_focal gamma must be 0 or more, got {gamma}")
        self.gamma = gamma
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))

    def loss(self, vectors, mask, gold):
        logits = self.projection(self.dropout(vectors)).float()
        log_probs = functional.log_softmax(logits, dim=-1)
        # Padding and labels unseen in training are -100: gather index 0, then mask them out.
        counted = mask & (gold >= 0)
        log_p = log_probs.gather(-1, gold.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        # Clamped so that a word predicted with p == 1 gets no NaN gradient when gamma < 1.
        per_word = -((1.0 - log_p.exp()).clamp(min=1e-8) ** self.gamma) * log_p
        return (per_word * counted).sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors, mask):
        best = self.projection(vectors).argmax(dim=-1).tolist()
        labels = self.vocabulary.labels
        return [[labels[i] for i in row[:n]] for row, n in zip(best, mask.sum(dim=1).tolist())]
