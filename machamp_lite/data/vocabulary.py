"""Label vocabularies: one per task, built from the training data and saved in the archive."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


class LabelVocabulary:
    """An ordered list of labels with a fast label -> index map."""

    def __init__(self, labels: Iterable[str]):
        self.labels: list[str] = list(dict.fromkeys(labels))
        self.index = {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: str) -> bool:
        return label in self.index

    def to_list(self) -> list[str]:
        return list(self.labels)

    @classmethod
    def from_counts(cls, counts: Counter, complete_bio: bool = False) -> LabelVocabulary:
        """Labels sorted for stable output. With ``complete_bio`` every type seen gets both its
        ``B-`` and ``I-`` label, so a CRF can produce a whole span of a type seen only as ``B-``."""
        labels = set(counts)
        if complete_bio:
            for label in list(labels):
                if label[:2] in ("B-", "I-"):
                    labels.update({"B-" + label[2:], "I-" + label[2:]})
            labels.add("O")
            return cls(["O"] + sorted(labels - {"O"}, key=lambda x: (x[2:], x[:2])))
        return cls(sorted(labels))
