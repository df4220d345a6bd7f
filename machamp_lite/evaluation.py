"""Scoring prediction files against gold files with the project's one span scorer: per file pair,
per model against one gold file, or per language inside one multilingual file. Registered
metrics on the label column (``metrics=LabelMetrics(...)``) are scored beside the spans, or
alone with ``scheme=None`` for labels that are not chunk tags.

Reading and aligning the files is in :mod:`machamp_lite.evaluation_files`, file names and
language maps in :mod:`machamp_lite.evaluation_languages`, the extra metrics in
:mod:`machamp_lite.evaluation_metrics`; their public names are importable from here too, as
are the CoNLL 2018 scores of CoNLL-U files (:mod:`machamp_lite.evaluation_ud`) and the
scores of every task of a dataset (:mod:`machamp_lite.evaluation_tasks`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from .data.sentence import Sentence
from .errors import DataError
from .evaluation_files import SEPARATORS as SEPARATORS
from .evaluation_files import Layout
from .evaluation_files import check_aligned as check_aligned
from .evaluation_files import guess_separator as guess_separator
from .evaluation_files import read_labelled as read_labelled
from .evaluation_languages import DEFAULT_LANGUAGE_PATTERN as DEFAULT_LANGUAGE_PATTERN
from .evaluation_languages import find_language_files as find_language_files
from .evaluation_languages import language_map_from_files as language_map_from_files
from .evaluation_languages import language_of_path as language_of_path
from .evaluation_languages import read_language_map as read_language_map
from .evaluation_languages import short_name, stem, unique_names
from .evaluation_metrics import LabelMetrics as LabelMetrics
from .evaluation_metrics import Tally
from .evaluation_tasks import evaluate_tasks as evaluate_tasks
from .evaluation_ud import evaluate_ud as evaluate_ud
from .metrics.span_f1 import InvalidTagError, SpanCounts, extract_chunks

# Ids of unmapped sentences listed in a ``by_language`` report (and in the CLI's warning).
MAX_LISTED_IDS = 10


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
    groups = tally_groups(gold_path, gold, pred_path, pred, scheme, keys, label_column)
    return {key: cast(SpanCounts, tally.spans) for key, tally in groups.items()}


def tally_groups(
    gold_path: str,
    gold: Sequence[Sentence],
    pred_path: str,
    pred: Sequence[Sentence],
    scheme: str | None = "iob",
    keys: Sequence[Hashable] | None = None,
    label_column: int | None = None,
    metrics: LabelMetrics | None = None,
    pooled: Tally | None = None,
) -> dict[Hashable, Tally]:
    """Like :func:`count_spans`, one :class:`Tally` per key, with the ``metrics`` scored too
    (and spans only when ``scheme`` is not None). ``pooled`` counts every sentence as well:
    its spans are the groups' merged (so chunks are found once), its metrics see each pair."""
    groups: dict[Hashable, Tally] = {}
    for index, (g, p) in enumerate(zip(gold, pred)):
        key = keys[index] if keys is not None else None
        tally = groups.get(key)
        if tally is None:
            tally = groups[key] = Tally(scheme, metrics)
        try:
            tally.add(g, p, scheme, pred_path)
        except InvalidTagError as error:
            assert scheme is not None  # only the span scorer raises it
            raise _tag_error(error, g, gold_path, p, pred_path, scheme, label_column) from None
        if pooled is not None:
            pooled.add(g, p, scheme, pred_path, count_spans=False)
    if not groups:
        groups[None] = Tally(scheme, metrics)
    if pooled is not None and pooled.spans is not None:
        for tally in groups.values():
            pooled.spans.merge(cast(SpanCounts, tally.spans))
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


# --- reports ------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def average_of(
    results: Sequence[Mapping[str, Any]], spans: bool = True, metric_names: Sequence[str] = ()
) -> dict[str, Any]:
    """Unweighted mean over results of micro and macro precision/recall/F1 and of accuracy
    (unless ``spans`` is False), and of each metric's ``score`` under ``metrics``."""
    average: dict[str, Any] = {}
    if spans:
        for kind in ("micro", "macro"):
            average[kind] = {
                key: _mean([result[kind][key] for result in results])
                for key in ("precision", "recall", "f1")
            }
        average["accuracy"] = _mean([result["accuracy"] for result in results])
    if metric_names:
        average["metrics"] = {
            name: {"score": _mean([result["metrics"][name]["score"] for result in results])}
            for name in metric_names
        }
    average["count"] = len(results)
    return average


_TOP_LEVEL = ("micro", "macro", "per_type", "accuracy", "counts", "score", "metrics")


def _report(
    mode: str,
    scheme: str | None,
    rows: list[dict[str, Any]],
    pooled: Tally | None,
    single: dict[str, Any] | None,
) -> dict[str, Any]:
    report: dict[str, Any] = {"mode": mode, "scheme": scheme, "pairs": rows}
    if pooled is not None:
        report["average"] = average_of(rows, pooled.spans is not None, list(pooled.metrics))
        report["pooled"] = pooled.result()
    if single is not None:
        # One file pair: its scores also at the top level, so that report["micro"]["f1"] works.
        for key in _TOP_LEVEL + ("gold", "prediction"):
            if key in single:
                report[key] = single[key]
    return report


def _score(
    layout: Layout,
    gold_path: str,
    pred_path: str,
    scheme: str | None,
    metrics: LabelMetrics | None,
    gold: list[Sentence] | None = None,
    pooled: Tally | None = None,
) -> Tally:
    """What one file pair counts (``gold``: its gold sentences, when already read)."""
    gold, pred = layout.read_pair(gold_path, pred_path, gold)
    groups = tally_groups(
        str(gold_path),
        gold,
        str(pred_path),
        pred,
        scheme,
        None,
        layout.label_column,
        metrics,
        pooled,
    )
    return groups[None]


