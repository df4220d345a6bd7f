"""Scoring prediction files against gold files with the project's one span scorer: per file pair,
per model against one gold file, or per language inside one multilingual file."""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .data.readers import (
    DEFAULT_COMMENT_REGEX,
    ColumnReader,
    ConlluReader,
    read_text,
    split_fields,
    stream_lines,
)
from .data.sentence import Sentence, TaskColumn
from .errors import DataError
from .metrics.span_f1 import InvalidTagError, SpanCounts, extract_chunks

# Ids of unmapped sentences listed in a ``by_language`` report (and in the CLI's warning).
MAX_LISTED_IDS = 10
# The split names that make a file name such as ``en_dev.conll`` name a language (``en``).
_SPLITS = ("train", "dev", "test", "valid", "validation", "val", "eval")
_LANGUAGE_FILE = re.compile(
    r"^([A-Za-z]{2})(?:$|[_.-](?:.*[_.-])?(?:" + "|".join(_SPLITS) + r")(?:$|[_.-]))"
)
DEFAULT_LANGUAGE_PATTERN = "*/[a-z][a-z]_dev.conll"


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


def _is_conllu(path: str) -> bool:
    return str(path).lower().endswith(".conllu")


def read_labelled(
    path: str,
    label_column: int = -1,
    word_column: int | None = None,
    encoding: str = "utf-8",
    require_labels: bool = True,
    separator: str | None = None,
) -> list[Sentence]:
    """Sentences of a column file (MultiCoNER, TSV, CoNLL) or a ``.conllu`` file, with the tags
    of ``label_column`` (negative counts from the last field) under ``labels["label"]``.

    ``separator`` is "whitespace" or "tab", as a dataset config's key; None guesses it from the
    file (:func:`guess_separator`). CoNLL-U is always tab-separated."""
    path = str(path)
    if _is_conllu(path):
        column = label_column + 10 if label_column < 0 else label_column
        reader = ConlluReader(word_idx=1 if word_column is None else word_column, encoding=encoding)
        sentences = reader.read(path, [TaskColumn("label", column)], require_labels)
        if require_labels:
            for sentence in sentences:
                sentence.labels["label"] = [_plain_conllu_tag(t) for t in sentence.labels["label"]]
        return sentences
    if separator is not None and separator not in SEPARATORS:
        raise ValueError(f"separator must be one of {SEPARATORS}, got {separator!r}")
    guessed = separator is None
    reader = ColumnReader(
        word_idx=0 if word_column is None else word_column,
        separator=guess_separator(path, encoding, word_column or 0) if guessed else separator,
        encoding=encoding,
    )
    reader.separator_advice = (
        f"{'guessed from the file; ' if guessed else ''}give --separator whitespace if the "
        "columns are separated by spaces"
    )
    return reader.read(path, [TaskColumn("label", label_column)], require_labels)


def _plain_conllu_tag(tag: str) -> str:
    # The conllu package parses a MISC field such as "B-PER" as {"B-PER": ""}, which the reader
    # turns back into "B-PER="; a single key with an empty value is the plain tag.
    if tag.endswith("=") and tag.count("=") == 1 and "|" not in tag:
        return tag[:-1]
    return tag


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


def count_spans(
    gold_path: str,
    gold: Sequence[Sentence],
    pred_path: str,
    pred: Sequence[Sentence],
    scheme: str = "iob",
    keys: Sequence[Hashable] | None = None,
    label_column: int | None = None,
) -> dict[Hashable, SpanCounts]:
    """Span counts of aligned sentences, one :class:`SpanCounts` per key (``keys[i]`` is the
    group of sentence ``i``; all under ``None`` without keys). An unparseable tag raises a
    :class:`DataError` naming its file and line."""
    groups: dict[Hashable, SpanCounts] = {}
    for index, (g, p) in enumerate(zip(gold, pred)):
        key = keys[index] if keys is not None else None
        counts = groups.get(key)
        if counts is None:
            counts = groups[key] = SpanCounts()
        try:
            counts.add_sentence(g.labels["label"], p.labels["label"], scheme)
        except InvalidTagError as error:
            raise _tag_error(error, g, gold_path, p, pred_path, scheme, label_column) from None
    if not groups:
        groups[None] = SpanCounts()
    return groups


