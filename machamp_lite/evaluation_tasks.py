"""Scoring a prediction file against its gold file task by task, as training scores dev data:
both files are read with a dataset's reader (from a dataset config, or from a model folder's
``datasets.json``), and each task is scored with its ``metric`` (else its decoder's default)
and its ``additional_metrics`` through :func:`~machamp_lite.metrics.task_scores.score_task`,
the trainer's own function. Nothing here names a task type: the decoder registry gives each
task's decoder, whose codec reads and normalises the labels and whose default metric scores
them, so a task type registered later is scored the same way.

A decoder whose task leaves nothing in a file to score (a class attribute
``scores_from_files = False`` on the decoder or its codec, e.g. a task trained on raw text
whose predictions are not written) is skipped with a note. A metric that follows MaChAmp's
label vocabulary (``uses_training_labels``) gets the task's training labels from the
dataset's ``train_data_path`` when that file is there, as in training; without it, a note says
that the labels of gold and prediction were used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .data.dataset import read_dataset_file
from .errors import ConfigError
from .evaluation_files import check_aligned
from .metrics.task_scores import ADDITIONAL_KEY, TrainingLabels, score_task
from .registry import decoders, import_allowed_plugins, metrics
from .topn_cells import read_prediction_file

# The class attribute (on a decoder or its codec) by which a task says that prediction files
# hold nothing of it to score.
SCORES_FROM_FILES = "scores_from_files"


def datasets_from_configs(
    paths: Sequence[str], allow_plugins: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """The checked datasets of dataset config files, their plugin modules imported when
    allowed (``--plugins``), every task's decoder and metrics known."""
    from .config import load_dataset_configs
    from .config_datasets import check_task_components

    allowed = list(allow_plugins)
    datasets = load_dataset_configs(list(paths), plugins=allowed)
    import_allowed_plugins(
        [(m, d["source"]) for d in datasets.values() for m in d.get("plugins") or []],
        allowed,
        "this dataset config",
        "pass --plugins {modules} to machamp-lite evaluate",
    )
    check_task_components(datasets)
    return datasets


def datasets_from_model(
    folder: str, allow_plugins: Iterable[str] = ()
) -> dict[str, dict[str, Any]]:
    """The datasets a trained model was trained on (its ``datasets.json``), after the folder's
    checksums are verified; no weights are loaded."""
    from .archive import read_archive_configs

    advice = "pass --plugins {modules} to machamp-lite evaluate"
    _, datasets = read_archive_configs(Path(folder), allow_plugins, advice, weights=False)
    return datasets


def choose_dataset(datasets: dict[str, dict[str, Any]], name: str | None, where: str) -> dict:
    """The dataset named ``name``; without a name, the only one."""
    if name is not None:
        if name not in datasets:
            raise ConfigError(
                f"--dataset {name!r}: {where} has no such dataset; it has: "
                f"{', '.join(sorted(datasets))}"
            )
        return datasets[name]
    if len(datasets) > 1:
        raise ConfigError(
            f"{where} has {len(datasets)} datasets ({', '.join(sorted(datasets))}); name the "
            "one whose files these are with --dataset NAME"
        )
    return next(iter(datasets.values()))


def _skip_reason(task_type: str) -> str | None:
    """Why a task cannot be scored from files (its decoder or codec says so with
    ``scores_from_files = False``, or its codec with ``produces_labels = False``), or None."""
    decoder: Any = decoders.get(task_type)
    codec = getattr(decoder, "codec", None)
    for owner, owner_name in ((decoder, decoder.__name__), (codec, type(codec).__name__)):
        for flag in (SCORES_FROM_FILES, "produces_labels"):
            if getattr(owner, flag, True) is False:
                return (
                    f"task type {task_type!r} writes nothing into prediction files to score "
                    f"({owner_name}.{flag} is False)"
                )
    return None


class _TrainingLabelsOfFiles:
    """The dataset's training labels per task, read from its training files only when a metric
    asks (as :class:`TrainingLabels` does in training), or None when they are not there."""

    def __init__(self, dataset: dict[str, Any]):
        paths = dataset.get("train_data_path") or []
        self.dataset = dataset
        self.paths = [paths] if isinstance(paths, str) else list(paths)
        self.available = bool(self.paths) and all(os.path.isfile(p) for p in self.paths)
        self.labels: TrainingLabels | None = None

    def for_task(self, task: str):
        if not self.available:
            return None

        def labels() -> list[str]:
            if self.labels is None:
                splits = [
                    _Split(self.dataset, read_dataset_file(self.dataset, p, with_context=False))
                    for p in self.paths
                ]
                self.labels = TrainingLabels(splits)
            return self.labels(task)

        return labels


class _Split:
    def __init__(self, dataset: dict[str, Any], sentences: list):
        self.tasks = dataset["tasks"]
        self.sentences = sentences


