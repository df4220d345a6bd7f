"""``multiseq``: several labels per word (``Case=Nom|Number=Sing``, ``_`` for none)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from ..config import Range
from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import Decoder

NO_LABEL = "_"
SEPARATOR = "|"


def split_labels(label: str) -> list[str]:
    """The single labels of one word's ``|``-joined label; ``_`` has none."""
    return [] if label == NO_LABEL else label.split(SEPARATOR)


def join_labels(labels) -> str:
    """Labels joined with ``|`` in one stable order (case-insensitive, as UD sorts FEATS), or
    ``_`` when there are none."""
    if not labels:
        return NO_LABEL
    return SEPARATOR.join(sorted(set(labels), key=lambda x: (x.lower(), x)))


@decoders.register("multiseq")
class MultiLabelTagger(Decoder):
    """One independent yes/no decision per (word, label): a linear layer gives a logit for each
    label in the vocabulary, trained with binary cross-entropy and thresholded at prediction.

    Why not a softmax over whole label sets: morphological feature bundles are combinatorial, so
    many bundles are rare or unseen in training while their single features are frequent. Here
    the vocabulary holds single labels (``Case=Nom``), an unseen combination can be predicted,
    and a word with no label (``_``) is simply one where every logit is below the threshold.

    The loss is summed over labels and words of a sentence and averaged over sentences, like
    every decoder here. Predictions are strings already joined with ``|`` (or ``_``), so they
    look like the data whether or not ``targets_to_labels`` is applied.
    """

    argument_limits = {"threshold": Range(0, 1, low_open=True, high_open=True)}

    level = "token"
    default_metric = "multi_accuracy"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        threshold: float = 0.5,
    ):
        super().__init__(input_dim, vocabulary)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"multiseq threshold must be between 0 and 1, got {threshold}")
        self.threshold = threshold
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))

    @staticmethod
    def validate_label(label: str) -> str | None:
        if label == "":
            return "the label is empty"
        if label == NO_LABEL:
            return None
        parts = label.split(SEPARATOR)
        if any(part == "" for part in parts):
            return 'an empty label between "|" separators'
        if NO_LABEL in parts:
            return '"_" (no label) cannot be combined with other labels'
        return None

    @classmethod
    def gold_to_targets(cls, words, labels):
        return [split_labels(label) for label in labels]

    @classmethod
    def targets_to_labels(cls, words, predicted):
        return [p if isinstance(p, str) else join_labels(p) for p in predicted]

    @classmethod
    def vocabulary_items(cls, targets):
        return [label for word in targets for label in word]

    def labels_to_tensor(self, gold, num_words):
        """Multi-hot targets, (sentences, words, labels); labels unseen in training are left
        out (their logits do not exist), padding is masked by the loss."""
        index = self.vocabulary.index
        tensor = torch.zeros(len(gold), num_words, len(self.vocabulary))
        for i, sentence in enumerate(gold):
            for j, word in enumerate(sentence):
                for label in word:
                    k = index.get(label)
                    if k is not None:
                        tensor[i, j, k] = 1.0
        return tensor

    def loss(self, vectors, mask, gold):
        logits = self.projection(self.dropout(vectors)).float()
        per_label = functional.binary_cross_entropy_with_logits(
            logits, gold.to(logits.dtype), reduction="none"
        )
        per_label = per_label * mask.unsqueeze(-1).to(per_label.dtype)
        return per_label.sum(dim=(1, 2)).mean()

    @torch.no_grad()
    def decode(self, vectors, mask):
        chosen = (torch.sigmoid(self.projection(vectors).float()) > self.threshold).tolist()
        lengths = mask.sum(dim=1).tolist()
        labels = self.vocabulary.labels
        return [
            [join_labels([labels[k] for k, on in enumerate(word) if on]) for word in row[:n]]
            for row, n in zip(chosen, lengths)
        ]
