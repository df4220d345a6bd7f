"""Readers for CoNLL-like column files, CoNLL-U and one-sentence-per-line TSV.

Readers know file formats and nothing about models. Each returns ``Sentence`` records that keep
the line number of every word, so that writers can put predictions back into the original lines.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .. import paths
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


FILE_NOT_FOUND = (
    "file not found; check the path (relative paths in dataset configs are looked up "
    "under --data_dir or $MACHAMP_DATA_DIR, then the working directory)"
)


class EncodingError(DataError):
    """A data file that cannot be read as text in the encoding it is read with.

    ``problem`` says what is wrong; ``suggestion`` is the encoding that fits (None when no
    text encoding does, e.g. a gzip file, whose ``remedy`` is then the advice), and ``example``
    marks a suggestion that is only an example (a guess such as latin-1). The advice names the
    dataset's ``"encoding"`` key (train, and predict without the option); ``for_option`` words
    it for a command-line option such as ``--encoding`` (predict and evaluate)."""

    def __init__(
        self,
        problem: str,
        path: str,
        line: int | None = None,
        suggestion: str | None = None,
        example: bool = False,
        remedy: str | None = None,
        option: str | None = None,
    ):
        self.problem, self.suggestion, self.example = problem, suggestion, example
        self.remedy, self.option = remedy, option
        super().__init__(f"{problem}; {self._advice()}", path, line)

    def _advice(self) -> str:
        if self.suggestion is None:
            return self.remedy or "check the file"
        name, option = self.suggestion, self.option
        if option:
            if self.example:
                return (
                    f"if the file uses another encoding, run the command again with {option}, "
                    f"e.g. {option} {name}"
                )
            return f"run the command again with {option} {name}"
        if self.example:
            return (
                'if the file uses another encoding, set the dataset\'s "encoding" key, e.g. '
                f'"encoding": "{name}"'
            )
        return f'set the dataset\'s "encoding" key: "encoding": "{name}"'

    def for_option(self, option: str = "--encoding") -> EncodingError:
        """The same error with the advice worded for a command-line option."""
        return EncodingError(
            self.problem, self.path, self.line, self.suggestion, self.example, self.remedy, option
        )


def _codec_name(encoding: str) -> str:
    """Python's own name for an encoding (``UTF_16LE`` is ``utf-16-le``); LookupError when
    Python knows no such encoding."""
    return codecs.lookup(encoding).name


# The byte order Python's "utf-16" and "utf-32" codecs assume for a file without a BOM.
_NATIVE = "le" if sys.byteorder == "little" else "be"
_BOMS = {
    "utf-8": codecs.BOM_UTF8,
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


def text_codec(encoding: str, head: bytes) -> tuple[bytes, str]:
    """(byte-order mark, codec) for a file in ``encoding`` that starts with ``head``: the BOM
    that reading drops and writing puts back (empty when the file has none), and the codec
    that decodes and encodes the text after it, with an explicit byte order for UTF-16 and
    UTF-32. An unknown encoding raises LookupError."""
    name = _codec_name(encoding)
    if name in ("utf-8", "utf-8-sig"):
        name = "utf-8"
    elif name in ("utf-16", "utf-32"):
        # Python's codec drops the BOM when reading and always writes one (in this machine's
        # byte order), so take the byte order from the file and write what it had.
        little, big = f"{name}-le", f"{name}-be"
        if head.startswith(_BOMS[little]):
            name = little
        elif head.startswith(_BOMS[big]):
            name = big
        else:
            name = f"{name}-{_NATIVE}"
    if name not in _BOMS:
        return b"", encoding  # no byte-order mark in an 8-bit encoding
    bom = _BOMS[name]
    return (bom if head.startswith(bom) else b""), name


# Compressed files: the first bytes of each format and its name.
_COMPRESSED = [
    (b"\x1f\x8b", "gzip", "gunzip"),
    (b"\xfd7zXZ\x00", "xz", "unxz"),
    (b"\x28\xb5\x2f\xfd", "zstd", "unzstd"),
    (b"PK\x03\x04", "zip", "unzip"),
]
_SNIFF_BYTES = 4096


def _wide_without_bom(head: bytes) -> tuple[str, str] | None:
    """(family, "le" or "be") when ``head`` looks like UTF-16 or UTF-32 without a byte-order
    mark: text in a Latin script has NUL high bytes in almost every code unit, always at the
    same places (one byte in two for UTF-16, three in four for UTF-32), which a file in UTF-8
    or an 8-bit encoding never has."""
    for family, size in (("UTF-32", 4), ("UTF-16", 2)):
        units = len(head) // size
        if units < 4:
            continue
        nuls = [head[i : size * units : size].count(0) for i in range(size)]
        for order, text_byte in (("le", 0), ("be", size - 1)):
            if nuls[text_byte] <= 0.05 * units and all(
                n >= 0.4 * units for i, n in enumerate(nuls) if i != text_byte
            ):
                return family, order
    return None


def check_text_start(head: bytes, path: str, encoding: str) -> None:
    """Raise an :class:`EncodingError` naming what the file is when its first bytes show that
    it is not text in ``encoding``: compressed (gzip, xz, zstd, zip), UTF-16 or UTF-32 read as
    an 8-bit encoding or UTF-8, or UTF-8 read as UTF-16 or UTF-32."""
    try:
        name = _codec_name(encoding)
    except LookupError:
        return  # the decoding names the unknown encoding
    wide = name.startswith(("utf-16", "utf-32"))
    if wide:
        if head.startswith(codecs.BOM_UTF8):
            raise EncodingError(
                f"this is a UTF-8 file (it starts with the UTF-8 byte-order mark ef bb bf) but "
                f"it is read as {encoding}",
                path,
                suggestion="utf-8",
            )
        return
    for magic, kind, tool in _COMPRESSED:
        if head.startswith(magic):
            raise EncodingError(
                f"this is a {kind}-compressed file (it starts with the bytes "
                f"{magic.hex(' ')}), not text",
                path,
                remedy=f"decompress it first (e.g. with {tool}) and give the path of the "
                "decompressed file",
            )
    found = None
    for family, order, bom in [
        ("UTF-32", "little-endian", codecs.BOM_UTF32_LE),
        ("UTF-32", "big-endian", codecs.BOM_UTF32_BE),
        ("UTF-16", "little-endian", codecs.BOM_UTF16_LE),
        ("UTF-16", "big-endian", codecs.BOM_UTF16_BE),
    ]:
        if head.startswith(bom):
            found = (
                f"this is a {family} file (it starts with the {family} {order} byte-order mark "
                f"{bom.hex(' ')})",
                family.lower(),
            )
            break
    if found is None:
        wide = _wide_without_bom(head)
        if wide is None:
            return
        family, order = wide
        endian = "little" if order == "le" else "big"
        share = "one byte in two is" if family == "UTF-16" else "three bytes in four are"
        found = (
            f"this looks like a {family} {endian}-endian file without a byte-order mark "
            f"({share} NUL)",
            f"{family.lower()}-{order}",
        )
    problem, suggestion = found
    raise EncodingError(f"{problem} but it is read as {encoding}", path, suggestion=suggestion)


def _unknown_encoding(encoding: str, path: str) -> DataError:
    return DataError(f'unknown encoding {encoding!r} in the dataset\'s "encoding" key', path)


def check_encoding_option(encoding: str, error: type[Exception]) -> None:
    """``--encoding NAME`` of predict and evaluate names a codec Python has; else ``error``."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise error(
            f"--encoding {encoding!r}: not an encoding Python knows; e.g. utf-8, utf-16, latin-1"
        ) from None


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a data file, or None when it can."""
    return paths.path_problem(path, "data file", FILE_NOT_FOUND)


def read_text(path: str, encoding: str = "utf-8") -> str:
    """The whole file as text, with one clear error for a missing, empty or mis-encoded file.

    A byte-order mark of the encoding (UTF-8, UTF-16, UTF-32) is dropped. Line endings are kept
    as they are (CRLF stays CRLF) so that writers can reproduce the input's lines exactly.
    """
    problem = path_problem(path)
    if problem is not None:
        raise DataError(problem, path)
    data = Path(path).read_bytes()
    if not data.strip():
        raise NoSentencesError("file is empty", path)
    check_text_start(data[:_SNIFF_BYTES], path, encoding)
    try:
        bom, codec = text_codec(encoding, data)
    except LookupError:
        raise _unknown_encoding(encoding, path) from None
    # Drop the BOM here rather than decode with utf-8-sig or utf-16, whose error offsets do not
    # count the BOM, which would put a bad byte near a line start on the previous line.
    data, skipped = data[len(bom) :], len(bom)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        if "\n".encode(codec) == b"\n":
            line = data[: error.start].count(b"\n") + 1
        else:
            line = data[: error.start].decode(codec, errors="replace").count("\n") + 1
        raise EncodingError(
            f"bytes that are not valid {encoding} ({error.reason} at byte {error.start + skipped})",
            path,
            line,
            suggestion="latin-1",
            example=True,
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
    if not ascii_compatible or path_problem(path) is not None:
        yield from enumerate(read_text(path, encoding).split("\n"), start=1)
        return
    try:
        _, codec = text_codec(encoding, b"")
    except LookupError:
        raise _unknown_encoding(encoding, path) from None
    empty = True
    number, line = 0, "\n"
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if head.strip():
            check_text_start(head, path, encoding)
        handle.seek(0)
        for number, raw in enumerate(handle, start=1):
            if number == 1 and codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode(codec)
            except UnicodeDecodeError as error:
                raise EncodingError(
                    f"bytes that are not valid {encoding} ({error.reason})",
                    path,
                    number,
                    suggestion="latin-1",
                    example=True,
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

    # What a too-short line of a tab-separated file advises (evaluate names its option).
    separator_advice = 'set "separator": "whitespace" if the columns are separated by spaces'

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
