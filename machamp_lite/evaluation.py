"""Scoring prediction files against gold files with the project's one span scorer."""

from __future__ import annotations

from pathlib import Path

from .data.readers import ColumnReader, ConlluReader, read_text
from .data.sentence import Sentence, TaskColumn
from .errors import DataError
from .metrics.span_f1 import InvalidTagError, SpanCounts, extract_chunks


def guess_separator(path: str, encoding: str = "utf-8") -> str:
    """ "tab" when the first token line has a tab (TSV, DaN+, WikiANN), else "whitespace"."""
    for line in read_text(path, encoding).split("\n"):
        if line.strip() and not line.startswith("#"):
            return "tab" if "\t" in line else "whitespace"
    return "whitespace"


def read_labelled(
    path: str, label_column: int = -1, word_column: int | None = None
) -> list[Sentence]:
    task = TaskColumn("label", label_column)
    if path.endswith(".conllu"):
        return ConlluReader(word_idx=1 if word_column is None else word_column).read(path, [task])
    separator = guess_separator(path)
    reader = ColumnReader(word_idx=0 if word_column is None else word_column, separator=separator)
    return reader.read(path, [task])


def check_aligned(
    gold_path: str, gold: list[Sentence], pred_path: str, pred: list[Sentence]
) -> None:
    """Gold and prediction must hold the same sentences and tokens; name the first mismatch."""
    for g, p in zip(gold, pred):
        if len(g.words) != len(p.words) or g.words != p.words:
            for i, (gw, pw) in enumerate(zip(g.words, p.words)):
                if gw != pw:
                    raise DataError(
                        f"token {pw!r} at line {p.line_numbers[i]} of {pred_path} differs from "
                        f"{gw!r} at line {g.line_numbers[i]} of {gold_path}; the files must hold "
                        "the "
                        "same tokens in the same order",
                        pred_path,
                        p.line_numbers[i],
                    )
            shorter, longer = (g, p) if len(g.words) < len(p.words) else (p, g)
            raise DataError(
                f"the sentence at line {g.first_line} of {gold_path} has {len(g.words)} tokens but "
                f"the one at line {p.first_line} of {pred_path} has {len(p.words)}",
                pred_path,
                p.first_line,
            )
    if len(gold) != len(pred):
        extra_path, extra = (
            (gold_path, gold[len(pred)]) if len(gold) > len(pred) else (pred_path, pred[len(gold)])
        )
        raise DataError(
            f"{gold_path} has {len(gold)} sentences and {pred_path} has {len(pred)}; the first "
            f"unmatched sentence starts at line {extra.first_line} of {extra_path}",
            extra_path,
            extra.first_line,
        )


def evaluate_files(
    gold_path: str,
    pred_path: str,
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
) -> dict:
    """Span precision/recall/F1 (micro, macro, per type), accuracy and counts for one file pair."""
    gold = read_labelled(gold_path, label_column, word_column)
    pred = read_labelled(pred_path, label_column, word_column)
    check_aligned(gold_path, gold, pred_path, pred)
    for sentences, which, path in ((gold, "gold", gold_path), (pred, "prediction", pred_path)):
        for sentence in sentences:
            try:
                extract_chunks(sentence.labels["label"], scheme)
            except InvalidTagError as error:
                raise DataError(
                    f"unparseable {which} tag {error.tag!r} (scheme {scheme!r})",
                    path,
                    sentence.line_numbers[error.token_index],
                ) from None
    counts = SpanCounts()
    for g, p in zip(gold, pred):
        counts.add_sentence(g.labels["label"], p.labels["label"], scheme)
    result = counts.result()
    result["gold"] = str(Path(gold_path))
    result["prediction"] = str(Path(pred_path))
    return result
