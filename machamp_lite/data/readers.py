"""The built-in readers (CoNLL-like column files, CoNLL-U, one-sentence-per-line TSV) and the
choice of one for a file whose dataset names none.

Readers know file formats and nothing about models. Each returns ``Sentence`` records that keep
the line number of every word, and says how predictions go back into those lines: the protocol
(:class:`Reader`, :class:`WriterSettings`, from ``reader_base`` and importable from here) lets
prediction, dev-prediction writing and evaluation ask the reader instead of switching on its
name or on a file suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import DataError
from ..registry import readers
from .reader_base import Reader, WriterSettings
from .reader_base import reader_from_dataset as reader_from_dataset
from .sentence import Sentence, TaskColumn
from .text import EncodingError as EncodingError
from .text import (
    NoSentencesError,
    gc_paused,
    head_lines,
    iter_lines,
    label_on_word,
    min_width,
    read_text,
    split_fields,
    stream_lines,
)
from .text import check_encoding_option as check_encoding_option

# A line that starts a sentence and matches this is a comment, not a token. It covers MultiCoNER
# (`# id <uuid>\tdomain=...`), CoNLL-U (`# sent_id = ...`, `# text = ...`), GermEval
# (`#\thttp://...\t[2005-10-27]\t`, also `#\tberlinonline.de vom 27.10.2005\t[2005-10-27]\t`) and a
# bare `#`, while `# _ _ O` and `#\tO` stay tokens: `#` is a real token in MultiCoNER and WikiANN.
DEFAULT_COMMENT_REGEX = (
    r"^#(\s*$|\s+(id|sent_id|text|newdoc|newpar|doc_id)\b|\s*[\w.-]+\s*=|\t\S+://"
    r"|\t.*\t\[\d{4}-\d\d-\d\d\]\s*$)"
)


def detect_reader(path: str | None, encoding: str = "utf-8", sentence_level: bool = False) -> str:
    """The name of the built-in reader for a file whose dataset names none: the reader whose
    suffix the file has (``.conllu``), else ``sentence_tsv`` for sentence-level tasks, else
    the reader that recognises the file's first lines (CoNLL-U without its suffix, such as
    MaChAmp's ``data/ewt.train``), else ``column``. Without a path only the level decides."""
    lowered = str(path).lower() if path is not None else ""
    for reader_class in DETECTED:
        if lowered.endswith(reader_class.suffixes):
            return reader_class.registered_name
    if sentence_level:
        return "sentence_tsv"
    lines = head_lines(str(path), encoding) if path is not None else []
    for reader_class in DETECTED:
        if reader_class.recognises(lines):
            return reader_class.registered_name
    return "column"


def _check_label(task: TaskColumn, label: str, path: str, line: int) -> None:
    if task.validate is None:
        return
    problem = task.validate(label)
    if problem:
        raise DataError(f"label {label!r} of task {task.name!r}: {problem}", path, line)


@readers.register("column")
class ColumnReader(Reader):
    """CoNLL/TSV: one token per line, one word column and one label column per task, blank lines
    between sentences (runs of blank lines too), comment lines before a sentence."""

    streams = True  # iter_read reads the file as it goes

    # What a too-short line of a tab-separated file advises (evaluate names its option).
    separator_advice = 'set "separator": "whitespace" if the columns are separated by spaces'

    def __init__(
        self,
        word_idx: int = 0,
        separator: str = "whitespace",
        encoding: str = "utf-8",
        comment_regex: str | None = None,
        skip_first_line: bool = False,
    ):
        self.word_idx = word_idx
        self.separator = separator
        self.encoding = encoding
        self.comment = re.compile(comment_regex or DEFAULT_COMMENT_REGEX)
        # MaChAmp's key for a header row (column names) at the top of each file.
        self.skip_first_line = skip_first_line

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        text = read_text(path, self.encoding)
        with gc_paused():
            sentences = list(
                self.parse(enumerate(text.split("\n"), start=1), path, tasks, require_labels)
            )
        if not sentences:
            raise NoSentencesError("no sentences found (only blank or comment lines)", path)
        return sentences

    def iter_read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> Iterator[Sentence]:
        """The sentences of a file one by one, reading the file as they are consumed, so that
        a file of any size is predicted in bounded memory."""
        found = False
        for sentence in self.parse(stream_lines(path, self.encoding), path, tasks, require_labels):
            found = True
            yield sentence
        if not found:
            raise NoSentencesError("no sentences found (only blank or comment lines)", path)

    def parse(
        self,
        lines: Iterable[tuple[int, str]],
        path: str,
        tasks: Sequence[TaskColumn],
        require_labels: bool = True,
    ) -> Iterator[Sentence]:
        """Sentences from numbered lines (a line may still end in a carriage return)."""
        token_tasks = [t for t in tasks if t.level == "token"]
        label_columns = [c for t in token_tasks for c in t.columns] if require_labels else []
        width = min_width([self.word_idx], label_columns)
        words: list[str] = []
        numbers: list[int] = []
        comments: list[str] = []
        labels: dict[str, list[str]] = {t.name: [] for t in token_tasks}

        def finish() -> Sentence:
            sentence = Sentence(words, {}, path, numbers, _sentence_id(comments), comments)
            if require_labels:
                sentence.labels = dict(labels)
            return sentence

        # The loop below runs once per token line (2.7M lines for the seven MultiCoNER train
        # sets), so it avoids per-line work that does not depend on the line: the field-count
        # check is cached per count, and each distinct label is validated only once per task.
        tab = self.separator == "tab"
        word_idx = self.word_idx
        comment_match = self.comment.match
        label_tasks: list[tuple[str, TaskColumn, list[int], set[str]]] = (
            [(t.name, t, t.columns, set()) for t in token_tasks] if require_labels else []
        )
        bad_count: dict[int, bool] = {}
        skip = 1 if self.skip_first_line else 0
        for number, line in lines:
            if number <= skip:
                continue  # the header row; the writer copies it through unchanged
            if line.endswith("\r"):
                line = line[:-1]
            if not line.strip():
                if words:
                    yield finish()
                    words, numbers, comments = [], [], []
                    labels = {t.name: [] for t in token_tasks}
                elif comments and not words:
                    comments = []
                continue
            if not words and comment_match(line):
                comments.append(line)
                continue
            fields = split_fields(line, self.separator, width) if tab else line.split()
            count = len(fields)
            bad = bad_count.get(count)
            if bad is None:
                bad = bad_count[count] = count < width or label_on_word(
                    count, [word_idx], label_columns
                )
            if bad:
                raise DataError(
                    f"expected at least {width} columns "
                    f"(word column {word_idx}"
                    + "".join(
                        f", task {t.name!r} column {t.column_idx}"
                        for t in token_tasks
                        if require_labels
                    )
                    + f"), found {count}"
                    + (f' (the separator is "tab"; {self.separator_advice})' if tab else ""),
                    path,
                    number,
                )
            words.append(fields[word_idx].strip() if tab else fields[word_idx])
            numbers.append(number)
            for name, task, columns, valid in label_tasks:
                if len(columns) == 1:
                    label = fields[columns[0]].strip()
                else:
                    label = "\t".join(fields[c].strip() for c in columns)
                if label not in valid:
                    _check_label(task, label, path, number)
                    valid.add(label)
                labels[name].append(label)
        if words:
            yield finish()


