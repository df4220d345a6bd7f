"""The text table of ``machamp-lite evaluate``: one row per file pair, model or language, with
per-type span F1, micro and macro scores and, for ``--metrics``, one column per metric; or,
without span scores, the metric columns alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .evaluation_languages import language_of_path


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def _all_types(report: dict[str, Any]) -> list[str]:
    """Every type of the rows and of the pooled counts (which include unmapped sentences)."""
    results = list(report["pairs"]) + ([report["pooled"]] if "pooled" in report else [])
    return sorted({name for result in results for name in result.get("per_type", {})})


def _as_report(result: dict[str, Any]) -> dict[str, Any]:
    """A single :func:`evaluate_files` result as a one-pair report."""
    row = dict(result, name=language_of_path(result.get("gold", "")) or "file")
    scheme = result.get("scheme", "iob" if "micro" in result else None)
    return {"mode": "pairs", **result, "scheme": scheme, "pairs": [row]}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    return "-" if math.isnan(value) else f"{value:.4f}"


def _metric_detail(result: dict[str, Any]) -> list[str]:
    """One line per metric: its plain entries (per-label tables are in the JSON output)."""
    lines = []
    for name, scores in result.get("metrics", {}).items():
        entries = [
            f"{key} {_number(value) if not isinstance(value, str) else repr(value)}"
            for key, value in scores.items()
            if not isinstance(value, (dict, list))
        ]
        lines.append(f"{name}: {', '.join(entries)}")
    return lines


def _positive_labels(results: Sequence[dict[str, Any]]) -> list[str]:
    """Which positive label each binary metric took: the table must not hide that choice."""
    notes: dict[str, None] = {}
    for result in results:
        for name, scores in result.get("metrics", {}).items():
            if scores.get("positive_label") is not None:
                notes.setdefault(f"{name}: positive label {scores['positive_label']!r}")
    return list(notes)


def _detail(result: dict[str, Any], types: Sequence[str]) -> list[str]:
    lines = [f"{'type':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name in types:
        row = result["per_type"].get(name)
        if row is None:
            lines.append(f"{name:<12}{'-':>10}{'-':>10}{'-':>10}{0:>10}")
            continue
        lines.append(
            f"{name:<12}{_percent(row['precision']):>10}{_percent(row['recall']):>10}"
            f"{_percent(row['f1']):>10}{row['support']:>10}"
        )
    for name in ("micro", "macro"):
        row = result[name]
        lines.append(
            f"{name:<12}{_percent(row['precision']):>10}{_percent(row['recall']):>10}"
            f"{_percent(row['f1']):>10}"
        )
    counts = result["counts"]
    lines.append(
        f"accuracy {_percent(result['accuracy'])}; chunks: gold {counts['gold']}, predicted "
        f"{counts['predicted']}, correct {counts['correct']}; tokens {counts['tokens']}"
    )
    return lines


def format_table(report: dict[str, Any], types: Sequence[str] | None = None) -> str:
    """The report as a text table: one row per pair (language, model), per-type F1 columns,
    micro P/R/F1, macro F1 and accuracy, then the average and pooled rows when there are any.
    Metrics scored beside the spans add one column each (their ``score``); a report without
    span scores shows the metric columns alone."""
    if "pairs" not in report:
        report = _as_report(report)
    spans = report.get("scheme") is not None
    rows = report["pairs"]
    types = list(types) if types is not None and spans else _all_types(report)
    extra: list[tuple[str, dict[str, Any] | None]] = []
    unmapped = report.get("unmapped")
    if unmapped and unmapped.get("scores"):
        extra.append((f"(unmapped: {unmapped['count']})", unmapped["scores"]))
    table_rows: list[tuple[str, dict[str, Any] | None]] = [(r["name"], r) for r in rows]
    summary: list[tuple[str, dict[str, Any]]] = []
    if len(rows) > 1 or report["mode"] == "by_language":
        if "average" in report:
            summary.append((f"average ({report['average']['count']})", report["average"]))
        if "pooled" in report:
            summary.append(("pooled", report["pooled"]))
    results = [result for _, result in table_rows + extra + summary if result]
    metric_names = list(dict.fromkeys(n for r in results for n in r.get("metrics", {})))

    names = [name for name, _ in table_rows + extra + summary]
    name_width = max([len(n) for n in names] + [8]) + 2
    widths = {t: max(len(t), 6) + 1 for t in types}
    metric_widths = {m: max(len(m), 7) + 2 for m in metric_names}
    if spans:
        header = f"{'name':<{name_width}}{'sents':>7}{'gold':>7}{'pred':>7}"
        header += "".join(f"{t:>{widths[t]}}" for t in types)
        header += f"{'P':>8}{'R':>8}{'F1':>8}{'macro-F1':>10}{'acc':>8}"
    else:
        header = f"{'name':<{name_width}}{'sents':>7}{'tokens':>8}"
    header += "".join(f"{m:>{metric_widths[m]}}" for m in metric_names)

    def span_columns(name: str, result: dict[str, Any], full: bool) -> str:
        if full:
            counts = result["counts"]
            text = f"{name:<{name_width}}{counts['sentences']:>7}{counts['gold']:>7}"
            text += f"{counts['predicted']:>7}"
            for t in types:
                scores = result["per_type"].get(t)
                text += f"{_percent(scores['f1'] if scores else None):>{widths[t]}}"
        else:
            text = f"{name:<{name_width}}{'':>21}" + "".join(f"{'':>{widths[t]}}" for t in types)
        micro = result["micro"]
        text += f"{_percent(micro['precision']):>8}{_percent(micro['recall']):>8}"
        text += f"{_percent(micro['f1']):>8}{_percent(result['macro']['f1']):>10}"
        return text + f"{_percent(result['accuracy']):>8}"

    def line(name: str, result: dict[str, Any], full: bool) -> str:
        if spans:
            text = span_columns(name, result, full)
        elif full:
            counts = result["counts"]
            text = f"{name:<{name_width}}{counts['sentences']:>7}{counts['tokens']:>8}"
        else:
            text = f"{name:<{name_width}}{'':>15}"
        for m in metric_names:
            score = result.get("metrics", {}).get(m, {}).get("score")
            text += f"{_number(score):>{metric_widths[m]}}"
        return text

    if spans:
        caption = (
            f"span scores in % (scheme {report['scheme']}); type columns: F1; P, R, F1: micro "
            "(all chunks pooled); macro-F1: mean of the per-type F1"
        )
        if metric_names:
            caption += "; then each metric's score"
    else:
        caption = "label metrics (no span scores): each metric's score"
    lines = [caption, header]
    lines += [line(name, result, True) for name, result in table_rows + extra if result]
    if summary:
        lines.append("-" * len(header))
        for name, result in summary:
            lines.append(line(name, result, name == "pooled"))
    scores = "micro and of macro scores" if spans else "each metric's score"
    if report["mode"] == "by_language":
        lines.append(f"average: mean over the languages of {scores}; pooled: the whole file")
    elif len(rows) > 1 and summary:
        lines.append(
            f"average: mean over the file pairs of {scores}; pooled: all "
            f"{'chunks' if spans else 'labels'} of all pairs counted together"
        )
    if len(rows) == 1 and report["mode"] != "by_language":
        lines.append("")
        lines += _detail(rows[0], types) if spans else []
        lines += _metric_detail(rows[0])
    else:
        lines += _positive_labels(results)
    return "\n".join(lines)


# --- CoNLL-U scores (evaluation_ud) ---------------------------------------------------------------


def _ud_detail(scores: dict[str, Any]) -> list[str]:
    """One line per metric, as conll18_ud_eval.py's verbose table: P, R, F1, aligned accuracy."""
    lines = [
        f"{'metric':<11}{'gold':>8}{'pred':>8}{'correct':>9}{'P':>9}{'R':>9}{'F1':>9}"
        f"{'AligndAcc':>11}"
    ]
    for name, row in scores.items():
        aligned = _percent(row["aligned_accuracy"]) if "aligned_accuracy" in row else ""
        lines.append(
            f"{name:<11}{row['gold']:>8}{row['predicted']:>8}{row['correct']:>9}"
            f"{_percent(row['precision']):>9}{_percent(row['recall']):>9}{_percent(row['f1']):>9}"
            f"{aligned:>11}".rstrip()
        )
    return lines


