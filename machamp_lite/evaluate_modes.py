"""``machamp-lite evaluate``'s modes beside span scoring: CoNLL 2018 scores of CoNLL-U files
(chosen when every file is CoNLL-U and no option says what else to score) and every task of a
dataset (``--dataset_config`` or ``--model``). The arguments are checked here, the scoring is in
:mod:`machamp_lite.evaluation_ud` and :mod:`machamp_lite.evaluation_tasks`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from .data.readers import detect_reader
from .errors import MachampError


class EvaluateUsageError(MachampError):
    """The ``evaluate`` arguments do not fit together."""


# Options that choose what a label column holds; with none of them two CoNLL-U files get the
# CoNLL 2018 scores, and none of them goes with --dataset_config or --model.
_LABEL_OPTIONS = (
    "label_column", "word_column", "scheme", "metrics", "no_spans", "train_file",
    "positive_label", "types", "plot", "by_language", "language_files", "language_dir",
    "language_map",
)  # fmt: skip


def _given(args: argparse.Namespace, options: Sequence[str]) -> list[str]:
    """The options of ``options`` that were given: set, and not to an empty list or False
    (``--label_column 0`` is given, though 0 == False)."""
    given = []
    for option in options:
        value = getattr(args, option, None)
        if value is not None and value is not False and value != []:
            given.append(f"--{option}")
    return given


def task_report(args: argparse.Namespace, files: list[str]) -> dict[str, Any]:
    """Every task of one dataset scored on GOLD PRED (``--dataset_config`` or ``--model``)."""
    from .evaluation_tasks import (
        choose_dataset,
        datasets_from_configs,
        datasets_from_model,
        evaluate_tasks,
    )

    config, model = getattr(args, "dataset_config", None), getattr(args, "model", None)
    if config and model:
        raise EvaluateUsageError("give the dataset with --dataset_config or --model, not both")
    clash = _given(args, _LABEL_OPTIONS + ("compare", "models", "names", "separator"))
    if clash:
        raise EvaluateUsageError(
            f"{', '.join(clash)} cannot go with --dataset_config or --model: the dataset config "
            "says where each task's labels are and how the files are read"
        )
    if len(files) != 2:
        raise EvaluateUsageError(
            f"--dataset_config and --model score one GOLD PRED pair, got {len(files)} files"
        )
    plugins = getattr(args, "plugins", None) or []
    if model:
        datasets, where = datasets_from_model(model, plugins), f"model {model}"
    else:
        datasets, where = datasets_from_configs([str(config)], plugins), str(config)
    dataset = choose_dataset(datasets, getattr(args, "dataset", None), where)
    return evaluate_tasks(files[0], files[1], dataset, where)


def _ud_pairs(args: argparse.Namespace, files: list[str]) -> list[tuple[str, str]] | None:
    """The file pairs to score as CoNLL-U, when every gold file is CoNLL-U (by suffix or
    content) and no option says what else to score; else None. A prediction is read as CoNLL-U
    then whatever it looks like, so that a damaged one is named with its line."""
    encoding = getattr(args, "encoding", "utf-8")
    if _given(args, _LABEL_OPTIONS) or len(files) < 2:
        return None
    if getattr(args, "compare", False) or getattr(args, "models", None) is not None:
        pairs = [(files[0], pred) for pred in files[1:]]
    elif len(files) % 2:
        return None  # the usage error of span scoring says why
    else:
        pairs = [(files[i], files[i + 1]) for i in range(0, len(files), 2)]
    if any(detect_reader(gold, encoding) != "conllu" for gold, _ in pairs):
        return None
    return pairs


def ud_report(args: argparse.Namespace, files: list[str]) -> dict[str, Any] | None:
    """The CoNLL 2018 scores of the files (pairs, or --compare), when they are CoNLL-U and no
    option asks for something else; else None."""
    from .evaluation_ud import evaluate_ud

    pairs = _ud_pairs(args, files)
    if pairs is None:
        return None
    models = getattr(args, "models", None)
    compare = getattr(args, "compare", False) or models is not None
    if models is not None and getattr(args, "names", None) is not None:
        raise EvaluateUsageError("give the row names with --models or with --names, not both")
    names = models if models is not None else getattr(args, "names", None)
    if names is not None and len(names) != len(pairs):
        raise EvaluateUsageError(f"{len(names)} names for {len(pairs)} file pairs")
    mode = "compare" if compare else "pairs"
    return evaluate_ud(pairs, names, getattr(args, "encoding", "utf-8"), mode)
