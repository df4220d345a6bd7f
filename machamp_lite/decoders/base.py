"""The decoder interface: a decoder sees word vectors, a word mask and its gold labels, and owns
its loss, its predictions and its default metric. It never touches subwords.

Loss reduction, the same for every decoder: per-sentence losses (summed over that sentence's
tokens for token-level tasks) are averaged over the sentences of the batch. CRF negative
log-likelihoods and token cross-entropies therefore have comparable scales when task losses
are summed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..data.vocabulary import LabelVocabulary


class Decoder(nn.Module):
    """Base class of registered task decoders.

    Subclasses set ``level`` ("token" or "sentence") and ``default_metric`` (a registered metric
    name), and implement ``loss`` and ``decode``. The trainer and the predictor know tasks only
    through this interface.
    """

    level = "token"
    default_metric = "accuracy"
    complete_bio = False
    # How many adjacent columns, ending at ``column_idx``, make up one label. With more than one
    # (dependency: head and deprel) readers join the fields with tabs and writers split
    # predictions on tabs back into those columns.
    label_width = 1

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary):
        super().__init__()
        self.input_dim = input_dim
        self.vocabulary = vocabulary

    @staticmethod
    def validate_label(label: str) -> str | None:
        """An error message when ``label`` cannot be a label of this task type, else None."""
        if label == "":
            return "the label is empty"
        return None

    @classmethod
    def gold_to_targets(cls, words: list[str], labels: Any) -> Any:
        """What the decoder learns for one sentence, from its words and gold labels. The default
        is the labels themselves; a lemmatiser would return edit scripts here. Applied before
        vocabularies are built, so the vocabulary holds targets."""
        return labels

    @classmethod
    def targets_to_labels(cls, words: list[str], predicted: Any) -> Any:
        """The inverse of ``gold_to_targets`` for one sentence's predictions."""
        return predicted

    @classmethod
    def vocabulary_items(cls, targets: Any) -> list[Any]:
        """The values of one sentence's targets that the task's label vocabulary counts: by
        default each label. A multi-label tagger counts single labels, a parser only relations,
        a regressor nothing."""
        return targets if isinstance(targets, list) else [targets]

    def labels_to_tensor(self, gold: list[Any], num_words: int) -> torch.Tensor:
        """Gold labels as indices, padded with -100; a label unseen in training gets -100 too."""
        index = self.vocabulary.index
        if self.level == "sentence":
            return torch.tensor([index.get(label, -100) for label in gold], dtype=torch.long)
        tensor = torch.full((len(gold), num_words), -100, dtype=torch.long)
        for i, labels in enumerate(gold):
            tensor[i, : len(labels)] = torch.tensor(
                [index.get(x, -100) for x in labels], dtype=torch.long
            )
        return tensor

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[Any]:
        """Predicted labels (strings): per sentence a list with one label per word, or one label."""
        raise NotImplementedError
