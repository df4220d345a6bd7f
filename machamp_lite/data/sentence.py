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
    predictions back in place. ``comment_lines`` gives the line of each of ``comments``, and
    ``start_line`` the line the sentence's block starts on (a comment, a CoNLL-U multiword token
    or its first word; 0 when the reader does not say), so that a sentence label kept in a
    comment (``# intent: X``) is written back into that comment, or into a new one that goes
    where the format allows it. ``segments`` gives the first word of each text of a sentence
    pair (text read from several columns, MaChAmp's ``sent_idxs``), which the encoder joins with
    the tokenizer's pair template; None for one text. ``context`` holds words the encoder reads
    after the sentence (its pair template's second text) but gives no vectors, predictions or
    loss: neighbouring or retrieved text; None for none.
    """

    words: list[str]
    labels: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    line_numbers: list[int] = field(default_factory=list)
    sent_id: str | None = None
    comments: list[str] = field(default_factory=list)
    comment_lines: list[int] = field(default_factory=list)
    start_line: int = 0
    segments: list[int] | None = None
    context: list[str] | None = None

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
    columns, starting at ``column_idx``, whose fields (joined with tabs) make up one label, e.g.
    2 for a parser's HEAD and DEPREL. Starting there is MaChAmp's convention (its ``ewt.json``
    names the HEAD column, 6 in CoNLL-U, and reads the relation from the next one), so that
    MaChAmp's dataset configs work unchanged.
    """

    name: str
    column_idx: int
    level: str = "token"  # "token" or "sentence"
    validate: Callable[[str], str | None] | None = None
    width: int = 1
    # The label's columns when a task names them in a list (``probdistr``'s ``column_idxs``, in
    # any order and not necessarily adjacent); empty: ``width`` columns from ``column_idx``.
    column_list: tuple[int, ...] = ()

    @property
    def columns(self) -> list[int]:
        """The label's columns, ``column_idx`` first."""
        if self.column_list:
            return list(self.column_list)
        return [self.column_idx + k for k in range(self.width)]
