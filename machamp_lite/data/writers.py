"""Writers that put predicted labels back into the input's own lines.

Comments, ids, other columns, blank lines and line endings survive unchanged; only the label
field of each token line is replaced. Output is written to a temporary name and renamed, so a
crash never leaves half a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError, DataError, write_failure_reason
from ..permissions import apply_umask
from .comment_labels import comment_edits, new_comment, with_value
from .dataset import make_reader, task_columns
from .reader_base import WriterSettings
from .sentence import Sentence
from .text import (
    label_on_word,
    min_width,
    read_text,
    split_fields,
    stream_lines,
    text_codec,
)

_FIELD = re.compile(r"\S+")
# Where a task's prediction goes: its column, or its list of columns (``column_idxs``).
LabelColumns = int | list[int]


def replace_field(
    line: str, column_idx: int, value: str, separator: str, width: int = 1, pad: str = ""
) -> str:
    """``line`` with field ``column_idx`` set to ``value``; a missing column is appended (with
    tabs, after ``pad`` fields for the columns between; with whitespace, after a tab when the
    line's fields are separated by tabs, else after a space).

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
    # An added column is separated as the line's own columns are (MaChAmp's files use tabs).
    return line.rstrip() + ("\t" if "\t" in line.strip() else " ") + value


def _make_room(line: str, targets: list[int], separator: str, word_idx: int) -> str:
    """``line`` with placeholder fields appended when a label column counted from the end would
    be the word column or lie before the line (an unlabelled input line such as ``Berlin``), so
    that labels are added beside the words instead of over them."""
    negative = [t for t in targets if t < 0]
    n = len(split_fields(line, separator, min_width([word_idx], targets)))
    if not negative or (
        n >= min_width([word_idx], negative) and not label_on_word(n, [word_idx], negative)
    ):
        return line
    width = max(n + 1, min_width([word_idx], negative))
    while label_on_word(width, [word_idx], negative):
        width += 1
    for column in range(n, width):
        line = replace_field(line, column, "_", separator, column)
    return line


def _output_error(error: OSError, target: Path) -> DataError:
    """The one-line error for a file system that refused to take the output."""
    reason = write_failure_reason(error, target.parent)
    advice = "free some space or " if reason.startswith("the disk is full") else ""
    return DataError(
        f"cannot write the output: {reason}; the file was not written (a file that was there "
        f"is unchanged): {advice}choose another output path",
        str(target),
    )


def atomic_write(path: str | os.PathLike, chunks: Iterable[str], encoding: str = "utf-8") -> None:
    """Write text to a temporary file beside ``path`` and rename it into place.

    The file gets the mode the user's umask gives a new file, or the mode of the file it
    replaces. When the file system refuses (a full disk, no permission) the temporary file is
    removed, ``path`` is left as it was, and a :class:`DataError` names ``path``; an error
    raised while producing ``chunks`` (reading the input) passes through unchanged."""
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
    out = os.fdopen(handle, "w", encoding=encoding, newline="")
    try:
        for chunk in chunks:
            try:
                out.write(chunk)
            except OSError as error:
                raise _output_error(error, target) from None
            except UnicodeEncodeError as error:
                raise DataError(
                    f"cannot write {error.object[error.start : error.end]!r} (in a predicted "
                    f"label) in {encoding}; nothing was written there: convert the input to an "
                    "encoding that has it, such as UTF-8, and predict with that --encoding",
                    str(target),
                ) from None
        try:
            out.close()  # flushes: a full disk may show only here
            apply_umask(tmp, replaces=target)
            os.replace(tmp, target)
        except OSError as error:
            raise _output_error(error, target) from None
    except BaseException:
        with contextlib.suppress(OSError):
            out.close()
        with contextlib.suppress(OSError):
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


def label_entries(
    sentences: Sequence[Sentence],
    predictions: dict[str, Sequence[Sequence[str]]],
    columns: Mapping[str, LabelColumns],
) -> dict[int, list[tuple[int, str]]]:
    """{line number: [(column, label), ...]} for the words of ``sentences``. A task whose
    column is a list of columns (``column_idxs``) has its tab-joined label split over them."""
    by_line: dict[int, list[tuple[int, str]]] = {}
    for task, per_sentence in predictions.items():
        column = columns[task]
        for sentence, labels in zip(sentences, per_sentence):
            if len(labels) != len(sentence.line_numbers):
                raise ValueError("predictions are not aligned with the input words")
            for number, label in zip(sentence.line_numbers, labels):
                if not isinstance(label, str):
                    raise TypeError(f"the prediction {label!r} for line {number} is not a string")
                entries = by_line.setdefault(number, [])
                if isinstance(column, int):
                    entries.append((column, label))
                    continue
                parts = label.split("\t")
                if len(parts) != len(column):
                    raise ValueError(f"the prediction for line {number} does not fit {column}")
                entries.extend(zip(column, parts))
    return by_line


def _input_bom(input_path: str, encoding: str) -> tuple[str, str]:
    """(byte-order mark to write back, codec to write with): the output starts as the input
    does, with or without a BOM and, for UTF-16 and UTF-32, in the input's byte order. A missing
    input or an unknown encoding is reported by the reading itself."""
    head = b""
    if Path(input_path).is_file():
        with open(input_path, "rb") as handle:
            head = handle.read(4)
    try:
        bom, codec = text_codec(encoding, head)
    except LookupError:
        return "", encoding
    return ("\ufeff" if bom else ""), codec


def _rewritten_lines(
    numbered: Iterable[tuple[int, str]],
    entries_for: Callable[[int], list[tuple[int, str]]],
    separator: str,
    word_idx: int,
    pad: str,
    last_line: int | None,
    bom: str,
    comments: Mapping[int, list[tuple[str, str, str]]] | None = None,
) -> Iterator[str]:
    """The input's lines (split on "\\n", carriage returns kept) with the labels put in, and
    sentence labels put into (or beside) comments as ``comments`` says (:func:`comment_edits`)."""
    yield bom
    for number, raw in numbered:
        if last_line is not None and number > last_line and not raw.strip():
            yield "\n"
            return
        ending = "\n" if number > 1 else ""
        line, cr = (raw[:-1], "\r") if raw.endswith("\r") else (raw, "")
        edits = comments.get(number, []) if comments else []
        for how, task, label in edits:
            if how == "before":
                yield ending + new_comment(task, label) + cr
                ending = "\n"
            elif how == "replace":
                line = with_value(line, task, label)
        entries = entries_for(number)
        if entries:
            targets = [c + o for c, lab in entries for o in range(len(lab.split("\t")))]
            line = _make_room(line, targets, separator, word_idx)
            width = min_width([word_idx], targets)
        for column, label in entries:
            # A label with tabs (a parser's head and relation) fills the columns starting at
            # its task's column, as readers join them; no read label contains a tab.
            for offset, part in enumerate(label.split("\t")):
                line = replace_field(line, column + offset, part, separator, width, pad)
        yield ending + line + cr
        for how, task, label in edits:
            if how == "after":
                yield "\n" + new_comment(task, label) + cr


def write_in_place(
    input_path: str,
    output_path: str,
    sentences: Sequence[Sentence],
    predictions: dict[str, Sequence[Sequence[str]]],
    columns: Mapping[str, LabelColumns],
    separator: str,
    encoding: str = "utf-8",
    last_line: int | None = None,
    word_idx: int = 0,
    pad: str = "",
    comments: Mapping[int, list[tuple[str, str, str]]] | None = None,
) -> None:
    """Copy ``input_path`` to ``output_path`` with each task's label column replaced.

    ``predictions[task][i]`` holds the labels of ``sentences[i]``, one per word; ``columns`` maps
    a task to its column index (a label of k tab-joined fields fills the k columns starting
    there).
    With ``last_line`` (when only the first sentences of a file were read) the copy stops at the
    blank line after that line, so no unpredicted sentence is written with its input labels.
    A line without the label column (unlabelled input) gets it appended after ``word_idx``'s
    column, with ``pad`` in the columns between (``_`` for CoNLL-U). A UTF-8 byte-order mark at
    the start of the input is kept. ``comments`` (from :func:`comment_edits`) puts sentence
    labels into comments.
    """
    check_not_input(input_path, output_path)
    by_line = label_entries(sentences, predictions, columns)
    text = read_text(input_path, encoding)
    numbered = enumerate(text.split("\n"), start=1)
    bom, codec = _input_bom(input_path, encoding)
    lines = _rewritten_lines(
        numbered, lambda n: by_line.get(n, []), separator, word_idx, pad, last_line, bom, comments
    )
    atomic_write(output_path, lines, encoding=codec)


def write_in_place_streaming(
    input_path: str,
    output_path: str,
    chunks: Iterable[tuple[Sequence[Sentence], dict[str, Sequence[Sequence[str]]]]],
    columns: Mapping[str, LabelColumns],
    separator: str,
    encoding: str = "utf-8",
    word_idx: int = 0,
    pad: str = "",
) -> None:
    """``write_in_place`` for input of any size: ``chunks`` yields consecutive sentences in file
    order with their predictions, and is consumed only as far as the lines written so far need,
    so memory holds one chunk, not the file."""
    check_not_input(input_path, output_path)
    pending: dict[int, list[tuple[int, str]]] = {}
    source = iter(chunks)
    covered: float = 0  # the last line number that the chunks read so far cover; inf at the end

    def entries_for(number: int) -> list[tuple[int, str]]:
        nonlocal covered
        while number > covered:
            chunk = next(source, None)
            if chunk is None:
                covered = float("inf")
                break
            sentences, predictions = chunk
            if sentences:
                pending.update(label_entries(sentences, predictions, columns))
                covered = sentences[-1].line_numbers[-1]
        return pending.pop(number, [])

    bom, codec = _input_bom(input_path, encoding)
    lines = _rewritten_lines(
        stream_lines(input_path, encoding), entries_for, separator, word_idx, pad, None, bom
    )
    atomic_write(output_path, lines, encoding=codec)


def _writer_settings(dataset: dict, source: str, encoding: str | None) -> WriterSettings:
    """What the dataset's reader for ``source`` says about writing into it (``encoding``, when
    given, replaces the dataset's: ``predict --encoding``)."""
    if encoding is not None:
        dataset = {**dataset, "encoding": encoding}
    return make_reader(dataset, source).writer_settings()


def _label_columns(dataset: dict, settings: WriterSettings) -> dict[str, LabelColumns]:
    """Each task's label column in the written lines (its list of columns, for a task that
    names them in ``column_idxs``)."""
    return {
        c.name: [settings.label_column(k) for k in c.column_list]
        if c.column_list
        else settings.label_column(c.column_idx)
        for c in task_columns(dataset)
    }


def write_predictions(
    dataset: dict,
    source: str,
    target: str,
    sentences: Sequence[Sentence],
    predictions: dict[str, Sequence],
    *,
    encoding: str | None = None,
    last_line: int | None = None,
) -> None:
    """Copy ``source`` to ``target`` with the predictions of ``sentences`` (read from it with
    ``dataset``) in their tasks' label columns, written as the dataset's reader says
    (:meth:`~machamp_lite.data.readers.Reader.writer_settings`): the one writer of ``predict``
    and of the dev predictions of training.

    ``predictions[task][i]`` belongs to ``sentences[i]``: one label per word for a token-level
    task, one label for a sentence-level task, which goes into the sentence's comment for a
    reader that keeps sentence labels there (``WriterSettings.comment_labels``: files of one
    word per line, as MaChAmp keeps an intent beside the slots), else into its column on the
    sentence's first line. ``last_line`` is as in :func:`write_in_place`."""
    settings = _writer_settings(dataset, source, encoding)
    levels = {c.name: c.level for c in task_columns(dataset)}
    labels = {t: p for t, p in predictions.items() if levels[t] == "token"}
    sentence_tasks = [t for t in predictions if levels[t] != "token"]
    comments = None
    if sentence_tasks and settings.comment_labels:
        comments = comment_edits(sentences, {t: predictions[t] for t in sentence_tasks})
    elif sentence_tasks:
        if labels:
            raise ConfigError(
                "predicting token-level and sentence-level tasks into one file is not "
                "supported; train them as separate datasets"
            )
        sentences = [dataclasses.replace(s, line_numbers=s.line_numbers[:1]) for s in sentences]
        labels = {t: [[value] for value in predictions[t]] for t in sentence_tasks}
    columns = _label_columns(dataset, settings)
    write_in_place(
        source,
        target,
        sentences,
        labels,
        columns,
        last_line=last_line,
        comments=comments,
        **settings.write_arguments(),
    )


def sentence_labels_in_comments(dataset: dict, source: str) -> bool:
    """Whether ``write_predictions`` puts this dataset's sentence-level labels into each
    sentence's comment (MaChAmp's intent beside slots), so they can join token-level ones."""
    return _writer_settings(dataset, source, None).comment_labels


def write_predictions_streaming(
    dataset: dict,
    source: str,
    target: str,
    chunks: Iterable[tuple[Sequence[Sentence], dict[str, Sequence[Sequence[str]]]]],
    *,
    encoding: str | None = None,
) -> None:
    """:func:`write_predictions` for input of any size and token-level tasks: ``chunks`` yields
    consecutive sentences in file order with their predictions, consumed only as far as the
    lines written so far need."""
    settings = _writer_settings(dataset, source, encoding)
    columns = _label_columns(dataset, settings)
    write_in_place_streaming(source, target, chunks, columns, **settings.write_arguments())


def write_labels_only(
    output_path: str, sentences: Iterable[Sentence], labels: Iterable[Sequence[str]]
) -> None:
    """One label per token line and a blank line between sentences (MultiCoNER submissions)."""

    def lines() -> Iterable[str]:
        for per_sentence in labels:
            for label in per_sentence:
                yield label + "\n"
            yield "\n"

    atomic_write(output_path, lines())


def write_token_label(
    output_path: str, sentences: Iterable[Sentence], labels: Iterable[Sequence[str]]
) -> None:
    """``token<TAB>label`` lines and a blank line between sentences (for --raw_text input)."""

    def lines() -> Iterable[str]:
        for sentence, per_sentence in zip(sentences, labels):
            for word, label in zip(sentence.words, per_sentence):
                yield f"{word}\t{label}\n"
            yield "\n"

    atomic_write(output_path, lines())
