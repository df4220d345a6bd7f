"""``machamp-lite evaluate``: arguments and output (table, JSON, plot) for scoring predictions."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from .data.text import EncodingError, check_encoding_option
from .errors import MachampError
from .evaluation import evaluate_by_language, evaluate_compare, evaluate_pairs
from .evaluation_files import SEPARATORS
from .evaluation_languages import (
    DEFAULT_LANGUAGE_PATTERN,
    find_language_files,
    language_map_from_files,
    language_of_path,
    read_language_map,
)

USAGE_NOTE = """\
file modes:
  GOLD PRED [GOLD2 PRED2 ...]       one row per file pair (e.g. per language), their average
                                    and the pooled score over all pairs
  --compare GOLD PRED_A [PRED_B ..] one gold file, one prediction file per model (--models
                                    names them and implies --compare)
  --by_language GOLD PRED           one row per language of a multilingual file, the language
                                    of each sentence looked up by its id

examples:
  machamp-lite evaluate en_dev.conll en.pred de_dev.conll de.pred
  machamp-lite evaluate dev.conll a.pred b.pred --models A B --plot f1.png
  machamp-lite evaluate multi_dev.conll multi.pred --by_language \\
      --language_dir ../shared/data/multiconer2022
"""


class EvaluateUsageError(MachampError):
    """The ``evaluate`` arguments do not fit together."""


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Span (chunk) precision, recall and F1 with conlleval's chunk rules:\n"
        "micro (all chunks pooled), macro (mean of the per-type F1) and per type."
    )
    parser.epilog = USAGE_NOTE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="GOLD PRED [GOLD2 PRED2 ...]; with --compare: GOLD PRED_A [PRED_B ...]",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--label_column",
        type=int,
        default=-1,
        help="field holding the tags, from 0; negative counts from the end (default -1: last)",
    )
    parser.add_argument(
        "--word_column",
        type=int,
        default=None,
        help="field holding the tokens (default 0; 1, the FORM, for CoNLL-U)",
    )
    parser.add_argument("--scheme", default="iob", choices=["iob", "bioes", "bilou"])
    parser.add_argument(
        "--encoding",
        default="utf-8",
        help="of every file read (default utf-8; e.g. utf-16, latin-1)",
    )
    parser.add_argument(
        "--separator",
        choices=SEPARATORS,
        default=None,
        help='columns separated by any run of spaces and tabs ("whitespace") or by single tabs '
        '("tab"), as the dataset key of train and predict (default: "tab" when the first token '
        'lines all have the same number of tab-separated fields, else "whitespace"; CoNLL-U '
        "files, by their .conllu suffix or their content, are always tab-separated)",
    )
    parser.add_argument(
        "--names", nargs="+", metavar="NAME", default=None, help="row names, one per file pair"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="the first file is gold, every other file is one model's prediction of it",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        default=None,
        help="model names, one per prediction file; implies --compare",
    )
    parser.add_argument(
        "--types",
        nargs="+",
        metavar="TYPE",
        default=None,
        help="entity types to show in the table and plot, in this order (default: all, sorted)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="write a per-type F1 bar chart, one bar per row (needs matplotlib: "
        'pip install "machamp-lite[plot]")',
    )
    parser.add_argument("--plot_title", default=None, help="title of the --plot figure")
    language = parser.add_argument_group(
        "per-language scores of one multilingual file (--by_language)"
    )
    language.add_argument(
        "--by_language",
        action="store_true",
        help="one row per language; implied by any of the mapping options below",
    )
    language.add_argument(
        "--language_files",
        nargs="+",
        metavar="LANG=PATH",
        default=None,
        help="per-language files whose sentence ids give the language (LANG= may be left "
        "out when the file name carries it, as in en_dev.conll)",
    )
    language.add_argument(
        "--language_dir",
        metavar="DIR",
        default=None,
        help=f"take the per-language files under DIR that match --language_pattern "
        f"(default {DEFAULT_LANGUAGE_PATTERN!r})",
    )
    language.add_argument("--language_pattern", default=DEFAULT_LANGUAGE_PATTERN)
    language.add_argument(
        "--language_map", metavar="FILE", default=None, help="lines of sentence id<TAB>language"
    )


# --- table --------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def _all_types(report: dict[str, Any]) -> list[str]:
    """Every type of the rows and of the pooled counts (which include unmapped sentences)."""
    results = list(report["pairs"]) + ([report["pooled"]] if "pooled" in report else [])
    return sorted({name for result in results for name in result["per_type"]})


def _as_report(result: dict[str, Any]) -> dict[str, Any]:
    """A single :func:`evaluate_files` result as a one-pair report."""
    row = dict(result, name=language_of_path(result.get("gold", "")) or "file")
    return {"mode": "pairs", "scheme": result.get("scheme", "iob"), "pairs": [row], **result}


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
    micro P/R/F1, macro F1 and accuracy, then the average and pooled rows when there are any."""
    if "pairs" not in report:
        report = _as_report(report)
    rows = report["pairs"]
    types = list(types) if types is not None else _all_types(report)
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

    names = [name for name, _ in table_rows + extra + summary]
    name_width = max([len(n) for n in names] + [8]) + 2
    widths = {t: max(len(t), 6) + 1 for t in types}
    header = f"{'name':<{name_width}}{'sents':>7}{'gold':>7}{'pred':>7}"
    header += "".join(f"{t:>{widths[t]}}" for t in types)
    header += f"{'P':>8}{'R':>8}{'F1':>8}{'macro-F1':>10}{'acc':>8}"

    def line(name: str, result: dict[str, Any], full: bool) -> str:
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

    caption = (
        f"span scores in % (scheme {report['scheme']}); type columns: F1; P, R, F1: micro (all "
        "chunks pooled); macro-F1: mean of the per-type F1"
    )
    lines = [caption, header]
    lines += [line(name, result, True) for name, result in table_rows + extra if result]
    if summary:
        lines.append("-" * len(header))
        for name, result in summary:
            lines.append(line(name, result, name == "pooled"))
    if report["mode"] == "by_language":
        lines.append(
            "average: mean over the languages of micro and of macro scores; pooled: the whole file"
        )
    elif len(rows) > 1 and summary:
        lines.append(
            "average: mean over the file pairs of micro and of macro scores; pooled: all "
            "chunks of all pairs counted together"
        )
    if len(rows) == 1 and report["mode"] != "by_language":
        lines.append("")
        lines += _detail(rows[0], types)
    return "\n".join(lines)


