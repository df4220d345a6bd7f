"""The CoNLL-U reader: Universal Dependencies files, with or without the ``.conllu`` suffix.

UD's own files, and MaChAmp's copies of them (``data/ewt.train``), hold lines that are not
words: multiword tokens (``2-3 cannot``) and empty nodes (``5.1 ate``). They stay in the file
and are not words, so every task sees the syntactic words, heads count those words, and the
writer copies the other lines through unchanged. Comments are kept with their line numbers: a
sentence-level task reads its label from one (``# intent = X``, :mod:`.comment_labels`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import DataError
from ..registry import readers
from .comment_labels import CommentTasks
from .label_columns import check_label
from .reader_base import Reader, WriterSettings
from .sentence import Sentence, TaskColumn
from .text import NoSentencesError, iter_lines, read_text

_WORD_ID = re.compile(r"[1-9][0-9]*")
_NON_WORD_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*")
_OTHER_ID = re.compile(_NON_WORD_ID.pattern + "|_")
CONLLU_FIELDS = ["id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc"]


@readers.register("conllu")
class ConlluReader(Reader):
    """CoNLL-U through the ``conllu`` package; multiword-token and empty-node lines are kept in
    the file but are not words. ``column_idx`` counts the ten CoNLL-U columns from 0 (form = 1)."""

    suffixes = (".conllu",)

    def __init__(self, word_idx: int = 1, encoding: str = "utf-8"):
        self.word_idx = word_idx
        self.encoding = encoding

    @classmethod
    def settings_from_dataset(cls, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """The dataset's ``word_idx`` 0, the column files' default, means the FORM (1) here:
        column 0 holds the word IDs."""
        settings = super().settings_from_dataset(dataset)
        if settings.get("word_idx") == 0:
            del settings["word_idx"]
        return settings

    def writer_settings(self) -> WriterSettings:
        """Tab-separated (a FORM may hold spaces); a short line gets ``_`` in the columns it
        lacks, -1 is the MISC column of the ten, and sentence labels go into comments."""
        return WriterSettings(
            "tab", self.encoding, self.word_idx, "_", len(CONLLU_FIELDS), comment_labels=True
        )

    @staticmethod
    def recognises(lines: Iterable[str]) -> bool:
        """Whether the first lines of a file are CoNLL-U: every line that is neither blank nor a
        ``#`` comment has the ten tab-separated columns and an ID (``1``, a range ``1-2``, an
        empty node ``1.1``), and each sentence numbers its words from 1. A column file, even
        one of ten tab-separated columns, rarely numbers its first column so."""
        words, expected = 0, 1  # the ID the next word must have; 1 after a blank line
        for line in lines:
            if not line.strip():
                expected = 1
            elif not line.lstrip().startswith("#"):
                fields = line.split("\t")
                if len(fields) != len(CONLLU_FIELDS):
                    return False
                if fields[0] == str(expected):
                    words, expected = words + 1, expected + 1
                elif not _NON_WORD_ID.fullmatch(fields[0]):
                    return False
        return words > 0

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        import conllu

        text = read_text(path, self.encoding)
        lines = [line for _, line in iter_lines(text)]
        in_comments = CommentTasks(tasks, path)
        sentences: list[Sentence] = []
        start = 0
        while start < len(lines):
            while start < len(lines) and not lines[start].strip():
                start += 1
            end = start
            while end < len(lines) and lines[end].strip():
                end += 1
            if end > start:
                sentence = self._parse_block(conllu, lines, start, end, path, tasks, require_labels)
                if sentence is not None:
                    if require_labels and in_comments:
                        sentence.labels.update(
                            in_comments.labels(
                                sentence.comments, sentence.comment_lines, sentence.first_line
                            )
                        )
                    sentences.append(sentence)
            start = end
        if not sentences:
            raise NoSentencesError("no sentences found", path)
        return sentences

    def _parse_block(
        self, conllu, lines, start, end, path, tasks, require_labels
    ) -> Sentence | None:
        """The sentence of lines ``start:end`` (no blank line among them), or None when the
        block has no words (only comments, multiword tokens or empty nodes).

        The ``conllu`` package checks the block; words and labels are then taken from the
        lines' own tab-separated fields, so that they are the file's text (a MISC ``B-PER`` stays
        ``B-PER``) and each word keeps the number of the line it is on."""
        block = lines[start:end]
        try:
            parsed = conllu.parse("\n".join(block) + "\n\n")
        except Exception as error:  # conllu raises several types for malformed input
            raise DataError(f"not valid CoNLL-U: {error}", path, start + 1) from None
        token_tasks = [t for t in tasks if t.level == "token"]
        words, numbers, comments, comment_lines = [], [], [], []
        labels: dict[str, Any] = {t.name: [] for t in token_tasks}
        for number, line in enumerate(block, start=start + 1):
            if line.strip().startswith("#"):  # as conllu reads it: stripped, then "#"
                comments.append(line)
                comment_lines.append(number)
                continue
            fields = line.rstrip().split("\t")
            word_id = fields[0].strip()
            if not _WORD_ID.fullmatch(word_id):
                if _OTHER_ID.fullmatch(word_id):
                    continue  # a multiword token or an empty node: in the file, not a word
                raise DataError(
                    f"not valid CoNLL-U: the ID {word_id!r} is not a word number (1, 2, ...), "
                    "a multiword range (1-2) or an empty node (1.1); the ten columns are "
                    "separated by tabs",
                    path,
                    number,
                )
            if not 0 <= self.word_idx < min(len(fields), len(CONLLU_FIELDS)):
                raise DataError(
                    f"expected the ten tab-separated CoNLL-U columns; the word column "
                    f"{self.word_idx} is missing",
                    path,
                    number,
                )
            words.append(fields[self.word_idx])
            numbers.append(number)
            if require_labels:
                for task in token_tasks:
                    values = [_field(fields, c, task, path, number) for c in task.columns]
                    label = "\t".join(values)
                    check_label(task, label, path, number, fields)
                    labels[task.name].append(label)
        if not words:
            return None
        sent_id = parsed[0].metadata.get("sent_id") if parsed else None
        return Sentence(
            words,
            labels if require_labels else {},
            path,
            numbers,
            sent_id,
            comments,
            comment_lines,
            start + 1,
        )


def _field(fields: list[str], column: int, task: TaskColumn, path: str, number: int) -> str:
    """Column ``column`` (negative: from the end of the ten) of a word line, stripped."""
    if not -len(CONLLU_FIELDS) <= column < len(CONLLU_FIELDS):
        raise DataError(
            f"task {task.name!r}: column {column} is not one of the ten CoNLL-U columns (0-9, "
            "or -10 to -1 counted from the end)",
            path,
            number,
        )
    column %= len(CONLLU_FIELDS)
    if column >= len(fields):
        raise DataError(
            f"expected the ten tab-separated CoNLL-U columns; column {column} "
            f"({CONLLU_FIELDS[column]}) of task {task.name!r} is missing",
            path,
            number,
        )
    return fields[column].strip()
