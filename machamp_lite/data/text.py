"""Data files as text: one clear error for a missing, empty, compressed or mis-encoded file, the
byte-order mark and line endings kept for the writers, and the fields of a line as readers and
writers both count them.

Every reader reads through these functions, so a user sees the same message for the same
problem whatever the format; the writers use the same codecs so that the output starts and
ends as the input did.
"""

from __future__ import annotations

import codecs
import contextlib
import gc
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import paths
from ..errors import DataError


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
        path: str | None,
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
    found: tuple[str, str] | None = None
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
        unmarked = _wide_without_bom(head)
        if unmarked is None:
            return
        family, order = unmarked
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


def head_lines(path: str, encoding: str = "utf-8", size: int = 65536) -> list[str]:
    """The whole lines among the first ``size`` bytes of a file, without line endings, for
    guessing its format before reading it. Empty when the file cannot be opened, and bytes
    that do not decode are replaced: a guess must not fail where the reading will explain."""
    if path_problem(path) is not None:
        return []
    try:
        with open(path, "rb") as handle:
            head = handle.read(size)
        bom, codec = text_codec(encoding, head)
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        text = decoder.decode(head[len(bom) :])
    except (OSError, LookupError):
        return []
    lines = text.split("\n")
    if len(head) == size:
        lines.pop()  # perhaps cut in the middle
    return [line.removesuffix("\r") for line in lines]


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


def min_width(word_columns: Sequence[int], label_columns: Sequence[int]) -> int:
    """The fewest fields in which every column exists and no label column (counted from the end,
    e.g. -1) falls on a word column (counted from the start), or the other way round."""
    width = max(i + 1 if i >= 0 else -i for i in [*word_columns, *label_columns])
    while label_on_word(width, word_columns, label_columns):
        width += 1
    return width


def label_on_word(n: int, word_columns: Sequence[int], label_columns: Sequence[int]) -> bool:
    """True when, in a line of ``n`` fields, a label column is the same field as a word column."""
    return any(w % n == c % n for w in word_columns for c in label_columns if (w < 0) != (c < 0))
