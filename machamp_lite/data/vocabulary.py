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
    def from_counts(cls, counts: Counter) -> LabelVocabulary:
        """The labels counted in the training data, sorted so that every run builds the same
        vocabulary. A task's codec decides what else its vocabulary holds
        (``LabelCodec.build_vocabulary``)."""
        return cls(sorted(set(counts)))
