"""Turning a resolved dataset config into sentences: the reader, the task columns, label checks
and IOB1-to-IOB2 normalisation for BIO tasks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..registry import check_arguments, decoders, readers
from .readers import NoSentencesError
from .sentence import Sentence, TaskColumn

logger = logging.getLogger(__name__)


def task_columns(dataset: dict[str, Any]) -> list[TaskColumn]:
    """The reader's view of a dataset's tasks (label column, level, label check)."""
    columns = []
    for name, task in dataset["tasks"].items():
        decoder_class = decoders.get(task["task_type"], where=f"{dataset['source']}, task {name!r}")
        level = getattr(decoder_class, "level", "token")
        if "column_idx" not in task:
            raise ConfigError(
                f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}: "
                "missing required key 'column_idx' (the label column)"
            )
        columns.append(
            TaskColumn(
                name,
                task["column_idx"],
                level,
                getattr(decoder_class, "validate_label", None),
                getattr(decoder_class, "label_width", 1),
            )
        )
    return columns


def reader_name(dataset: dict[str, Any], path: str | None = None) -> str:
    if dataset.get("reader"):
        return dataset["reader"]
    if path and path.endswith(".conllu"):
        return "conllu"
    levels = {c.level for c in task_columns(dataset)}
    return "sentence_tsv" if levels == {"sentence"} else "column"


def make_reader(dataset: dict[str, Any], path: str | None = None):
    name = reader_name(dataset, path)
    reader_class = readers.get(name, where=f"{dataset['source']}, dataset {dataset['name']!r}")
    candidates = {
        "word_idx": dataset.get("word_idx"),
        "separator": dataset.get("separator"),
        "encoding": dataset.get("encoding"),
        "comment_regex": dataset.get("comment_regex"),
        "sent_idxs": dataset.get("sent_idxs"),
    }
    import inspect

    accepted = inspect.signature(reader_class.__init__).parameters
    arguments = {k: v for k, v in candidates.items() if k in accepted and v is not None}
    if name == "conllu" and "word_idx" in arguments and dataset.get("word_idx", 0) == 0:
        arguments.pop("word_idx")  # the column default (0) means "form" (1) in CoNLL-U
    check_arguments(reader_class, arguments, f"{dataset['source']}, dataset {dataset['name']!r}")
    return reader_class(**arguments)


def normalize_bio(labels: Sequence[str]) -> tuple[list[str], int]:
    """IOB1 (or span-initial ``I-``) to IOB2 with the same chunks under conlleval's rules:
    an ``I-X`` that starts a chunk becomes ``B-X``. Returns the labels and how many changed."""
    result, changed, previous = [], 0, "O"
    for label in labels:
        if label.startswith("I-") and (previous == "O" or previous[2:] != label[2:]):
            label = "B-" + label[2:]
            changed += 1
        result.append(label)
        previous = label
    return result, changed


def read_dataset_file(
    dataset: dict[str, Any], path: str, require_labels: bool = True, limit: int | None = None
) -> list[Sentence]:
    """Read one file of a dataset with the dataset's reader settings.

    ``limit`` keeps the first sentences only; None means the dataset's ``max_sents`` (a
    training-file setting), and -1 or 0 means all (what prediction uses)."""
    columns = task_columns(dataset)
    try:
        sentences = make_reader(dataset, path).read(path, columns, require_labels=require_labels)
    except NoSentencesError as error:
        dev = dataset.get("dev_data_path") or []
        if path not in (dev if isinstance(dev, list) else [dev]):
            raise
        raise NoSentencesError(
            f"{error.reason}; it is the dev_data_path of dataset {dataset.get('name')!r} "
            f"({dataset.get('source')}): give it the dev sentences, or remove the key to train "
            "without a dev set (the last epoch's model is kept)",
            path,
        ) from None
    limit = dataset.get("max_sents", -1) if limit is None else limit
    if limit > 0:
        sentences = sentences[:limit]
    if require_labels:
        bio_tasks = [n for n, t in dataset["tasks"].items() if t["task_type"] == "seq_bio"]
        for task in bio_tasks:
            changed = 0
            for sentence in sentences:
                sentence.labels[task], count = normalize_bio(sentence.labels[task])
                changed += count
            if changed:
                logger.info(
                    "%s: %d span-initial I- tags of task %s read as B- (IOB1 -> IOB2)",
                    path,
                    changed,
                    task,
                )
    return sentences
