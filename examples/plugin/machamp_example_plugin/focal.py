"""``seq_focal``: a softmax tagger trained with the focal loss (Lin et al., 2017)."""

from __future__ import annotations

import torch
from torch.nn import functional

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.base import LinearDecoder
from machamp_lite.decoders.codecs import LabelCodec
from machamp_lite.registry import decoders


@decoders.register("seq_focal")
class FocalTagger(LinearDecoder):
    """A softmax per word, trained with the focal loss ``-(1 - p) ** gamma * log p``.

    The factor ``(1 - p) ** gamma`` shrinks the loss of words the model already labels with
    confidence, so training concentrates on the hard and rare ones: in NER, the entity tags
    among a sea of easy ``O`` words. ``gamma = 0`` is plain cross-entropy (the ``seq``
    decoder). The loss is summed over a sentence's words and averaged over sentences, like
    every machamp-lite decoder.

    ``LinearDecoder`` gives it the built-in taggers' dropout and linear layer; the codec says
    that its labels are one plain label per word, as for ``seq``. (A tagger that should read its
    tags as BIO, with IOB1 data rewritten to IOB2 and B-/I- vocabularies completed as for
    ``seq_bio``, would declare ``codec = BioCodec()`` instead.)
    """

    codec = LabelCodec(level="token")
    default_metric = "accuracy"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        gamma: float = 2.0,
    ):
        if gamma < 0:
            raise ValueError(f"seq_focal gamma must be 0 or more, got {gamma}")
        super().__init__(input_dim, vocabulary, dropout)
        self.gamma = gamma

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors)).float()
        log_probs = functional.log_softmax(logits, dim=-1)
        # Padding and labels unseen in training are -100: gather index 0, then mask them out.
        counted = mask & (gold >= 0)
        log_p = log_probs.gather(-1, gold.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        # Clamped so that a word predicted with p == 1 gets no NaN gradient when gamma < 1.
        per_word = -((1.0 - log_p.exp()).clamp(min=1e-8) ** self.gamma) * log_p
        return (per_word * counted).sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        best = self.projection(vectors).argmax(dim=-1).tolist()
        labels = self.vocabulary.labels
        return [[labels[i] for i in row[:n]] for row, n in zip(best, mask.sum(dim=1).tolist())]
