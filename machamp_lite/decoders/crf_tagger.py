"""``seq_bio``: a linear layer and a CRF whose transitions only allow valid BIO sequences."""

from __future__ import annotations

from typing import Any

import torch

from ..data.vocabulary import LabelVocabulary
from ..modules.crf import ConditionalRandomField, bio_transition_constraints
from ..registry import decoders
from .base import LinearDecoder
from .codecs import BioCodec
from .confidence import crf_confidences, crf_nll


@decoders.register("seq_bio")
class CrfTagger(LinearDecoder):
    """Emission scores from a linear layer, a BIO-constrained CRF on top; Viterbi at prediction.

    Training computes only the negative log-likelihood: no Viterbi unless a training score is
    asked for, since decoding every batch costs time and changes nothing.
    """

    codec = BioCodec()
    default_metric = "span_f1"
    gives_probabilities = True
    drops_entities = True

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary, dropout)
        self.crf = ConditionalRandomField(
            len(vocabulary), constraints=bio_transition_constraints(vocabulary.to_list())
        )

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        emissions = self.projection(self.dropout(vectors))
        # Unseen labels (-100) would index out of range; they only occur in dev data, which is
        # scored by decoding, but guard anyway by mapping them to O and masking nothing else.
        tags = gold.clamp(min=0)
        return self.crf.negative_log_likelihood(emissions, tags, mask, reduction="mean")

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        emissions = self.projection(vectors)
        paths = self.crf.viterbi_decode(emissions, mask)
        labels = self.vocabulary.labels
        return [[labels[i] for i in path] for path in paths]

    def logits(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.projection(vectors)

    def nll_at_temperature(
        self, logits: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        return crf_nll(self.crf, logits, mask, gold, temperature)

    @torch.no_grad()
    def confidences(
        self,
        logits: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        topn: int = 1,
        min_confidence: float | None = None,
    ) -> list[dict[str, Any]]:
        labels = self.vocabulary.labels
        return crf_confidences(self.crf, logits, mask, labels, temperature, topn, min_confidence)
