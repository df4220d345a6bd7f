"""``machamp-lite evaluate``: arguments and output (table, JSON, plot) for scoring predictions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import calibration_metrics
from .data.text import EncodingError, check_encoding_option
from .evaluate_modes import EvaluateUsageError, task_report, ud_report
from .evaluation import evaluate_by_language, evaluate_compare, evaluate_pairs
from .evaluation_files import SEPARATORS, Layout
from .evaluation_languages import (
    DEFAULT_LANGUAGE_PATTERN,
    find_language_files,
    language_map_from_files,
    language_of_path,
    read_language_map,
)
from .evaluation_metrics import LabelMetrics, training_labels_of
from .evaluation_table import _all_types, format_ud_table
from .evaluation_table import format_table as format_table
from .evaluation_tasks import format_tasks_table

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
  machamp-lite evaluate dev.conll dev.pred --metrics f1_macro f1_micro --train_file train.conll
  machamp-lite evaluate dev.conllu dev.pred --label_column 3 --no_spans --metrics accuracy f1_macro
  machamp-lite evaluate dev.conllu pred.conllu                   # CoNLL 2018 (UD) scores
  machamp-lite evaluate dev.conll pred.conll --dataset_config cfg.json [--dataset NAME]
  machamp-lite evaluate dev.conll pred.conll --model logs/RUN/DATE/model
  machamp-lite evaluate dev.conll dev.pred --probabilities dev.pred.probabilities.jsonl --plot c.png

Two CoNLL-U files (by suffix or content) without any label option (--label_column,
--metrics, --scheme, ...) are scored as the CoNLL 2018 shared task scores them: tokens,
words, UPOS, XPOS, UFeats, AllTags, Lemmas, UAS, LAS, CLAS, plus Feats and LAS-full.
With --dataset_config or --model, every task of the dataset is scored with its metric.
"""


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Span (chunk) precision, recall and F1 with conlleval's chunk rules:\n"
        "micro (all chunks pooled), macro (mean of the per-type F1) and per type;\n"
        "CoNLL 2018 shared task scores of CoNLL-U files; or every task of a dataset."
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
        default=None,
        help="field holding the tags, from 0; negative counts from the end (default -1: last)",
    )
    parser.add_argument(
        "--word_column",
        type=int,
        default=None,
        help="field holding the tokens (default 0; 1, the FORM, for CoNLL-U)",
    )
    parser.add_argument(
        "--scheme", default=None, choices=["iob", "bioes", "bilou"], help="default iob"
    )
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
    extra = parser.add_argument_group(
        "registered metrics on the label column (a task's metric and additional_metrics)"
    )
    extra.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        default=None,
        help="score these registered metrics too, as training scores dev data: one column each "
        "(e.g. f1_macro f1_micro accuracy; machamp-lite components lists them)",
    )
    extra.add_argument(
        "--no_spans",
        action="store_true",
        help="score only the --metrics, for labels that are not chunk tags (UPOS, classes)",
    )
    extra.add_argument(
        "--train_file",
        metavar="FILE",
        default=None,
        help="the task's training file (same layout): its labels in order of first appearance "
        "are MaChAmp's label vocabulary, which f1_macro and f1_binary follow (without it, "
        "f1_macro averages over the labels found in gold and prediction)",
    )
    extra.add_argument(
        "--positive_label",
        metavar="LABEL",
        default=None,
        help="f1_binary's positive label (default with --train_file: its first label, as in "
        "MaChAmp and in training)",
    )
    tasks = parser.add_argument_group(
        "every task of a dataset, each with its metric and additional_metrics, as training "
        "scores dev data"
    )
    tasks.add_argument(
        "--dataset_config",
        metavar="CFG",
        default=None,
        help="read GOLD and PRED with this dataset config's reader and score each of its tasks",
    )
    tasks.add_argument(
        "--model",
        metavar="MODEL",
        default=None,
        help="take the dataset config from a trained model folder (RUN/DATE/model) instead",
    )
    tasks.add_argument(
        "--dataset",
        metavar="NAME",
        default=None,
        help="the dataset (needed when there are several)",
    )
    tasks.add_argument(
        "--plugins",
        nargs="+",
        action="extend",
        default=[],
        metavar="MODULE",
        help="plugin modules that the dataset config or model names, allowed to be imported",
    )
    confidence = parser.add_argument_group(
        "calibration of one prediction's probabilities (predict --probabilities)"
    )
    confidence.add_argument(
        "--probabilities",
        metavar="FILE",
        default=None,
        help="predict's side file of PRED (OUTPUT.probabilities.jsonl): add how well its "
        "probabilities match the accuracy of words and entities (ECE, reliability bins) and "
        "entity precision/recall per probability threshold; --plot then draws these",
    )
    confidence.add_argument(
        "--task", metavar="NAME", default=None, help="the side file's task (when it has several)"
    )
    confidence.add_argument(
        "--bins", type=int, default=None, help="equal-width confidence bins (default 10)"
    )


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


