"""Readers for CoNLL-like column files, CoNLL-U and one-sentence-per-line TSV.

Readers know file formats and nothing about models. Each returns ``Sentence`` records that keep
the line number of every word, so that writers can put predictions back into the original lines.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..errors import DataError
from ..registry import readers
from .sentence import Sentence, TaskColumn

# A line that starts a sentence and matches this is a comment, not a token. It covers MultiCoNER
# (`# id <uuid>\tdomain=...`), CoNLL-U (`# sent_id = ...`, `# text = ...`), GermEval
# (`#\thttp://...\t[2005-10-27]\t`, also `#\tberlinonline.de vom 27.10.2005\t[2005-10-27]\t`) and a
# bare `#`, while `# _ _ O` and `#\tO` stay tokens: `#` is a real token in MultiCoNER and WikiANN.
DEFAULT_COMMENT_REGEX = (
    r"^#(\s*$|\s+(id|sent_id|text|newdoc|newpar|doc_id)\b|\s*[\w.-]+\s*=|\t\S+://"
    r"|\t.*\t\[\d{4}-\d\d-\d\d\]\s*$)"
)


class NoSentencesError(DataError):
    """A data file that is empty or holds no sentence; ``reason`` is the message without the
    file name, so that callers can add what the file is for."""

    def __init__(self, reason: str, path: str):
        super().__init__(reason, path)
        self.reason = reason


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block.

    Reading a large file creates millions of small strings and lists, none of them in a
    reference cycle, and each burst of allocations makes the collector walk every object made
    so far: on the seven MultiCoNER train sets that was about half of the reading time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_text(path: str, encoding: str = "utf-8") -> str:
    """The whole file as text, with one clear error for a missing, empty or mis-encoded file.

    A UTF-8 byte-order mark is dropped. Line endings are kept as they are (CRLF stays CRLF) so
    that writers can reproduce the input's lines exactly.
    """
    file = Path(path)
    if not file.exists():
        raise DataError(
            "file not found; check the path (relative paths in dataset configs are looked up "
            "under --data_dir or $MACHAMP_DATA_DIR, then the working directory)",
            path,
        )
    if file.is_dir():
        raise DataError("is a directory, not a data file; give the path of a file", path)
    if not file.is_file():
        raise DataError("is not a regular file", path)
    data = file.read_bytes()
    if not data.strip():
        raise NoSentencesError("file is empty", path)
    codec, skipped = encoding, 0
    if is_utf8(encoding):
        # Drop the BOM here rather than decode with utf-8-sig, whose error offsets do not count
        # the BOM, which would put a bad byte near a line start on the previous line.
        codec = "utf-8"
        if data.startswith(codecs.BOM_UTF8):
            data, skipped = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(
            f"bytes that are not valid {encoding} ({error.reason} at byte "
            f"{error.start + skipped}); "
            'if the file uses another encoding, set the dataset\'s "encoding" key, '
            'e.g. "encoding": "latin-1"',
            path,
            line,
        ) from None
    except LookupError:
        raise DataError(
            f'unknown encoding {encoding!r} in the dataset\'s "encoding" key', path
        ) from None


def stream_lines(path: str, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(line number, line) read from the file as consumed, with read_text's checks and errors.

    Lines are split on b"\n" only, as read_text's text is split on "\n", so the numbers and the
    lines agree (a final empty line after a last newline included). Encodings
    whose newline is not the byte 0x0A (UTF-16, UTF-32) fall back to reading the whole file."""
    try:
        ascii_compatible = "\n".encode(encoding) == b"\n"
    except LookupError:
        ascii_compatible = True  # read_text names the bad encoding key below
    if not ascii_compatible or not Path(path).is_file():
        yield from enumerate(read_text(path, encoding).split("\n"), start=1)
        return
    codec = "utf-8" if is_utf8(encoding) else encoding
    empty = True
    number, line = 0, "\n"
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode(codec)
            except UnicodeDecodeError as error:
                raise DataError(
                    f"bytes that are not valid {encoding} ({error.reason}); if the file uses "
                    'another encoding, set the dataset\'s "encoding" key, e.g. "encoding": '
                    '"latin-1"',
                    path,
                    number,
                ) from None
            except LookupError:
                raise DataError(
                    f'unknown encoding {encoding!r} in the dataset\'s "encoding" key', path
                ) from None
            if empty and line.strip():
                empty = False
            yield number, line[:-1] if line.endswith("\n") else line
    if empty:
        raise NoSentencesError("file is empty", path)
    if line.endswith("\n"):  # as str.split does, the text after the last newline is a line
        yield number + 1, ""


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line ending)."""
    # Split on "\n" only: str.splitlines() also splits on form feeds and other separators that
    # may sit inside a token, which would shift line numbers against the file.
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line[:-1] if line.endswith("\r") else line


def split_fields(line: str, separator: str, width: int = 1) -> list[str]:
    """The fields of a line. With tabs, empty fields after the first ``width`` (the columns the
    tasks need) are not columns: in ``Berlin<TAB>B-LOC<TAB>`` the label is still the last field,
    as in ``Berlin B-LOC `` with spaces."""
    if separator == "tab":
        fields = line.split("\t")
        while len(fields) > width and not fields[-1].strip():
            fields.pop()
        return fields
    return line.split()


def is_utf8(encoding: str) -> bool:
    """True for the names under which read_text reads UTF-8 and drops a byte-order mark."""
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")


def _min_width(word_columns: Sequence[int], label_columns: Sequence[int]) -> int:
    """The fewest fields in which every column exists and no label column (counted from the end,
    e.g. -1) falls on a word column (counted from the start), or the other way round."""
    width = max(i + 1 if i >= 0 else -i for i in [*word_columns, *label_columns])
    while _label_on_word(width, word_columns, label_columns):
        width += 1
    return width


def _label_on_word(n: int, word_columns: Sequence[int], label_columns: Sequence[int]) -> bool:
    """True when, in a line of ``n`` fields, a label column is the same field as a word column."""
    return any(w % n == c % n for w in word_columns for c in label_columns if (w < 0) != (c < 0))


def _check_label(task: TaskColumn, label: str, path: str, line: int) -> None:
    if task.validate is None:
        return
    problem = task.validate(label)
    if problem:
        raise DataError(f"label {label!r} of task {task.name!r}: {problem}", path, line)


@readers.register("column")
class ColumnReader:
    """CoNLL/TSV: one token per line, one word column and one label column per task, blank lines
    between sentences (runs of blank lines too), comment lines before a sentence."""

    def __init__(
        self,
        word_idx: int = 0,
        separator: str = "whitespace",
        encoding: str = "utf-8",
        comment_regex: str | None = None,
    ):
        self.word_idx = word_idx
        self.separator = separator
        self.encoding = encoding
        self.comment = re.compile(comment_regex or DEFAULT_COMMENT_REGEX)

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
        width = _min_width([self.word_idx], label_columns)
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
        label_tasks = [(t.name, t, t.columns, set()) for t in token_tasks] if require_labels else []
        bad_count: dict[int, bool] = {}
        for number, line in lines:
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
                bad = bad_count[count] = count < width or _label_on_word(
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
                    + (
                        ' (the separator is "tab"; set "separator": "whitespace" if the '
                        "columns are separated by spaces)"
                        if tab
                        else ""
                    ),
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
_OTHER_ID = re.compile(r"[1-9][0-9]*-[1-9][0-9]*|[0-9]+\.[1-9][0-9]*|_")
CONLLU_FIELDS = ["id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc"]


@readers.register("conllu")
class ConlluReader:
    """CoNLL-U through the ``conllu`` package; multiword-token and empty-node lines are kept in
    the file but are not words. ``column_idx`` counts the ten CoNLL-U columns from 0 (form = 1)."""

    def __init__(self, word_idx: int = 1, encoding: str = "utf-8"):
        self.word_idx = word_idx
        self.encoding = encoding

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
                    if not 0 <= column < len(CONLLU_FIELDS):
                        raise DataError(
                            f"task {task.name!r}: column {column} is not one of the "
                            "ten CoNLL-U columns (0-9)",
                            path,
                            number,
                        )
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
class SentenceTsvReader:
    """One instance per line, tab-separated: text columns (``sent_idxs``) and label columns.
    The text is split on whitespace into words; used by sentence-level tasks."""

    def __init__(self, sent_idxs: Sequence[int] = (0,), encoding: str = "utf-8"):
        self.sent_idxs = list(sent_idxs)
        self.encoding = encoding

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        text = read_text(path, self.encoding)
        sentences = []
        for number, line in iter_lines(text):
            if not line.strip():
                continue
            label_columns = [c for t in tasks for c in t.columns] if require_labels else []
            width = _min_width(self.sent_idxs, label_columns)
            fields = split_fields(line, "tab", width)
            if len(fields) < width or _label_on_word(len(fields), self.sent_idxs, label_columns):
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
