"""Scores for multi-label tagging (``multiseq``): per-word exact-set accuracy and micro F1."""

from __future__ import annotations

from ..decoders.codecs import NO_LABEL, SEPARATOR
from ..registry import metrics
from .base import Metric


def label_set(value) -> frozenset[str]:
    """``"Case=Nom|Number=Sing"`` (or a list of labels) as a set; ``"_"`` is the empty set."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(value)
    if value == NO_LABEL or value == "":
        return frozenset()
    return frozenset(value.split(SEPARATOR))


@metrics.register("multi_accuracy")
class MultiLabelAccuracy(Metric):
    """``score`` (= ``accuracy``) is the fraction of words (of sentences, for a sentence-level
    task such as ``multiclas``) whose predicted label set equals the gold set exactly (order
    does not matter; ``_`` = no label). Micro precision, recall and F1
    over single labels are reported too: they give credit for partly right sets."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.words = 0
        self.exact = 0
        self.true_positives = 0
        self.gold_labels = 0
        self.predicted_labels = 0

    def update(self, gold, predicted) -> None:
        for gold_sentence, predicted_sentence in zip(gold, predicted):
            if isinstance(gold_sentence, str):  # one set per sentence (multiclas): one item
                gold_sentence, predicted_sentence = [gold_sentence], [predicted_sentence]
            if len(gold_sentence) != len(predicted_sentence):
                raise ValueError("gold and predicted sentences differ in length")
            for g, p in zip(gold_sentence, predicted_sentence):
                gold_set, predicted_set = label_set(g), label_set(p)
                self.words += 1
                self.exact += int(gold_set == predicted_set)
                self.true_positives += len(gold_set & predicted_set)
                self.gold_labels += len(gold_set)
                self.predicted_labels += len(predicted_set)

    def compute(self) -> dict:
        accuracy = self.exact / self.words if self.words else 0.0
        precision = self.true_positives / self.predicted_labels if self.predicted_labels else 0.0
        recall = self.true_positives / self.gold_labels if self.gold_labels else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "accuracy": accuracy,
            "micro_precision": precision,
            "micro_recall": recall,
            "micro_f1": f1,
            "score": accuracy,
            "total": self.words,
        }


@metrics.register("multi_acc")
class MachampMultiAccuracy(MultiLabelAccuracy):
    """MaChAmp's name for ``multi_accuracy`` (the same exact-set accuracy per word), so its
    dataset configs run unchanged."""