# --- running ------------------------------------------------------------------------------------


def _parse_language_files(items: Sequence[str]) -> dict[str, str]:
    files: dict[str, str] = {}
    for item in items:
        language, equals, path = item.partition("=")
        if not equals:
            path, language = item, language_of_path(item) or ""
            if not language:
                raise EvaluateUsageError(
                    f"--language_files: {item!r} carries no language code in its name; "
                    "write it as LANG=PATH"
                )
        if not language or not path:
            raise EvaluateUsageError(f"--language_files: {item!r} is not LANG=PATH")
        if language in files:
            raise EvaluateUsageError(f"--language_files: language {language!r} given twice")
        files[language] = path
    return files


def _language_mapping(args: argparse.Namespace) -> dict[str, str]:
    mapping: dict[str, str] = {}
    files: dict[str, str] = {}
    if args.language_dir:
        files.update(find_language_files(args.language_dir, args.language_pattern))
    if args.language_files:
        for language, path in _parse_language_files(args.language_files).items():
            files[language] = path
    if files:
        language_map_from_files(files, args.encoding, mapping, getattr(args, "separator", None))
    if args.language_map:
        read_language_map(args.language_map, args.encoding, mapping)
    return mapping


def _check_types(report: dict[str, Any], types: Sequence[str] | None) -> list[str]:
    found = _all_types(report)
    if types is None:
        return found
    unknown = [t for t in types if t not in found]
    if unknown:
        raise EvaluateUsageError(
            f"--types: {', '.join(unknown)} not found in gold or prediction; the types are: "
            f"{', '.join(found) or '(none)'}"
        )
    return list(types)


