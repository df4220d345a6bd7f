"""A task's label as the readers take it from a line's fields, and the one check all readers
share: the label is well-formed for its task type (the codec's ``validate``).

A label of several columns (``TaskColumn.width`` > 1) starts at ``column_idx``: MaChAmp's
convention, in which a parser's ``column_idx`` is the HEAD column (6 in CoNLL-U, as in its
``configs/ewt.json``) and the relation is read from the next one. machamp-lite once read such a
label as ending at ``column_idx`` (7 in CoNLL-U). A config written for that convention now
points at the wrong columns; :func:`misplaced_label` recognises it, so the reader stops with the
value to use instead of training on swapped columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DataError
from .sentence import TaskColumn


class ColumnIdxError(DataError):
    """A task's ``column_idx`` that does not fit the data (a multi-column label where the old
    convention put it, a sentence label outside a comment): ``advice`` is the message after the
    task's name, so that a caller that knows the dataset config can name it too."""

    def __init__(self, task: str, advice: str, path: str, line: int | None = None):
        super().__init__(f"task {task!r}: {advice}", path, line)
        self.task, self.advice = task, advice


def check_label(
    task: TaskColumn, label: str, path: str, line: int, fields: Sequence[str] | None = None
) -> None:
    """A :class:`DataError` at ``path``/``line`` when ``label`` is not a label of ``task``; with
    the line's ``fields``, a misplaced multi-column label gets :func:`misplaced_label`'s advice
    instead of the label's problem."""
    if task.validate is None:
        return
    problem = task.validate(label)
    if problem:
        advice = misplaced_label(task, fields) if fields is not None else None
        if advice:
            raise ColumnIdxError(task.name, advice, path, line)
        raise DataError(f"label {label!r} of task {task.name!r}: {problem}", path, line)


def misplaced_label(task: TaskColumn, fields: Sequence[str]) -> str | None:
    """The advice for a multi-column label that is not in the columns ``column_idx`` names but
    is in those that end there (the old convention), or None.

    Called only once the configured columns failed (missing or not a valid label), so a
    well-placed label never costs the check."""
    if task.width < 2 or task.validate is None:
        return None
    shift = task.width - 1
    start = task.column_idx - shift
    if (start < 0) != (task.column_idx < 0):
        return None  # counted from the other end: not a column of the line's own order
    older = [column - shift for column in task.columns]
    if not all(-len(fields) <= column < len(fields) for column in older):
        return None
    if task.validate("\t".join(fields[column].strip() for column in older)) is not None:
        return None
    here = (
        f"column {task.column_idx} holds {fields[task.column_idx].strip()!r}"
        if -len(fields) <= task.column_idx < len(fields)
        else f"the line has no column {task.column_idx}"
    )
    return (
        f'key "column_idx" is {task.column_idx}, and {here}: column_idx names the first of the '
        f"{task.width} columns of the label (MaChAmp's convention: a parser's HEAD column, with "
        "the relation in the next one; 6 in CoNLL-U, as in MaChAmp's configs/ewt.json). The "
        f"label is in columns {start} to {task.column_idx}, where machamp-lite's old convention "
        f'(column_idx naming the last column) read it: set "column_idx" to {start}'
    )