def _tag_error(
    error: InvalidTagError,
    gold: Sentence,
    gold_path: str,
    pred: Sentence,
    pred_path: str,
    scheme: str,
    label_column: int | None,
) -> DataError:
    sentence, path, which = pred, pred_path, "predicted"
    try:
        extract_chunks(gold.labels["label"], scheme)
    except InvalidTagError:
        sentence, path, which = gold, gold_path, "gold"
    hint = ""
    if label_column is not None:
        hint = f"; the tags are read from field {label_column} (--label_column)"
    return DataError(
        f"unparseable {which} tag {error.tag!r} under scheme {scheme!r}: expected 'O' or a "
        f"prefix and a type such as 'B-PER'{hint}",
        path,
        sentence.line_numbers[error.token_index],
    )


def pair_result(counts: SpanCounts) -> dict[str, Any]:
    """:meth:`SpanCounts.result` plus the number of sentences under ``counts``."""
    result = counts.result()
    result["counts"]["sentences"] = counts.sentences
    return result


def _read_pair(
    gold_path: str,
    pred_path: str,
    label_column: int,
    word_column: int | None,
    encoding: str,
    separator: str | None = None,
) -> tuple[list[Sentence], list[Sentence]]:
    gold = read_labelled(gold_path, label_column, word_column, encoding, separator=separator)
    pred = read_labelled(pred_path, label_column, word_column, encoding, separator=separator)
    check_aligned(str(gold_path), gold, str(pred_path), pred)
    return gold, pred


def _score_pair(
    gold_path: str,
    pred_path: str,
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    gold: list[Sentence] | None = None,
    separator: str | None = None,
) -> SpanCounts:
    if gold is None:
        gold = read_labelled(gold_path, label_column, word_column, encoding, separator=separator)
    pred = read_labelled(pred_path, label_column, word_column, encoding, separator=separator)
    check_aligned(str(gold_path), gold, str(pred_path), pred)
    return count_spans(str(gold_path), gold, str(pred_path), pred, scheme, None, label_column)[None]


def evaluate_files(
    gold_path: str,
    pred_path: str,
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
) -> dict:
    """Span precision/recall/F1 (micro, macro, per type), accuracy and counts for one file pair.

    The files must hold the same tokens; every sentence is scored (nothing is skipped) and any
    misalignment or unparseable tag raises a :class:`DataError` naming the file and line.
    ``separator`` ("whitespace" or "tab"; None: guessed per file) is as in :func:`read_labelled`.
    """
    counts = _score_pair(
        gold_path, pred_path, label_column, scheme, word_column, encoding, separator=separator
    )
    result = pair_result(counts)
    result["gold"] = str(Path(gold_path))
    result["prediction"] = str(Path(pred_path))
    return result


# --- names --------------------------------------------------------------------------------------


def language_of_path(path: str) -> str | None:
    """The language code a file name carries: ``en_dev.conll`` and ``da_news_dev.tsv`` give
    ``en`` and ``da``, ``wikiann/en/dev.tsv`` gives ``en``; ``None`` when there is none."""
    file = Path(path)
    match = _LANGUAGE_FILE.match(file.name)
    if match:
        return match.group(1).lower()
    stem = file.name.split(".")[0].lower()
    if stem in _SPLITS and re.fullmatch(r"[A-Za-z]{2}", file.parent.name):
        return file.parent.name.lower()
    return None


def _stem(path: str) -> str:
    name = Path(path).name
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def short_name(path: str) -> str:
    """A row name for a file: its language code when the name carries one, else its stem."""
    return language_of_path(path) or _stem(path)


def unique_names(names: Sequence[str], alternatives: Sequence[str]) -> list[str]:
    """``names`` with each repeated name replaced by its alternative, then numbered if needed."""
    seen = Counter(names)
    chosen = [alt if seen[name] > 1 else name for name, alt in zip(names, alternatives)]
    repeated = Counter(chosen)
    numbers: Counter[str] = Counter()
    result = []
    for name in chosen:
        if repeated[name] > 1:
            numbers[name] += 1
            name = f"{name}#{numbers[name]}"
        result.append(name)
    return result


