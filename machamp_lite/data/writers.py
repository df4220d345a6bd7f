"""Writers that put predicted labels back into the input's own lines.

Comments, ids, other columns, blank lines and line endings survive unchanged; only the label
field of each token line is replaced. Output is written to a temporary name and renamed, so a
crash never leaves half a file.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import DataError
from .readers import _label_on_word, _min_width, is_utf8, read_text, split_fields
from .sentence import Sentence

_FIELD = re.compile(r"\S+")


def replace_field(
    line: str, column_idx: int, value: str, separator: str, width: int = 1, pad: str = ""
) -> str:
    """``line`` with field ``column_idx`` set to ``value``; a missing column is appended (with
    tabs, after ``pad`` fields for the columns between).

    With tabs, fields are counted as the readers count them (``split_fields`` with ``width``):
    empty trailing fields beyond ``width`` are kept but are not columns."""
    if separator == "tab":
        fields = split_fields(line, separator, width)
        tail = line.split("\t")[len(fields) :]
        if -len(fields) <= column_idx < len(fields):
            fields[column_idx] = value
        else:
            fields.extend([pad] * (column_idx - len(fields)) + [value])
        return "\t".join(fields + tail)
    spans = [m.span() for m in _FIELD.finditer(line)]
    if -len(spans) <= column_idx < len(spans):
        start, end = spans[column_idx]
        return line[:start] + value + line[end:]
    return line.rstrip() + " " + value


def _make_room(line: str, targets: list[int], separator: str, word_idx: int) -> str:
    """``line`` with placeholder fields appended when a label column counted from the end would
    be the word column or lie before the line (an unlabelled input line such as ``Berlin``), so
    that labels are added beside the words instead of over them."""
    negative = [t for t in targets if t < 0]
    n = len(split_fields(line, separator, _min_width([word_idx], targets)))
    if not negative or (
        n >= _min_width([word_idx], negative) and not _label_on_word(n, [word_idx], negative)
    ):
        return line
    width = max(n + 1, _min_width([word_idx], negative))
    while _label_on_word(width, [word_idx], negative):
        width += 1
    for column in range(n, width):
        line = replace_field(line, column, "_", separator, column)
    return line


def atomic_write(path: str | os.PathLike, chunks: Iterable[str], encoding: str = "utf-8") -> None:
    """Write text to a temporary file beside ``path`` and rename it into place."""
    target = Path(path)
    if target.is_dir():
        raise DataError("is a directory; give the output a file name", str(target))
    folder = next((p for p in target.parents if p.exists()), None)
    if folder is not None and not folder.is_dir():
        raise DataError(
            f"{folder} is a file, not a folder; choose another output path", str(target)
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as error:
        raise DataError(
            f"cannot write the output here ({error.strerror}); choose another output path",
            str(target),
        ) from None
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_not_input(input_path: str, output_path: str) -> None:
    if (
        os.path.exists(input_path)
        and os.path.exists(output_path)
        and os.path.samefile(input_path, output_path)
    ):
        raise DataError(
            "the output file is the input file; choose another output path so the input is kept",
            output_path,
        )


def write_in_place(
    input_path: str,
    output_path: str,
    sentences: Sequence[Sentence],
    predictions: dict[str, Sequence[Sequence[str]]],
    columns: dict[str, int],
    separator: str,
    encoding: str = "utf-8",
    last_line: int | None = None,
    word_idx: int = 0,
    pad: str = "",
) -> None:
    """Copy ``input_path`` to ``output_path`` with each task's label column replaced.

    ``predictions[task][i]`` holds the labels of ``sentences[i]``, one per word; ``columns`` maps
    a task to its column index (a label of k tab-joined fields fills the k columns ending there).
    With ``last_line`` (when only the first sentences of a file were read) the copy stops at the
    blank line after that line, so no unpredicted sentence is written with its input labels.
    A line without the label column (unlabelled input) gets it appended after ``word_idx``'s
    column, with ``pad`` in the columns between (``_`` for CoNLL-U). A UTF-8 byte-order mark at
    the start of the input is kept.
    """
    check_not_input(input_path, output_path)
    by_line: dict[int, list[tuple[int, str]]] = {}
    for task, per_sentence in predictions.items():
        column = columns[task]
        for sentence, labels in zip(sentences, per_sentence):
            if len(labels) != len(sentence.line_numbers):
                raise ValueError("predictions are not aligned with the input words")
            for number, label in zip(sentence.line_numbers, labels):
                if not isinstance(label, str):
                    raise TypeError(f"the prediction {label!r} for line {number} is not a string")
                by_line.setdefault(number, []).append((column, label))
    text = read_text(input_path, encoding)
    with open(input_path, "rb") as handle:
        bom = "\ufeff" if handle.read(3) == codecs.BOM_UTF8 and is_utf8(encoding) else ""

    def lines() -> Iterable[str]:
        yield bom
        for number, raw in enumerate(text.split("\n"), start=1):
            if last_line is not None and number > last_line and not raw.strip():
                yield "\n"
                return
            ending = "\n" if number > 1 else ""
            line, cr = (raw[:-1], "\r") if raw.endswith("\r") else (raw, "")
            entries = by_line.get(number, [])
            if entries:
                targets = [c + o for c, lab in entries for o in range(1 - len(lab.split("\t")), 1)]
                line = _make_room(line, targets, separator, word_idx)
                width = _min_width([word_idx], targets)
            for column, label in entries:
                # A label with tabs (dependency: head and deprel) fills the columns ending at
                # its task's column, as readers join them; no read label contains a tab.
                parts = label.split("\t")
                for offset, part in enumerate(parts, start=1 - len(parts)):
                    line = replace_field(line, column + offset, part, separator, width, pad)
            yield ending + line + cr

    atomic_write(
        output_path, lines(), encoding="utf-8" if encoding.lower() == "utf-8-sig" else encoding
    )


def write_labels_only(
    output_path: str, sentences: Sequence[Sentence], labels: Sequence[Sequence[str]]
) -> None:
    """One label per token line and a blank line between sentences (MultiCoNER submissions)."""

    def lines() -> Iterable[str]:
        for per_sentence in labels:
            for label in per_sentence:
                yield label + "\n"
            yield "\n"

    atomic_write(output_path, lines())


def write_token_label(
    output_path: str, sentences: Sequence[Sentence], labels: Sequence[Sequence[str]]
) -> None:
    """``token<TAB>label`` lines and a blank line between sentences (for --raw_text input)."""

    def lines() -> Iterable[str]:
        for sentence, per_sentence in zip(sentences, labels):
            for word, label in zip(sentence.words, per_sentence):
                yield f"{word}\t{label}\n"
            yield "\n"

    atomic_write(output_path, lines())
