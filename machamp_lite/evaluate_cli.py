"""``machamp-lite evaluate``: arguments and output (table or JSON) for scoring prediction files."""

from __future__ import annotations

import argparse
import json

from .evaluation import evaluate_files


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("gold")
    parser.add_argument("pred")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--label_column", type=int, default=-1)
    parser.add_argument("--scheme", default="iob", choices=["iob", "bioes", "bilou"])


def format_table(result: dict) -> str:
    lines = [f"{'type':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name, row in sorted(result["per_type"].items()):
        lines.append(
            f"{name:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}"
            f"{row['support']:>10}"
        )
    for name in ("micro", "macro"):
        row = result[name]
        lines.append(f"{name:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}")
    counts = result["counts"]
    lines.append(
        f"accuracy {result['accuracy']:.4f}; chunks gold {counts['gold']}, predicted "
        f"{counts['predicted']}, correct {counts['correct']}"
    )
    return "\n".join(lines)


def run_evaluate(args) -> None:
    result = evaluate_files(args.gold, args.pred, args.label_column, args.scheme)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
