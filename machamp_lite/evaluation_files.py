"""Reading gold and prediction files for scoring: each file with the reader its content calls
for (CoNLL-U by suffix or content, else a column file whose separator is guessed), the tags of
one column under ``labels["label"]``, and the check that the two files hold the same tokens,
with the line where they part."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .data.reader_base import build_reader
from .data.readers import DEFAULT_COMMENT_REGEX, ColumnReader, detect_reader
from .data.sentence import Sentence, TaskColumn
from .data.text import split_fields, stream_lines
from .errors import DataError
from .registry import readers
from .topn_cells import read_topn_labels

SEPARATORS = ("whitespace", "tab")
# Token lines that guess_separator looks at.
GUESS_LINES = 200


def guess_separator(path: str, encoding: str = "utf-8", word_column: int = 0) -> str:
    """ "tab" when the file's token lines are tab-separated columns (TSV, DaN+, WikiANN), else
    "whitespace", the default of train and predict.

    The first token lines (comments before a sentence skipped, as the reader skips them, a BOM
    dropped) decide: "tab" when each has a tab, all have the same number of tab-separated
    fields, and only the word field (``word_column``) holds a space (``new york<TAB>B-LOC``). A
    whitespace-separated file with tabs here and there (``anna<TAB>_ _ B-PER``), which train and
    predict read, is read as they read it. A missing or unreadable file gives "whitespace" and
    is reported by the reader that follows."""
    comment = re.compile(DEFAULT_COMMENT_REGEX)
    counts: set[int] = set()
    seen, in_sentence = 0, False
    try:
        for _, line in stream_lines(path, encoding):
            line = line.removesuffix("\r")
            if not line.strip():
                in_sentence = False
                continue
            if not in_sentence and comment.match(line):
                continue
            in_sentence = True
            fields = split_fields(line, "tab")
            counts.add(len(fields))
            if len(fields) < 2 or len(counts) > 1:
                return "whitespace"
            word = word_column % len(fields)
            if any(len(f.split()) > 1 for i, f in enumerate(fields) if i != word):
                return "whitespace"
            seen += 1
            if seen >= GUESS_LINES:
                break
    except DataError:
        pass
    return "tab" if counts else "whitespace"


def read_labelled(
    path: str,
    label_column: int = -1,
    word_column: int | None = None,
    encoding: str = "utf-8",
    require_labels: bool = True,
    separator: str | None = None,
) -> list[Sentence]:
    """Sentences of a column file (MultiCoNER, TSV, CoNLL) or a CoNLL-U file (by its suffix or
    its content), with the tags of ``label_column`` (negative counts from the last field; the
    tenth for CoNLL-U) under ``labels["label"]``. ``word_column`` None is the reader's default
    (the first field; the FORM for CoNLL-U).

    ``separator`` is "whitespace" or "tab", as a dataset config's key; None guesses it from the
    file (:func:`guess_separator`). A reader without the setting (CoNLL-U) ignores it."""
    path = str(path)
    if separator is not None and separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, got {separator!r}")
    guessed = separator is None
    settings = {
        "word_idx": word_column,
        "encoding": encoding,
        "separator": guess_separator(path, encoding, word_column or 0) if guessed else separator,
    }
    reader_class = readers.get(detect_reader(path, encoding))
    reader = build_reader(reader_class, settings, path)
    # A too-short line of a tab-separated column file names evaluate's option.
    if isinstance(reader, ColumnReader):
        reader.separator_advice = (
            f"{'guessed from the file; ' if guessed else ''}give --separator whitespace if the "
            "columns are separated by spaces"
        )
    return reader.read(path, [TaskColumn("label", label_column)], require_labels)


@dataclass(frozen=True)
class Layout:
    """Where the tags and tokens of every file of one evaluation are, and how it is read: the
    arguments of :func:`read_labelled` that gold and predictions share."""

    label_column: int = -1
    word_column: int | None = None
    encoding: str = "utf-8"
    separator: str | None = None

    def read(self, path: str, require_labels: bool = True) -> list[Sentence]:
        return read_labelled(
            path, self.label_column, self.word_column, self.encoding, require_labels, self.separator
        )

    def read_pair(
        self, gold_path: str, pred_path: str, gold: list[Sentence] | None = None
    ) -> tuple[list[Sentence], list[Sentence]]:
        """Gold (read unless given) and prediction, checked to be aligned."""
        gold = self.read(gold_path) if gold is None else gold
        pred = self.read(pred_path)
        read_topn_labels(pred, "label")  # predict --topn's cells, as their first label
        check_aligned(str(gold_path), gold, str(pred_path), pred)
        return gold, pred


def _after(sentence: Sentence) -> int:
    """The line just after the sentence's last token (a blank line, or the end of the file)."""
    return sentence.line_numbers[-1] + 1 if sentence.line_numbers else 0


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def check_aligned(
    gold_path: str, gold: list[Sentence], pred_path: str, pred: list[Sentence]
) -> None:
    """Gold and prediction must hold the same sentences and tokens in the same order.

    The first difference is reported as a :class:`DataError` that names the line of each file
    where they part: a different token, a sentence that ends in one file but goes on in the
    other, a sentence with another id, or sentences left over in one file.
    """
    for index, (g, p) in enumerate(zip(gold, pred)):
        if g.words == p.words:
            if g.sent_id is not None and p.sent_id is not None and g.sent_id != p.sent_id:
                raise DataError(
                    f"sentence {index + 1} (from line {p.first_line}) has id {p.sent_id!r} but "
                    f"the sentence at line {g.first_line} of {gold_path} has id {g.sent_id!r}; "
                    "gold and prediction must hold the same sentences in the same order",
                    pred_path,
                    p.first_line,
                )
            continue
        for i, (gw, pw) in enumerate(zip(g.words, p.words)):
            if gw != pw:
                raise DataError(
                    f"token {pw!r} differs from {gw!r} at line {g.line_numbers[i]} of "
                    f"{gold_path} (sentence {index + 1}, token {i + 1}); gold and prediction "
                    "must hold the same tokens in the same order",
                    pred_path,
                    p.line_numbers[i],
                )
        shared = min(len(g.words), len(p.words))
        sizes = (
            f"sentence {index + 1} has {_tokens(len(g.words))} from line {g.first_line} in gold "
            f"and {_tokens(len(p.words))} from line {p.first_line} in the prediction"
        )
        if len(g.words) > len(p.words):
            raise DataError(
                f"the sentence ends here (blank line or end of file) after {_tokens(shared)}, "
                f"but line {g.line_numbers[shared]} of {gold_path} holds its token "
                f"{shared + 1}, {g.words[shared]!r}; {sizes}",
                pred_path,
                _after(p),
            )
        raise DataError(
            f"token {shared + 1} of the sentence, {p.words[shared]!r}, is here, but the sentence "
            f"ends after {_tokens(shared)} at line {_after(g)} of {gold_path} (blank line or end "
            f"of file); {sizes}",
            pred_path,
            p.line_numbers[shared],
        )
    if len(gold) != len(pred):
        if len(gold) > len(pred):
            where = (
                f"{pred_path} ends after sentence {len(pred)} (line {_after(pred[-1])}) but "
                f"sentence {len(pred) + 1} of {gold_path} starts at line "
                f"{gold[len(pred)].first_line}"
            )
            path, line = pred_path, _after(pred[-1])
        else:
            where = (
                f"{gold_path} ends after sentence {len(gold)} (line {_after(gold[-1])}) but "
                f"sentence {len(gold) + 1} of {pred_path} starts at line "
                f"{pred[len(gold)].first_line}"
            )
            path, line = pred_path, pred[len(gold)].first_line
        raise DataError(
            f"{len(gold)} gold sentences but {len(pred)} predicted sentences: {where}",
            path,
            line,
        )
