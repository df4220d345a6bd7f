"""``multiseq``: several labels per word (``Case=Nom|Number=Sing``, ``_`` for none)."""

from __future__ import annotations

import torch
from torch.nn import functional

from ..config import Range
from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import LinearDecoder
from .codecs import MultiLabelCodec, join_labels


@decoders.register("multiseq")
class MultiLabelTagger(LinearDecoder):
    """One independent yes/no decision per (word, label): a linear layer gives a logit for each
    label in the vocabulary, trained with binary cross-entropy and thresholded at prediction.

    Why not a softmax over whole label sets: morphological feature bundles are combinatorial, so
    many bundles are rare or unseen in training while their single features are frequent. Here
    the vocabulary holds single labels (``Case=Nom``), an unseen combination can be predicted,
    and a word with no label (``_``) is simply one where every logit is below the threshold.

    The loss is summed over labels and words of a sentence and averaged over sentences, like
    every decoder here. Predictions are strings already joined with ``|`` (or ``_``), so they
    look like the data whether or not the codec's ``targets_to_labels`` is applied.
    """

    # 0 is MaChAmp's: every label passes (a sigmoid is never below 0).
    argument_limits = {"threshold": Range(0, 1, high_open=True)}

    codec = MultiLabelCodec()
    default_metric = "multi_accuracy"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        threshold: float = 0.5,
    ):
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"multiseq threshold must be in [0, 1), got {threshold}")
        super().__init__(input_dim, vocabulary, dropout)
        self.threshold = threshold

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors)).float()
        per_label = functional.binary_cross_entropy_with_logits(
            logits, gold.to(logits.dtype), reduction="none"
        )
        per_label = per_label * mask.unsqueeze(-1).to(per_label.dtype)
        return per_label.sum(dim=(1, 2)).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        chosen = (torch.sigmoid(self.projection(vectors).float()) > self.threshold).tolist()
        lengths = mask.sum(dim=1).tolist()
        labels = self.vocabulary.labels
        return [
            [join_labels([labels[k] for k, on in enumerate(word) if on]) for word in row[:n]]
            for row, n in zip(chosen, lengths)
        ]