def _sentence_id(comments: list[str]) -> str | None:
    for comment in comments:
        match = re.match(r"^#\s*(?:sent_id\s*=|id\b)\s*(\S+)", comment)
        if match:
            return match.group(1)
    return None


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
        lacks, and -1 is the MISC column of the ten."""
        return WriterSettings("tab", self.encoding, self.word_idx, "_", len(CONLLU_FIELDS))

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
        words, numbers, comments = [], [], []
        labels: dict[str, list[str]] = {t.name: [] for t in token_tasks}
        for number, line in enumerate(block, start=start + 1):
            if line.strip().startswith("#"):  # as conllu reads it: stripped, then "#"
                comments.append(line)
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
            if not require_labels:
                continue
            for task in token_tasks:
                values = []
                for column in task.columns:
                    if not -len(CONLLU_FIELDS) <= column < len(CONLLU_FIELDS):
                        raise DataError(
                            f"task {task.name!r}: column {column} is not one of the ten "
                            "CoNLL-U columns (0-9, or -10 to -1 counted from the end)",
                            path,
                            number,
                        )
                    column %= len(CONLLU_FIELDS)
                    if column >= len(fields):
                        raise DataError(
                            f"expected the ten tab-separated CoNLL-U columns; column "
                            f"{column} ({CONLLU_FIELDS[column]}) of task {task.name!r} is missing",
                            path,
                            number,
                        )
                    values.append(fields[column].strip())
                label = "\t".join(values)
                _check_label(task, label, path, number)
                labels[task.name].append(label)
        if not words:
            return None
        sent_id = parsed[0].metadata.get("sent_id") if parsed else None
        return Sentence(words, labels if require_labels else {}, path, numbers, sent_id, comments)


@readers.register("sentence_tsv")
class SentenceTsvReader(Reader):
    """One instance per line, tab-separated: text columns (``sent_idxs``) and label columns.
    The text is split on whitespace into words; used by sentence-level tasks."""

    def __init__(
        self,
        sent_idxs: Sequence[int] = (0,),
        encoding: str = "utf-8",
        skip_first_line: bool = False,
    ):
        self.sent_idxs = list(sent_idxs)
        self.encoding = encoding
        self.skip_first_line = skip_first_line  # MaChAmp's key for a header row

    def writer_settings(self) -> WriterSettings:
        """Tab-separated; a label column added to a short line goes after the text columns."""
        return WriterSettings("tab", self.encoding, max(self.sent_idxs, default=0))

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        text = read_text(path, self.encoding)
        sentences = []
        for number, line in iter_lines(text):
            if not line.strip() or (number == 1 and self.skip_first_line):
                continue
            label_columns = [c for t in tasks for c in t.columns] if require_labels else []
            width = min_width(self.sent_idxs, label_columns)
            fields = split_fields(line, "tab", width)
            if len(fields) < width or label_on_word(len(fields), self.sent_idxs, label_columns):
                raise DataError(
                    f"expected at least {width} tab-separated columns, found {len(fields)}",
                    path,
                    number,
                )
            words = " ".join(fields[i] for i in self.sent_idxs).split()
            if not words:
                raise DataError("the text columns are empty", path, number)
            labels = {}
            if require_labels:
                for task in tasks:
                    label = "\t".join(fields[c].strip() for c in task.columns)
                    _check_label(task, label, path, number)
                    labels[task.name] = label
            sentences.append(Sentence(words, labels, path, [number] * len(words)))
        if not sentences:
            raise NoSentencesError("no sentences found", path)
        return sentences


# The readers ``detect_reader`` may choose by a file's suffix or content, in this order.
DETECTED = (ConlluReader,)
