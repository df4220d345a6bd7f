"""The record every reader produces: one sentence's words, its labels per task, and where it came
from, so that predictions can be written back into the input's own lines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sentence:
    """One input sentence.

    ``labels`` maps a task name to a list of labels (one per word) for token-level tasks, or to
    one label for sentence-level tasks. ``line_numbers`` gives the 1-based line of each word in
    ``source`` (for sentence-level readers: the sentence's line), which the writers use to put
    predictions back in place.
    """

    words: list[str]
    labels: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line_numbers: list[int] = field(default_factory=list)
    sent_id: str | None = None
    comments: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def first_line(self) -> int:
        return self.line_numbers[0] if self.line_numbers else 0


@dataclass(frozen=True)
class TaskColumn:
    """What a reader needs to know about a task: where its label is and how to check it.

    ``level``, ``validate`` and ``width`` come from the task's label codec: ``validate`` returns
    an error message for a malformed label, or ``None``; ``width`` is the number of adjacent
    columns, ending at ``column_idx``, whose fields (joined with tabs) make up one label, e.g. 2
    for a dependency task's head and deprel.
    """

    name: str
    column_idx: int
    level: str = "token"  # "token" or "sentence"
    validate: Callable[[str], str | None] | None = None
    width: int = 1

    @property
    def columns(self) -> list[int]:
        """The label's columns, ``column_idx`` last."""
        return [self.column_idx - self.width + 1 + k for k in range(self.width)]