def build_report(args: argparse.Namespace) -> dict[str, Any]:
    """Check how the arguments fit together and score the files."""
    files = list(getattr(args, "files", None) or [args.gold, args.pred])
    options = dict(
        label_column=args.label_column,
        scheme=args.scheme,
        word_column=getattr(args, "word_column", None),
        encoding=getattr(args, "encoding", "utf-8"),
        separator=getattr(args, "separator", None),
    )
    check_encoding_option(options["encoding"], EvaluateUsageError)
    models = getattr(args, "models", None)
    names = getattr(args, "names", None)
    compare = getattr(args, "compare", False) or models is not None
    mapping_given = any(
        getattr(args, key, None) for key in ("language_files", "language_dir", "language_map")
    )
    by_language = getattr(args, "by_language", False) or mapping_given
    if models is not None and names is not None:
        raise EvaluateUsageError("give the row names with --models or with --names, not both")
    if by_language:
        if compare:
            raise EvaluateUsageError("--by_language scores one file pair; it cannot --compare")
        if len(files) != 2:
            raise EvaluateUsageError(
                f"--by_language takes one GOLD PRED pair, got {len(files)} files"
            )
        if not mapping_given:
            raise EvaluateUsageError(
                "--by_language needs the sentence languages: --language_files LANG=PATH ..., "
                "--language_dir DIR or --language_map FILE"
            )
        if names is not None:
            raise EvaluateUsageError("--by_language names its rows by language; drop --names")
        return evaluate_by_language(files[0], files[1], _language_mapping(args), **options)
    if compare:
        if len(files) < 2:
            raise EvaluateUsageError("--compare needs GOLD and at least one prediction file")
        given = models if models is not None else names
        if given is not None and len(given) != len(files) - 1:
            raise EvaluateUsageError(
                f"{len(given)} model names for {len(files) - 1} prediction files"
            )
        return evaluate_compare(files[0], files[1:], given, **options)
    if len(files) % 2:
        raise EvaluateUsageError(
            f"expected GOLD PRED pairs but got {len(files)} files; to score several "
            "predictions against one gold file, add --compare (or --models NAME ...)"
        )
    pairs = [(files[i], files[i + 1]) for i in range(0, len(files), 2)]
    if names is not None and len(names) != len(pairs):
        raise EvaluateUsageError(f"{len(names)} names for {len(pairs)} file pairs")
    return evaluate_pairs(pairs, names, **options)


def _warn_unmapped(report: dict[str, Any]) -> None:
    unmapped = report.get("unmapped")
    if not unmapped or not unmapped["count"]:
        return
    ids = ", ".join(unmapped["ids"])
    more = " ..." if unmapped["count"] > len(unmapped["ids"]) else ""
    print(
        f"warning: {unmapped['count']} sentence(s) of {report['gold']} have an id that the "
        f"language mapping does not hold; they count in the pooled row and the (unmapped) row "
        f"only: {ids}{more}",
        file=sys.stderr,
    )


def run_evaluate(args) -> None:
    try:
        report = build_report(args)
    except EncodingError as error:
        raise error.for_option("--encoding") from None
    types = _check_types(report, getattr(args, "types", None))
    _warn_unmapped(report)
    if getattr(args, "plot", None):
        from .plotting import plot_per_type_f1

        mode = report["mode"]
        support_source = report["pairs"][0] if mode == "compare" else report["pooled"]
        path = plot_per_type_f1(
            [(row["name"], row) for row in report["pairs"]],
            args.plot,
            types,
            title=args.plot_title,
            legend_title={"compare": "model", "by_language": "language"}.get(mode, "file"),
            support={t: s["support"] for t, s in support_source["per_type"].items()},
        )
        print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(report, indent=2) if args.json else format_table(report, types))
