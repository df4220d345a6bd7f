"""Labeled and unlabeled attachment scores for dependency parsing."""

from __future__ import annotations

from ..decoders.codecs import split_arc
from ..registry import metrics
from .base import Metric


@metrics.register("las")
class AttachmentScore(Metric):
    """UAS: the fraction of words whose head is right; LAS: head and relation both right.

    ``score`` is LAS. Every word counts, punctuation included (as in the CoNLL 2018 shared
    task), and relations are compared whole, subtypes included (``nmod:poss`` is not ``nmod``).
    Labels are the dependency task's ``"HEAD\\tDEPREL"`` strings, one per word.
    """

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.head_correct = 0
        self.both_correct = 0

    def update(self, gold, predicted) -> None:
        for gold_sentence, predicted_sentence in zip(gold, predicted):
            if len(gold_sentence) != len(predicted_sentence):
                raise ValueError("gold and predicted sentences differ in length")
            for g, p in zip(gold_sentence, predicted_sentence):
                gold_head, gold_relation = split_arc(g)
                head, relation = split_arc(p)
                self.total += 1
                if head == gold_head:
                    self.head_correct += 1
                    self.both_correct += int(relation == gold_relation)

    def compute(self) -> dict:
        uas = self.head_correct / self.total if self.total else 0.0
        las = self.both_correct / self.total if self.total else 0.0
        return {"las": las, "uas": uas, "score": las, "total": self.total}


@metrics.register("uas")
class UnlabeledAttachmentScore(AttachmentScore):
    """The same counts as ``las``, with UAS (the head alone) as ``score``: MaChAmp's ``uas``
    metric, for selecting the epoch by heads only."""

    def compute(self) -> dict:
        result = super().compute()
        return {**result, "score": result["uas"]}
