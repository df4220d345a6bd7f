"""``probdistr``: a probability distribution over labels per sentence, read from several
columns (MaChAmp's ``column_idxs``)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch
from torch.nn import functional

from ..data.vocabulary import LabelVocabulary
from ..registry import decoders
from .base import LinearDecoder
from .codecs import LabelCodec

# How far from 1 the values of a distribution may sum (rounded data: 0.33 + 0.33 + 0.33).
DISTRIBUTION_TOLERANCE = 0.01


def distribution_values(label: str) -> list[float]:
    """The probabilities of a ``probdistr`` label (its columns' values joined with tabs)."""
    return [float(value) for value in label.split("\t")]


def distribution_problem(label: str) -> str | None:
    """Why ``label`` (tab-joined values of a task's ``column_idxs``) is not a probability
    distribution, or None."""
    if label == "" or all(value.strip() == "" for value in label.split("\t")):
        return "the label is empty"
    fields = label.split("\t")
    for position, field in enumerate(fields):
        try:
            value = float(field)
        except ValueError:
            return (
                f"value {position + 1} of {len(fields)} ({field!r}) is not a number; each column "
                "of column_idxs holds a probability (e.g. 0.25)"
            )
        if not math.isfinite(value) or value < 0:
            return (
                f"value {position + 1} of {len(fields)} ({field}) is not a probability (a finite "
                "number of at least 0)"
            )
    total = sum(float(field) for field in fields)
    if abs(total - 1.0) > DISTRIBUTION_TOLERANCE + 1e-9:  # 0.33 * 3 is 0.99 within rounding
        return (
            f"the values sum to {total:.6g}, not 1 (within {DISTRIBUTION_TOLERANCE}); the "
            "columns of column_idxs must hold one probability distribution"
        )
    return None


class DistributionCodec(LabelCodec):
    """A probability distribution per sentence (``probdistr``), read from the several columns
    a task names in ``column_idxs`` (MaChAmp's key) and joined with tabs, as a parser's HEAD
    and DEPREL are: the reader checks each row (numbers, none negative, summing to 1 within
    ``DISTRIBUTION_TOLERANCE``) and the writer splits a prediction back into those columns.

    ``columns_key`` tells the configs and the readers that the task's label comes from a list
    of columns. The vocabulary is the positions in that list (``"0"``, ``"1"``, ...), so the
    decoder has one output per column without being told the columns. A row within the
    tolerance is renormalised to sum to exactly 1 when it becomes a tensor; the gold labels
    themselves are kept as read.
    """

    columns_key = "column_idxs"

    def __init__(self) -> None:
        super().__init__(level="sentence")

    def validate(self, label: str) -> str | None:
        return distribution_problem(label)

    def vocabulary_items(self, targets: Any) -> list[Any]:
        return [str(position) for position in range(len(str(targets).split("\t")))]

    def build_vocabulary(self, counts: Counter) -> LabelVocabulary:
        return LabelVocabulary(sorted(counts, key=int))

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """``[sentences, columns]``: each row's probabilities, divided by their sum."""
        rows = [distribution_values(label) for label in targets]
        for row in rows:
            if len(row) != len(vocabulary):
                raise ValueError(
                    f"a distribution of {len(row)} values for a task of {len(vocabulary)} columns"
                )
        tensor = torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(vocabulary))
        return tensor / tensor.sum(dim=1, keepdim=True).clamp(min=1e-12)


def format_probability(value: float) -> str:
    """A probability as written back into its column: 6 significant digits, as Python writes
    the rounded float (``0.25``, ``0.731059``, ``1e-07``), so a row still sums to 1 within the
    reader's tolerance and the file reads back."""
    return repr(float(f"{value:.6g}"))


@decoders.register("probdistr")
class DistributionClassifier(LinearDecoder):
    """A softmax over the task's columns from the sentence's first position (as
    ``classification`` reads it), trained to match the gold distribution.

    The loss is the Kullback-Leibler divergence KL(gold || predicted) of each sentence,
    averaged over sentences. MaChAmp's docs name KL and its code computes the soft cross-entropy
    (summed over the batch); the two differ by the gold distribution's entropy, a constant, so
    their gradients are the same, and KL is 0 for a perfect fit, which makes the logged loss
    readable. The mean over sentences is the project's one reduction.

    Predictions are the softmax probabilities, written back into the task's columns (MaChAmp
    writes the raw logits there, which do not read back as a distribution).
    """

    codec = DistributionCodec()
    default_metric = "distribution_accuracy"
    # MaChAmp's "accuracy" on this task type is accuracy over the most likely column (the
    # default_decoder metric of its parameter files), not equality of whole distributions.
    metric_aliases = {"accuracy": "distribution_accuracy"}

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        logits = self.projection(self.dropout(vectors[:, 0])).float()
        log_predicted = functional.log_softmax(logits, dim=-1)
        per_column = functional.kl_div(log_predicted, gold.to(logits.dtype), reduction="none")
        return per_column.sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[str]:
        probabilities = torch.softmax(self.projection(vectors[:, 0]).float(), dim=-1).tolist()
        return ["\t".join(format_probability(p) for p in row) for row in probabilities]
