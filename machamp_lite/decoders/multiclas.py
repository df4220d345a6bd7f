"""``multiclas``: a set of labels per sentence (``goodbye|negative``, ``_`` for none)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional

from ..config_checks import Range
from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec, MultiLabelCodec, join_labels, split_labels


class LabelSetCodec(LabelCodec):
    """A set of labels per sentence (``multiclas``), ``|``-joined (``goodbye|negative``), ``_``
    for the empty set: :class:`MultiLabelCodec`'s format, one per sentence instead of per word.

    Gold sets are read in one canonical order (``join_labels``), so that a set scores as equal
    whatever order a file gives it in, and the count of reordered sets is logged. Targets are
    the list of single labels, the vocabulary holds single labels, and the tensor is multi-hot
    ``[sentences, labels]``. The empty set is written ``_`` (MaChAmp writes an empty column,
    which its own reader cannot read back), so every prediction reads again as a label.
    """

    normalised_note = "{count} label sets of task {task} read in canonical (sorted) order"
    _words = MultiLabelCodec()  # the checks of one word's label set hold for a sentence's

    def __init__(self) -> None:
        super().__init__(level="sentence")

    def validate(self, label: str) -> str | None:
        return self._words.validate(label)

    def normalise(self, labels: Any) -> tuple[Any, int]:
        canonical = join_labels(split_labels(labels))
        return canonical, int(canonical != labels)

    def gold_to_targets(self, words: Sequence[str], labels: Any) -> Any:
        return split_labels(labels)

    def targets_to_labels(self, words: Sequence[str], targets: Any) -> Any:
        return targets if isinstance(targets, str) else join_labels(targets)

    def vocabulary_items(self, targets: Any) -> list[Any]:
        return list(targets)

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """``[sentences, labels]`` of 0/1; a label unseen in training has no logit and is left
        out."""
        tensor = torch.zeros(len(targets), len(vocabulary))
        for i, labels in enumerate(targets):
            for label in labels:
                k = vocabulary.index.get(label)
                if k is not None:
                    tensor[i, k] = 1.0
        return tensor


@decoders.register("multiclas")
class MultiLabelClassifier(LinearDecoder):
    """One yes/no decision per label of the vocabulary, from the sentence's first position (as
    ``classification`` reads it): a sigmoid per label, trained with binary cross-entropy, and
    every label whose probability is above ``threshold`` predicted.

    Why independent decisions and not a softmax over whole sets: how many labels a sentence has
    is not known in advance, and a combination unseen in training can still be predicted from
    its single labels. A sentence whose labels all stay at or below the threshold gets the
    empty set, written ``_`` (MaChAmp writes an empty column there).

    The threshold is MaChAmp's, default 0.7: 0 predicts every label (a sigmoid is never below
    0, as MaChAmp's docs say); 1 would predict none ever, so it is refused. The loss is
    summed over the labels of a sentence and averaged over sentences, the project's one
    reduction (MaChAmp averages over sentences and labels together, a factor of the label
    count smaller).
    """

    argument_limits = {"threshold": Range(0, 1, high_open=True)}

    codec = LabelSetCodec()
    default_metric = "multi_acc"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        threshold: float = 0.7,
    ):
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"multiclas threshold must be in [0, 1), got {threshold}")
        super().__init__(input_dim, vocabulary, dropout)
        self.threshold = threshold

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors[:, 0])).float()
        per_label = functional.binary_cross_entropy_with_logits(
            logits, gold.to(logits.dtype), reduction="none"
        )
        return per_label.sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[str]:
        chosen = (torch.sigmoid(self.projection(vectors[:, 0]).float()) > self.threshold).tolist()
        labels = self.vocabulary.labels
        return [join_labels([labels[k] for k, on in enumerate(row) if on]) for row in chosen]