# --- reports ------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def average_of(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over results of micro and macro precision/recall/F1 and of accuracy."""
    average: dict[str, Any] = {
        kind: {
            key: _mean([result[kind][key] for result in results])
            for key in ("precision", "recall", "f1")
        }
        for kind in ("micro", "macro")
    }
    average["accuracy"] = _mean([result["accuracy"] for result in results])
    average["count"] = len(results)
    return average


_TOP_LEVEL = ("micro", "macro", "per_type", "accuracy", "counts", "score")


def _report(
    mode: str,
    scheme: str,
    rows: list[dict[str, Any]],
    pooled: SpanCounts | None,
    single: dict[str, Any] | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"mode": mode, "scheme": scheme, "pairs": rows}
    if pooled is not None:
        report["average"] = average_of(rows)
        report["pooled"] = pair_result(pooled)
    if single is not None:
        # One file pair: its scores also at the top level, so that report["micro"]["f1"] works.
        for key in _TOP_LEVEL + ("gold", "prediction"):
            report[key] = single[key]
    return report


def evaluate_pairs(
    pairs: Sequence[tuple[str, str]],
    names: Sequence[str] | None = None,
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
) -> dict[str, Any]:
    """Score each (gold, prediction) pair, e.g. one per language: ``pairs`` rows, their
    ``average`` (mean of micro and of macro scores) and ``pooled`` (all chunks of all pairs)."""
    if not pairs:
        raise ValueError("no file pairs to evaluate")
    if names is None:
        names = unique_names(
            [short_name(g) for g, _ in pairs],
            [f"{short_name(g)}:{_stem(p)}" for g, p in pairs],
        )
    elif len(names) != len(pairs):
        raise ValueError(f"{len(names)} names for {len(pairs)} file pairs")
    rows = []
    pooled = SpanCounts()
    for name, (gold_path, pred_path) in zip(names, pairs):
        counts = _score_pair(
            gold_path, pred_path, label_column, scheme, word_column, encoding, separator=separator
        )
        pooled.merge(counts)
        row = {"name": name, "gold": str(Path(gold_path)), "prediction": str(Path(pred_path))}
        row.update(pair_result(counts))
        rows.append(row)
    return _report("pairs", scheme, rows, pooled, rows[0] if len(rows) == 1 else None)


def evaluate_compare(
    gold_path: str,
    pred_paths: Sequence[str],
    names: Sequence[str] | None = None,
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
) -> dict[str, Any]:
    """Score several predictions of one gold file (one per model), one row each. The rows are
    alternatives rather than parts of a whole, so there is no average or pooled row."""
    if not pred_paths:
        raise ValueError("no prediction files to compare")
    if names is None:
        names = unique_names(
            [_stem(p) for p in pred_paths],
            [f"{Path(p).parent.name}/{_stem(p)}" for p in pred_paths],
        )
    elif len(names) != len(pred_paths):
        raise ValueError(f"{len(names)} model names for {len(pred_paths)} prediction files")
    gold = read_labelled(gold_path, label_column, word_column, encoding, separator=separator)
    rows = []
    for name, pred_path in zip(names, pred_paths):
        counts = _score_pair(
            gold_path,
            pred_path,
            label_column,
            scheme,
            word_column,
            encoding,
            gold=gold,
            separator=separator,
        )
        row = {"name": name, "gold": str(Path(gold_path)), "prediction": str(Path(pred_path))}
        row.update(pair_result(counts))
        rows.append(row)
    return _report("compare", scheme, rows, None, rows[0] if len(rows) == 1 else None)


# --- languages ----------------------------------------------------------------------------------


def _add_language(
    mapping: dict[str, str], sources: dict[str, str], sent_id: str, language: str, source: str
) -> None:
    known = mapping.get(sent_id)
    if known is not None and known != language:
        raise DataError(
            f"sentence id {sent_id!r} is mapped to {language!r} here but to {known!r} by "
            f"{sources[sent_id]}",
            source,
        )
    mapping[sent_id] = language
    sources[sent_id] = source