def format_ud_table(report: dict[str, Any]) -> str:
    """CoNLL-U scores: for one file pair, one line per metric; for several, one row per pair
    with each metric's F1, then their average and the pooled counts' F1."""
    caption = (
        "CoNLL 2018 shared task scores in % (conll18_ud_eval.py's definitions; words aligned "
        "by characters): P, R, F1, and accuracy over aligned words"
    )
    rows = report["pairs"]
    lines = [caption]
    if len(rows) == 1:
        row = rows[0]
        lines.append(f"gold {row['gold']}, prediction {row['prediction']}")
        lines += _ud_detail(row["scores"])
    else:
        names = [row["name"] for row in rows] + ["average (99)", "pooled"]
        width = max(len(n) for n in names) + 2
        metrics = list(dict.fromkeys(m for row in rows for m in row["scores"]))
        columns = {m: max(len(m), 6) + 2 for m in metrics}
        header = f"{'name':<{width}}" + "".join(f"{m:>{columns[m]}}" for m in metrics)
        lines.append(header + "   (F1)")

        def line(name: str, scores: dict[str, Any]) -> str:
            cells = [_percent(scores[m]["f1"]) if m in scores else "-" for m in metrics]
            return f"{name:<{width}}" + "".join(
                f"{c:>{columns[m]}}" for m, c in zip(metrics, cells)
            )

        lines += [line(row["name"], row["scores"]) for row in rows]
        if "average" in report:
            lines.append("-" * len(header))
            lines.append(
                line(f"average ({report['average']['count']})", report["average"]["scores"])
            )
            lines.append(line("pooled", report["pooled"]["scores"]))
            lines.append(
                "average: mean over the file pairs of each F1; pooled: the counts of all pairs "
                "added (a metric that a pair cannot score is left out of both)"
            )
    for row in rows:
        lines += [f"note: {note}" for note in row.get("notes", [])]
    return "\n".join(lines)
