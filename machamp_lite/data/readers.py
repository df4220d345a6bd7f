"""The built-in readers (CoNLL-like column files, one-sentence-per-line TSV; CoNLL-U lives in
``conllu_reader`` and is importable from here) and the choice of one for a file whose dataset
names none.

Readers know file formats and nothing about models. Each returns ``Sentence`` records that keep
the line number of every word, and says how predictions go back into those lines: the protocol
(:class:`Reader`, :class:`WriterSettings`, from ``reader_base`` and importable from here) lets
prediction, dev-prediction writing and evaluation ask the reader instead of switching on its
name or on a file suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate

from ..errors import DataError
from ..registry import readers
from .comment_labels import CommentTasks
from .conllu_reader import CONLLU_FIELDS as CONLLU_FIELDS
from .conllu_reader import ConlluReader
from .label_columns import ColumnIdxError, check_label, misplaced_label
from .raw_lines import RawLinesReader as RawLinesReader  # registers raw_lines
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


@readers.register("column")
class ColumnReader(Reader):
    """CoNLL/TSV: one token per line, one word column and one label column per task, blank lines
    between sentences (runs of blank lines too), comment lines before a sentence (which hold the
    labels of sentence-level tasks, as in MaChAmp's NLU data)."""

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

    def writer_settings(self) -> WriterSettings:
        """The reader's separator, encoding and word column; sentence labels go into the
        comments they were read from."""
        return WriterSettings(self.separator, self.encoding, self.word_idx, comment_labels=True)

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
        """Sentences from numbered lines (a line may still end in a carriage return).

        Sentence-level tasks read their labels from comments before the words (MaChAmp's
        ``# intent: X``, :mod:`.comment_labels`); a task's comment is a comment whatever the
        ``comment_regex``."""
        token_tasks = [t for t in tasks if t.level == "token"]
        for task in tasks:
            if task.level == "sentence" and task.column_list:
                raise ColumnIdxError(
                    task.name,
                    'key "column_idxs": a label read from several columns is read from files of '
                    'one sentence per line (the "sentence_tsv" reader, text in "sent_idxs"), '
                    "not from a file of one word per line, whose sentence labels are comments",
                    path,
                )
        in_comments = CommentTasks(tasks, path)
        label_columns = [c for t in token_tasks for c in t.columns] if require_labels else []
        width = min_width([self.word_idx], label_columns)
        words: list[str] = []
        numbers: list[int] = []
        comments: list[str] = []
        comment_lines: list[int] = []
        labels: dict[str, list[str]] = {t.name: [] for t in token_tasks}

        def finish() -> Sentence:
            start = comment_lines[0] if comment_lines else numbers[0]
            sentence = Sentence(
                words, {}, path, numbers, _sentence_id(comments), comments, comment_lines, start
            )
            if require_labels:
                sentence.labels = dict(labels)
                if in_comments:
                    sentence.labels.update(in_comments.labels(comments, comment_lines, numbers[0]))
            return sentence

        # The loop below runs once per token line (2.7M lines for the seven MultiCoNER train
        # sets), so it avoids per-line work that does not depend on the line: the field-count
        # check is cached per count, and each distinct label is validated only once per task.
        tab = self.separator == "tab"
        word_idx = self.word_idx
        comment_match = self.comment.match
        label_comment = in_comments.is_label_comment
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
                    words, numbers, comments, comment_lines = [], [], [], []
                    labels = {t.name: [] for t in token_tasks}
                elif comments and not words:
                    comments, comment_lines = [], []
                continue
            if not words and (comment_match(line) or label_comment(line)):
                comments.append(line)
                comment_lines.append(number)
                continue
            fields = split_fields(line, self.separator, width) if tab else line.split()
            count = len(fields)
            bad = bad_count.get(count)
            if bad is None:
                bad = bad_count[count] = count < width or label_on_word(
                    count, [word_idx], label_columns
                )
            if bad:
                self._too_few_columns(fields, path, number, width, label_tasks)
            words.append(fields[word_idx].strip() if tab else fields[word_idx])
            numbers.append(number)
            for name, task, columns, valid in label_tasks:
                if len(columns) == 1:
                    label = fields[columns[0]].strip()
                else:
                    label = "\t".join(fields[c].strip() for c in columns)
                if label not in valid:
                    check_label(task, label, path, number, fields)
                    valid.add(label)
                labels[name].append(label)
        if words:
            yield finish()

    def _too_few_columns(self, fields, path, number, width, label_tasks) -> None:
        """The error for a line without the word column or a label column: a multi-column label
        configured in the old convention gets the column_idx to use instead."""
        for _, task, _, _ in label_tasks:
            advice = misplaced_label(task, fields)
            if advice:
                raise ColumnIdxError(task.name, advice, path, number)
        tab = self.separator == "tab"
        raise DataError(
            f"expected at least {width} columns (word column {self.word_idx}"
            + "".join(f", task {t.name!r} column {t.column_idx}" for _, t, _, _ in label_tasks)
            + f"), found {len(fields)}"
            + (f' (the separator is "tab"; {self.separator_advice})' if tab else ""),
            path,
            number,
        )


def _sentence_id(comments: list[str]) -> str | None:
    for comment in comments:
        match = re.match(r"^#\s*(?:sent_id\s*=|id\b)\s*(\S+)", comment)
        if match:
            return match.group(1)
    return None


@readers.register("sentence_tsv")
class SentenceTsvReader(Reader):
    """One instance per line, tab-separated: text columns (``sent_idxs``) and label columns.
    The text is split on whitespace into words; used by sentence-level tasks. With several text
    columns the sentence keeps where each column's words start (``Sentence.segments``), so that
    they are encoded as a pair (MaChAmp's QNLI and STS-B configs); an empty column is an empty
    text of the pair, as ``tokenizer(a, "")`` encodes it."""

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
        for task in tasks if require_labels else []:
            shared = sorted(set(task.column_list) & set(self.sent_idxs))
            if shared:  # a label read from a list of columns (column_idxs) that holds text
                raise ColumnIdxError(
                    task.name,
                    f'key "column_idxs" names column(s) {shared}, which "sent_idxs" '
                    f"{self.sent_idxs} names as text; a column holds text or a label",
                    path,
                )
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
            texts = [fields[i].split() for i in self.sent_idxs]
            words = [word for text in texts for word in text]
            if not words:
                raise DataError("the text columns are empty", path, number)
            segments = None
            if len(texts) > 1:
                segments = list(accumulate((len(text) for text in texts[:-1]), initial=0))
            labels = {}
            if require_labels:
                for task in tasks:
                    label = "\t".join(fields[c].strip() for c in task.columns)
                    check_label(task, label, path, number)
                    labels[task.name] = label
            sentence = Sentence(words, labels, path, [number] * len(words), segments=segments)
            sentences.append(sentence)
        if not sentences:
            raise NoSentencesError("no sentences found", path)
        return sentences


# The readers ``detect_reader`` may choose by a file's suffix or content, in this order.
DETECTED = (ConlluReader,)
