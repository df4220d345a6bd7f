"""``tok``: learned word segmentation (MaChAmp's task type), a softmax per *piece* of the raw
text over ``split`` (a token ends here) and ``merge``; see :mod:`machamp_lite.segmentation` for
the pieces and how a dataset with a tok task is read. Scored by accuracy over pieces, as
MaChAmp does; ``token_f1`` scores the tokens the labels make, as the CoNLL 2018 scorer's
Tokens metric does (a token is right when its start and end are)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..data.vocabulary import LabelVocabulary
from ..metrics.base import Metric
from ..registry import decoders, metrics
from ..segmentation import MERGE, PIECES_READER, SPLIT
from .codecs import LabelCodec
from .softmax_tagger import SoftmaxTagger


class SegmentationCodec(LabelCodec):
    """``split``/``merge`` per piece. ``view_reader`` names the reader that gives the task its
    pieces: configs are split so that the task's dataset is read with it."""

    view_reader = PIECES_READER

    def __init__(self) -> None:
        super().__init__(level="token")

    def validate(self, label: str) -> str | None:
        if label not in (SPLIT, MERGE):
            return f"a segmentation label is {SPLIT!r} or {MERGE!r}, got {label!r}"
        return None

    def build_vocabulary(self, counts: Counter) -> LabelVocabulary:
        """Both labels always: a training set of one-piece tokens still gives a model that can
        merge (and the vocabulary does not depend on the data)."""
        return LabelVocabulary([MERGE, SPLIT])


@decoders.register("tok")
class Segmenter(SoftmaxTagger):
    """A softmax per piece: does a token end with this piece (``split``) or go on (``merge``)."""

    codec = SegmentationCodec()
    default_metric = "accuracy"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        pre_split: bool = True,
    ):
        """``pre_split`` (MaChAmp's key, true in its defaults): a space always ends a token
        when raw text is segmented; false lets a ``merge`` label join pieces across a space
        (UD tokens with spaces inside), which the model must then learn."""
        super().__init__(input_dim, vocabulary, dropout)
        self.pre_split = pre_split


def token_ends(labels: Sequence[str]) -> set[int]:
    """The piece indices where tokens end; the last piece always ends one."""
    ends = {i for i, label in enumerate(labels) if label != MERGE}
    if labels:
        ends.add(len(labels) - 1)
    return ends


def token_set(labels: Sequence[str]) -> set[tuple[int, int]]:
    """The tokens as (first piece, last piece)."""
    tokens, start = set(), 0
    for end in sorted(token_ends(labels)):
        tokens.add((start, end))
        start = end + 1
    return tokens


@metrics.register("token_f1")
class TokenF1(Metric):
    """Precision, recall and F1 of the tokens that ``split``/``merge`` labels make: a predicted
    token counts when a gold token has the same first and last piece (pieces are fixed spans of
    the text, so that is the same character span). ``score`` is the F1."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = self.gold = self.predicted = 0

    def update(self, gold: Sequence[Any], predicted: Sequence[Any]) -> None:
        for gold_labels, predicted_labels in zip(gold, predicted):
            if len(gold_labels) != len(predicted_labels):
                raise ValueError("gold and predicted sentences differ in length")
            gold_tokens, predicted_tokens = token_set(gold_labels), token_set(predicted_labels)
            self.correct += len(gold_tokens & predicted_tokens)
            self.gold += len(gold_tokens)
            self.predicted += len(predicted_tokens)

    def compute(self) -> dict[str, Any]:
        precision = self.correct / self.predicted if self.predicted else 0.0
        recall = self.correct / self.gold if self.gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "score": f1}