def _row(name: str, gold_path: str, pred_path: str, tally: Tally) -> dict[str, Any]:
    """One report row: its name, its files and their scores."""
    row = {"name": name, "gold": str(Path(gold_path)), "prediction": str(Path(pred_path))}
    row.update(tally.result())
    return row


def evaluate_files(
    gold_path: str,
    pred_path: str,
    label_column: int = -1,
    scheme: str | None = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
    metrics: LabelMetrics | None = None,
) -> dict:
    """Span precision/recall/F1 (micro, macro, per type), accuracy and counts for one file pair;
    with ``metrics``, their results under ``metrics`` (by name); with ``scheme`` None, no span
    scores (only the counts and the metrics).

    The files must hold the same tokens; every sentence is scored (nothing is skipped) and any
    misalignment or unparseable tag raises a :class:`DataError` naming the file and line.
    ``separator`` ("whitespace" or "tab"; None: guessed per file) is as in :func:`read_labelled`.
    """
    layout = Layout(label_column, word_column, encoding, separator)
    result = _score(layout, gold_path, pred_path, scheme, metrics).result()
    result["gold"] = str(Path(gold_path))
    result["prediction"] = str(Path(pred_path))
    return result


def evaluate_pairs(
    pairs: Sequence[tuple[str, str]],
    names: Sequence[str] | None = None,
    label_column: int = -1,
    scheme: str | None = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
    metrics: LabelMetrics | None = None,
) -> dict[str, Any]:
    """Score each (gold, prediction) pair, e.g. one per language: ``pairs`` rows, their
    ``average`` (mean of micro and of macro scores) and ``pooled`` (all chunks of all pairs)."""
    if not pairs:
        raise ValueError("no file pairs to evaluate")
    if names is None:
        names = unique_names(
            [short_name(g) for g, _ in pairs],
            [f"{short_name(g)}:{stem(p)}" for g, p in pairs],
        )
    elif len(names) != len(pairs):
        raise ValueError(f"{len(names)} names for {len(pairs)} file pairs")
    layout = Layout(label_column, word_column, encoding, separator)
    rows = []
    pooled = Tally(scheme, metrics)
    for name, (gold_path, pred_path) in zip(names, pairs):
        tally = _score(layout, gold_path, pred_path, scheme, metrics, pooled=pooled)
        rows.append(_row(name, gold_path, pred_path, tally))
    return _report("pairs", scheme, rows, pooled, rows[0] if len(rows) == 1 else None)


def evaluate_compare(
    gold_path: str,
    pred_paths: Sequence[str],
    names: Sequence[str] | None = None,
    label_column: int = -1,
    scheme: str | None = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
    metrics: LabelMetrics | None = None,
) -> dict[str, Any]:
    """Score several predictions of one gold file (one per model), one row each. The rows are
    alternatives rather than parts of a whole, so there is no average or pooled row."""
    if not pred_paths:
        raise ValueError("no prediction files to compare")
    if names is None:
        names = unique_names(
            [stem(p) for p in pred_paths],
            [f"{Path(p).parent.name}/{stem(p)}" for p in pred_paths],
        )
    elif len(names) != len(pred_paths):
        raise ValueError(f"{len(names)} model names for {len(pred_paths)} prediction files")
    layout = Layout(label_column, word_column, encoding, separator)
    gold = layout.read(gold_path)
    rows = [
        _row(
            name, gold_path, pred_path, _score(layout, gold_path, pred_path, scheme, metrics, gold)
        )
        for name, pred_path in zip(names, pred_paths)
    ]
    return _report("compare", scheme, rows, None, rows[0] if len(rows) == 1 else None)


UNMAPPED = "(unmapped)"


def evaluate_by_language(
    gold_path: str,
    pred_path: str,
    mapping: Mapping[str, str],
    label_column: int = -1,
    scheme: str | None = "iob",
    word_column: int | None = None,
    encoding: str = "utf-8",
    separator: str | None = None,
    metrics: LabelMetrics | None = None,
) -> dict[str, Any]:
    """Score one multilingual file pair per language, the language of each sentence looked up by
    its id in ``mapping``: one row per language, their ``average``, ``pooled`` (the whole file)
    and ``unmapped`` (``count`` and the first ``ids`` of sentences not in the mapping, and their
    ``scores`` when there are any: they count in ``pooled`` only)."""
    layout = Layout(label_column, word_column, encoding, separator)
    gold, pred = layout.read_pair(gold_path, pred_path)
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
    pooled = Tally(scheme, metrics)
    # Grouped by the keys, languages: gold holds sentences (a file without any is refused).
    groups = cast(
        dict[str, Tally],
        tally_groups(
            str(gold_path),
            gold,
            str(pred_path),
            pred,
            scheme,
            keys,
            label_column,
            metrics,
            pooled,
        ),
    )
    rows = [
        _row(language, gold_path, pred_path, groups[language])
        for language in sorted(key for key in groups if key != UNMAPPED)
    ]
    report = _report("by_language", scheme, rows, pooled, None)
    unmapped = groups.get(UNMAPPED)
    report["unmapped"] = {
        "count": len(missing),
        "ids": missing[:MAX_LISTED_IDS],
        "scores": unmapped.result() if unmapped is not None else None,
    }
    whole = report["pooled"]
    for key in _TOP_LEVEL:
        if key in whole:
            report[key] = whole[key]
    report["gold"] = str(Path(gold_path))
    report["prediction"] = str(Path(pred_path))
    return report