def _label_metrics(args: argparse.Namespace, layout: Layout) -> LabelMetrics | None:
    """The ``--metrics`` to score, checked against the options that only they use. f1_binary
    must be told its positive label, so that no row of the table takes its own."""
    names = getattr(args, "metrics", None)
    train_file = getattr(args, "train_file", None)
    positive = getattr(args, "positive_label", None)
    if not names:
        for option, given in (
            ("--no_spans", getattr(args, "no_spans", False)),
            ("--train_file", train_file),
            ("--positive_label", positive),
        ):
            if given:
                raise EvaluateUsageError(f"{option} goes with --metrics NAME ...")
        return None
    if getattr(args, "no_spans", False) and (
        getattr(args, "plot", None) or getattr(args, "types", None)
    ):
        raise EvaluateUsageError("--plot and --types show span scores; drop them or --no_spans")
    if positive is not None and "f1_binary" not in names:
        raise EvaluateUsageError("--positive_label is f1_binary's; add it to --metrics")
    if "f1_binary" in names and positive is None and train_file is None:
        raise EvaluateUsageError(
            "f1_binary needs its positive label: give --train_file TRAIN (MaChAmp's and "
            "training's choice, the first label of the training data) or --positive_label LABEL"
        )
    training = training_labels_of(layout.read(train_file)) if train_file else None
    chosen = LabelMetrics(tuple(dict.fromkeys(names)), training, positive)
    chosen.build()  # an unknown name fails here, before any file is scored
    return chosen


def build_report(args: argparse.Namespace) -> dict[str, Any]:
    """Check how the arguments fit together and score the files."""
    files = list(getattr(args, "files", None) or [args.gold, args.pred])
    check_encoding_option(getattr(args, "encoding", "utf-8"), EvaluateUsageError)
    calibration_metrics.check_calibration_options(args, files)
    side = getattr(args, "probabilities", None)
    if getattr(args, "dataset_config", None) or getattr(args, "model", None):
        return task_report(args, files)
    for option in ("dataset", "plugins"):
        if getattr(args, option, None):
            raise EvaluateUsageError(f"--{option} goes with --dataset_config CFG or --model MODEL")
    report = ud_report(args, files) if side is None else None
    if report is not None:
        return report
    label_column = -1 if args.label_column is None else args.label_column
    options: dict[str, Any] = dict(
        label_column=label_column,
        scheme=None if getattr(args, "no_spans", False) else (args.scheme or "iob"),
        word_column=getattr(args, "word_column", None),
        encoding=getattr(args, "encoding", "utf-8"),
        separator=getattr(args, "separator", None),
    )
    layout = Layout(label_column, options["word_column"], options["encoding"], options["separator"])
    options["metrics"] = _label_metrics(args, layout)
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
    report = evaluate_pairs(pairs, names, **options)
    if side is not None:
        report["calibration"] = calibration_metrics.calibration_section(
            files[0], files[1], side, layout, options["scheme"], *_task_and_bins(args)
        )
    return report


def _task_and_bins(args: argparse.Namespace) -> tuple[str | None, int | None]:
    return getattr(args, "task", None), getattr(args, "bins", None)


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
    if report["mode"] in ("ud", "ud_compare", "tasks"):
        table = format_tasks_table if report["mode"] == "tasks" else format_ud_table
        print(json.dumps(report, indent=2) if args.json else table(report))
        return
    types = _check_types(report, getattr(args, "types", None))
    _warn_unmapped(report)
    calibration = report.get("calibration")
    if calibration is not None and getattr(args, "plot", None):
        from .plotting_calibration import plot_calibration

        print(f"wrote {plot_calibration(calibration, args.plot, args.plot_title)}", file=sys.stderr)
    elif getattr(args, "plot", None):
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
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report, types))
        if calibration is not None:
            print("\n" + calibration_metrics.format_calibration(calibration))