def _uses_training_labels(names: Iterable[str]) -> list[str]:
    return [n for n in names if getattr(metrics.get(n), "uses_training_labels", False)]


def evaluate_tasks(
    gold_path: str, pred_path: str, dataset: dict[str, Any], source: str
) -> dict[str, Any]:
    """Each task of ``dataset`` scored on the file pair: ``tasks`` by name (``task_type``,
    ``metric``, its result with ``score``, additional metrics under ``additional_metrics``),
    ``skipped`` tasks with the reason, ``sum`` (the sum of the scores, training's model
    selection number) and ``notes``."""
    skipped = {}
    scored = {}
    for name, task in dataset["tasks"].items():
        reason = _skip_reason(task["task_type"])
        if reason is None:
            scored[name] = task
        else:
            skipped[name] = reason
    if not scored:
        raise ConfigError(
            f"{source}, dataset {dataset['name']!r}: none of its tasks can be scored from files ("
            + "; ".join(f"{n}: {r}" for n, r in skipped.items())
            + ")"
        )
    readable = {**dataset, "tasks": scored}
    gold = read_dataset_file(readable, str(gold_path), limit=-1, with_context=False)
    pred = read_prediction_file(readable, str(pred_path))  # top-n cells: their first label
    check_aligned(str(gold_path), gold, str(pred_path), pred)
    training = _TrainingLabelsOfFiles(dataset)
    notes = []
    results = {}
    for name, task in scored.items():
        decoder: Any = decoders.get(task["task_type"])
        metric = task.get("metric") or decoder.default_metric
        additional = list(task.get("additional_metrics") or [])
        wanting = _uses_training_labels([metric, *additional])
        if wanting and not training.available:
            notes.append(
                f"task {name!r}: {', '.join(wanting)} follow the training labels' order, but the "
                f"training file ({dataset.get('train_data_path')}) is not there: the labels of "
                "gold and prediction were used"
            )
        result = score_task(
            metric,
            additional,
            [s.labels[name] for s in gold],
            [s.labels[name] for s in pred],
            f"task {name!r}",
            training.for_task(name),
        )
        results[name] = {"task_type": task["task_type"], "metric": metric, "result": result}
    return {
        "mode": "tasks",
        "dataset": dataset["name"],
        "config": source,
        "gold": str(Path(gold_path)),
        "prediction": str(Path(pred_path)),
        "sentences": len(gold),
        "tasks": results,
        "skipped": skipped,
        "sum": sum(r["result"]["score"] for r in results.values()),
        "notes": notes,
    }


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _plain_entries(result: dict[str, Any]) -> list[tuple[str, Any]]:
    """A result's numbers and strings, those of a nested group of them as ``group.key``
    (span_f1's ``micro.f1``); tables of tables (per type, per label) are left to the JSON."""
    entries = []
    for key, value in result.items():
        if isinstance(value, dict):
            if value and all(not isinstance(v, (dict, list)) for v in value.values()):
                entries += [(f"{key}.{k}", v) for k, v in value.items()]
        elif not isinstance(value, list):
            entries.append((key, value))
    return entries


def format_tasks_table(report: dict[str, Any]) -> str:
    """One row per task (its type, metric and score), each additional metric's score beside
    it, then each metric's plain entries."""
    lines = [
        f"dataset {report['dataset']!r} of {report['config']}: {report['sentences']} "
        f"sentence{'' if report['sentences'] == 1 else 's'} "
        f"of {report['gold']} scored against {report['prediction']} (scores as fractions)"
    ]
    rows = report["tasks"]
    width = max([len(n) for n in rows] + [4]) + 2
    types = max([len(r["task_type"]) for r in rows.values()] + [9]) + 2
    named = max([len(r["metric"]) for r in rows.values()] + [6]) + 2
    lines.append(
        f"{'task':<{width}}{'task_type':<{types}}{'metric':<{named}}{'score':>8}  additional"
    )
    for name, row in rows.items():
        extra = row["result"].get(ADDITIONAL_KEY, {})
        others = ", ".join(f"{n} {_number(r.get('score'))}" for n, r in extra.items())
        lines.append(
            f"{name:<{width}}{row['task_type']:<{types}}{row['metric']:<{named}}"
            f"{_number(row['result']['score']):>8}  {others}".rstrip()
        )
    lines.append(f"{'sum':<{width + types + named}}{_number(report['sum']):>8}")
    lines.append("")
    for name, row in rows.items():
        results = {row["metric"]: row["result"], **row["result"].get(ADDITIONAL_KEY, {})}
        for metric, result in results.items():
            entries = ", ".join(f"{key} {_number(value)}" for key, value in _plain_entries(result))
            lines.append(f"{name} {metric}: {entries}")
    for name, reason in report["skipped"].items():
        lines.append(f"skipped task {name!r}: {reason}")
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)
