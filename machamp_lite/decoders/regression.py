"""``regression``: one real number per sentence (a rating, a similarity score, ...)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import Decoder
from .codecs import NumberCodec


def format_number(value: float) -> str:
    """A compact string for a prediction: the float rounded to 6 significant digits, as Python
    writes it (``3.5``, ``-0.125``, ``1e-07``)."""
    return repr(float(f"{value:.6g}"))


@decoders.register("regression")
class Regressor(Decoder):
    """A linear layer over the mean of the sentence's word vectors, trained with squared error.

    Why the mean of the words and not the first position (as ``classification`` does): a
    number such as a rating depends on the whole sentence, and averaging lets every word's
    vector take part directly, whatever the pooling of subwords into words. The loss is the
    squared error per sentence averaged over sentences (plain MSE), the project's reduction
    for sentence-level tasks.

    Labels are read as strings and parsed by the codec; predictions are written back as compact
    strings. The task has no label vocabulary (its codec counts nothing), so numbers in dev
    data are never reported as labels unseen in training.
    """

    codec = NumberCodec()
    default_metric = "mse"

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, 1)

    def _predict(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(vectors.dtype)
        mean = (vectors * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.projection(mean).squeeze(-1).float()

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        predicted = self._predict(self.dropout(vectors), mask)
        return functional.mse_loss(predicted, gold.to(predicted.dtype))

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[str]:
        return [format_number(value) for value in self._predict(vectors, mask).tolist()]
