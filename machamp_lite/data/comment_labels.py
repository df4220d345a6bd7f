"""Sentence labels kept in comments of word-per-line files, as MaChAmp keeps them.

MaChAmp trains a word-level task and a sentence-level task from one file by storing the
sentence's label in a comment before its words: ``configs/nlu.json`` reads the slots from a
column of an xSID file and the intent, a ``classification`` task with ``column_idx`` -1, from
the line ``# intent: alarm/set_alarm`` (the comment's key is the task's name; xSID 0.6 writes
``# intent = alarm/set_alarm``, and so do MaChAmp's predictions). The readers of word-per-line
files (``column``, ``conllu``) read any sentence-level task this way and the writers put the
prediction back into that comment, so nothing here knows a task type: the codec's level
decides.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import DataError
from .label_columns import ColumnIdxError
from .sentence import Sentence, TaskColumn

# The column_idx that says "in a comment", as in MaChAmp: the only one a sentence-level task of
# a word-per-line file may have (a word line has no column for a sentence's label).
IN_COMMENT = -1


def _key_pattern(names: Sequence[str]) -> re.Pattern[str]:
    """``# NAME:`` or ``# NAME =`` (spaces optional) for one of ``names``; the value follows."""
    keys = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.compile(rf"#\s*(?P<key>{keys})\s*[:=][ \t]*")


def value_of(comment: str, task: str) -> str | None:
    """The label ``comment`` gives ``task`` (``# intent: X`` or ``# intent = X``), or None when
    it is not that task's comment. As in MaChAmp the value ends at the first tab."""
    found = _key_pattern([task]).match(comment)
    if found is None:
        return None
    return comment[found.end() :].split("\t", 1)[0].strip()


def with_value(comment: str, task: str, label: str) -> str:
    """``comment`` (``task``'s own) with its value replaced by ``label``; the key, its
    separator and anything after a tab stay as they were, so the output reads like the input."""
    found = _key_pattern([task]).match(comment)
    if found is None:
        raise ValueError(f"{comment!r} is not a comment of task {task!r}")
    rest = comment[found.end() :]
    tail = rest[rest.index("\t") :] if "\t" in rest else ""
    return comment[: found.end()] + label + tail


def new_comment(task: str, label: str) -> str:
    """The comment a sentence without one gets: ``# TASK = LABEL``, the form MaChAmp's
    predictions and CoNLL-U comments use (both readers read it back)."""
    return f"# {task} = {label}"


class CommentTasks:
    """The sentence-level tasks of a word-per-line dataset: each reads its label from a comment
    before the sentence, so each must have ``column_idx`` -1 (MaChAmp's convention)."""

    def __init__(self, tasks: Sequence[TaskColumn], path: str):
        self.tasks = [task for task in tasks if task.level == "sentence"]
        for task in self.tasks:
            if task.column_idx != IN_COMMENT:
                raise ColumnIdxError(
                    task.name,
                    f'key "column_idx" is {task.column_idx}, but a sentence-level task of a file '
                    "of one word per line reads its label from a comment before each sentence "
                    f"('# {task.name}: LABEL', as in MaChAmp), not from a column: set "
                    '"column_idx" to -1',
                    path,
                )
        self.path = path
        names = [task.name for task in self.tasks]
        self._match = _key_pattern(names).match if names else None

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def is_label_comment(self, line: str) -> bool:
        """Whether ``line`` is a comment of one of the tasks. Such a line is a comment even where
        the dataset's ``comment_regex`` would not say so: the config names it."""
        return self._match is not None and self._match(line) is not None

    def labels(self, comments: Sequence[str], lines: Sequence[int], first_word: int) -> dict:
        """Each task's label from a sentence's comments (the last one wins where several give
        it, as in MaChAmp); a sentence without one is an error at its first word's line."""
        found = {}
        for task in self.tasks:
            label, where = None, first_word
            for comment, number in zip(comments, lines):
                value = value_of(comment, task.name)
                if value is not None:
                    label, where = value, number
            if label is None:
                raise DataError(
                    f"task {task.name!r} is read from a comment before each sentence "
                    f"(column_idx -1, as in MaChAmp), and this sentence has none: add a line "
                    f"'# {task.name}: LABEL' (or '# {task.name} = LABEL') before its words",
                    self.path,
                    first_word,
                )
            if label == "":
                raise DataError(f"the comment of task {task.name!r} has no label", self.path, where)
            problem = task.validate(label) if task.validate else None
            if problem:
                raise DataError(
                    f"label {label!r} of task {task.name!r}: {problem}", self.path, where
                )
            found[task.name] = label
        return found


def comment_edits(
    sentences: Sequence[Sentence], predictions: dict[str, Sequence[str]]
) -> dict[int, list[tuple[str, str, str]]]:
    """{line number: [(how, task, label), ...]} putting each sentence's predicted labels into
    its comments: ``replace`` the value of each comment of the task, or, for a sentence without
    one, a new comment ``after`` its last comment or ``before`` its first line (never between a
    CoNLL-U multiword token and its words)."""
    edits: dict[int, list[tuple[str, str, str]]] = {}
    for task, labels in predictions.items():
        for sentence, label in zip(sentences, labels):
            own = [
                number
                for comment, number in zip(sentence.comments, sentence.comment_lines)
                if value_of(comment, task) is not None
            ]
            for number in own:
                edits.setdefault(number, []).append(("replace", task, label))
            if own:
                continue
            if sentence.comment_lines:
                edits.setdefault(max(sentence.comment_lines), []).append(("after", task, label))
            else:
                start = sentence.start_line or sentence.first_line
                edits.setdefault(start, []).append(("before", task, label))
    return edits
