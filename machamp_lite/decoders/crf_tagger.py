"""``seq_bio``: a linear layer and a CRF whose transitions only allow valid BIO sequences."""

from __future__ import annotations

import torch
from torch import nn

from ..data.vocabulary import LabelVocabulary
from ..modules.crf import ConditionalRandomField, bio_transition_constraints
from ..registry import decoders
from .base import Decoder


def bio_label_problem(label: str) -> str | None:
    """Why ``label`` is not an IOB2 tag (O, B-TYPE, I-TYPE), or None."""
    if label == "O":
        return None
    if len(label) > 2 and label[:2] in ("B-", "I-"):
        return None
    return (
        "expected a BIO tag: O, B-TYPE or I-TYPE (e.g. B-PER, I-PER). For BIOES or other "
        'schemes use task_type "seq"'
    )


@decoders.register("seq_bio")
class CrfTagger(Decoder):
    """Emission scores from a linear layer, a BIO-constrained CRF on top; Viterbi at prediction.

    Training computes only the negative log-likelihood: no Viterbi unless a training score is
    asked for, since decoding every batch costs time and changes nothing.
    """

    level = "token"
    default_metric = "span_f1"
    complete_bio = True

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))
        self.crf = ConditionalRandomField(
            len(vocabulary), constraints=bio_transition_constraints(vocabulary.to_list())
        )

    validate_label = staticmethod(bio_label_problem)

    def loss(self, vectors, mask, gold):
        emissions = self.projection(self.dropout(vectors))
        # Unseen labels (-100) would index out of range; they only occur in dev data, which is
        # scored by decoding, but guard anyway by mapping them to O and masking nothing else.
        tags = gold.clamp(min=0)
        return self.crf.negative_log_likelihood(emissions, tags, mask, reduction="mean")

    @torch.no_grad()
    def decode(self, vectors, mask):
        emissions = self.projection(vectors)
        paths = self.crf.viterbi_decode(emissions, mask)
        labels = self.vocabulary.labels
        return [[labels[i] for i in path] for path in paths]