def language_map_from_files(
    files: Mapping[str, str],
    encoding: str = "utf-8",
    mapping: dict[str, str] | None = None,
    separator: str | None = None,
) -> dict[str, str]:
    """Sentence id -> language from per-language files (``{"en": "EN-English/en_dev.conll"}``):
    every sentence of each file must carry an id (``# id <uuid>`` or ``# sent_id = ...``)."""
    mapping = {} if mapping is None else mapping
    sources: dict[str, str] = {}
    for language, path in files.items():
        sentences = read_labelled(
            str(path), encoding=encoding, require_labels=False, separator=separator
        )
        for sentence in sentences:
            if sentence.sent_id is None:
                raise DataError(
                    "this sentence has no id line ('# id <id>' or '# sent_id = <id>'), so the "
                    f"file cannot map sentence ids to the language {language!r}",
                    str(path),
                    sentence.first_line,
                )
            _add_language(mapping, sources, sentence.sent_id, language, str(path))
    return mapping


def read_language_map(
    path: str, encoding: str = "utf-8", mapping: dict[str, str] | None = None
) -> dict[str, str]:
    """Sentence id -> language from a file of ``id<TAB>language`` lines (blank lines and lines
    starting with ``#`` are ignored)."""
    mapping = {} if mapping is None else mapping
    sources: dict[str, str] = {}
    text = read_text(str(path), encoding)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [field.strip() for field in fields]
        if len(fields) != 2 or not all(fields):
            raise DataError(
                f"expected 'sentence id<TAB>language', found {len(fields)} field(s): {line!r}",
                str(path),
                number,
            )
        _add_language(mapping, sources, fields[0], fields[1], f"{path}, line {number}")
    if not mapping:
        raise DataError("no 'sentence id<TAB>language' lines found", str(path))
    return mapping


def find_language_files(directory: str, pattern: str = DEFAULT_LANGUAGE_PATTERN) -> dict[str, str]:
    """Language -> file for the files under ``directory`` that match ``pattern`` (by default
    ``*/xx_dev.conll``, as in the MultiCoNER release); the language comes from the file name."""
    if not os.path.isdir(directory):
        raise DataError("is not a directory (--language_dir)", str(directory))
    found: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(str(directory)), pattern))):
        language = language_of_path(path)
        if language is None:
            raise DataError(
                "the file name carries no language code (like en_dev.conll); name the files "
                "with --language_files LANG=PATH instead",
                path,
            )
        if language in found:
            raise DataError(
                f"a second file for language {language!r} (first: {found[language]})", path
            )
        found[language] = path
    if not found:
        raise DataError(f"no files match {pattern!r} under this directory", str(directory))
    return found


UNMAPPED = "(unmapped)"


def evaluate_by_language(
    gold_path: str,
    pred_path: str,
    mapping: Mapping[str, str],
    label_column: int = -1,
    scheme: str = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
) -> dict[str, Any]:
    """Score one multilingual file pair per language, the language of each sentence looked up by
    its id in ``mapping``: one row per language, their ``average``, ``pooled`` (the whole file)
    and ``unmapped`` (``count`` and the first ``ids`` of sentences not in the mapping, and their
    ``scores`` when there are any: they count in ``pooled`` only)."""
    gold, pred = _read_pair(gold_path, pred_path, label_column, word_column, encoding, separator)
    keys: list[str] = []
    missing: list[str] = []
    for g, p in zip(gold, pred):
        sent_id = g.sent_id if g.sent_id is not None else p.sent_id
        language = mapping.get(sent_id) if sent_id is not None else None
        if language is None:
            keys.append(UNMAPPED)
            missing.append(sent_id if sent_id is not None else f"(no id; line {g.first_line})")
        else:
            keys.append(language)
    groups = count_spans(str(gold_path), gold, str(pred_path), pred, scheme, keys, label_column)
    pooled = SpanCounts()
    for counts in groups.values():
        pooled.merge(counts)
    rows = []
    for language in sorted(key for key in groups if key != UNMAPPED):
        row = {
            "name": language,
            "gold": str(Path(gold_path)),
            "prediction": str(Path(pred_path)),
        }
        row.update(pair_result(groups[language]))
        rows.append(row)
    report = _report("by_language", scheme, rows, pooled, None)
    report["average"] = average_of(rows)
    unmapped = groups.get(UNMAPPED)
    report["unmapped"] = {
        "count": len(missing),
        "ids": missing[:MAX_LISTED_IDS],
        "scores": pair_result(unmapped) if unmapped is not None else None,
    }
    whole = report["pooled"]
    for key in _TOP_LEVEL:
        report[key] = whole[key]
    report["gold"] = str(Path(gold_path))
    report["prediction"] = str(Path(pred_path))
    return report
