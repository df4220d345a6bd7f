"""Turning a resolved dataset config into sentences: the reader, the task columns, label checks
and each task's label normalisation (its codec's, e.g. IOB1 to IOB2 for BIO tasks)."""

from __future__ import annotations

import logging
from typing import Any

from ..decoders.codecs import codec_for
from ..errors import ConfigError, DataError
from ..registry import readers
from .context_sources import attach_contexts, attach_neighbours
from .label_columns import ColumnIdxError
from .readers import NoSentencesError, Reader, detect_reader, reader_from_dataset
from .sentence import Sentence, TaskColumn

logger = logging.getLogger(__name__)


def task_columns(dataset: dict[str, Any]) -> list[TaskColumn]:
    """The reader's view of a dataset's tasks (label column, level, label check), from each
    task type's label codec."""
    columns = []
    for name, task in dataset["tasks"].items():
        codec = codec_for(task["task_type"], where=f"{dataset['source']}, task {name!r}")
        key = getattr(codec, "columns_key", None)
        if key:  # a label read from a list of columns, checked with the dataset config
            listed = task.get(key)
            if not isinstance(listed, list) or not listed:
                raise ConfigError(
                    f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}: "
                    f"missing required key {key!r} (the list of the label's columns)"
                )
            columns.append(
                TaskColumn(name, listed[0], codec.level, codec.validate, len(listed), tuple(listed))
            )
            continue
        if "column_idx" not in task:
            raise ConfigError(
                f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}: "
                "missing required key 'column_idx' (the label column)"
            )
        column_idx = task["column_idx"]
        if codec.label_width > 1 and -codec.label_width < column_idx < 0:
            # Counted from the end, the label's later columns would wrap around to column 0.
            raise ConfigError(
                f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}: key "
                f"'column_idx' is {column_idx}, but a label of task type "
                f"{task['task_type']!r} spans {codec.label_width} columns starting at column_idx "
                "(MaChAmp's convention: a parser's column_idx is the HEAD column, and the "
                "relation is read from the next one), and they do not fit after it: set "
                f"'column_idx' to {-codec.label_width} for the last {codec.label_width} columns"
            )
        columns.append(TaskColumn(name, column_idx, codec.level, codec.validate, codec.label_width))
    return columns


def reader_name(dataset: dict[str, Any], path: str | None = None) -> str:
    """The dataset's ``"reader"``; unset, the built-in reader that fits ``path`` by its suffix,
    the tasks' level or its content (:func:`~machamp_lite.data.readers.detect_reader`)."""
    if dataset.get("reader"):
        return dataset["reader"]
    levels = {c.level for c in task_columns(dataset)}
    return detect_reader(path, dataset.get("encoding", "utf-8"), levels == {"sentence"})


def make_reader(dataset: dict[str, Any], path: str | None = None) -> Reader:
    """The reader of ``path``, built from the dataset's keys as that reader reads them."""
    where = f"{dataset['source']}, dataset {dataset['name']!r}"
    reader_class = readers.get(reader_name(dataset, path), where=where)
    return reader_from_dataset(reader_class, dataset, where)


def read_dataset_file(
    dataset: dict[str, Any],
    path: str,
    require_labels: bool = True,
    limit: int | None = None,
    with_context: bool = True,
) -> list[Sentence]:
    """Read one file of a dataset with the dataset's reader settings.

    ``limit`` keeps the first sentences only; None means the dataset's ``max_sents`` (a
    training-file setting), and -1 or 0 means all (what prediction uses). The dataset's
    ``context`` fills each kept sentence's context unless ``with_context`` is False (reading
    labels only, as evaluation does)."""
    columns = task_columns(dataset)
    try:
        sentences = make_reader(dataset, path).read(path, columns, require_labels=require_labels)
    except ColumnIdxError as error:
        # The fix is in the dataset config: name it beside the data file (and line).
        raise DataError(
            f"task {error.task!r} of dataset {dataset['name']!r} ({dataset['source']}): "
            + error.advice,
            error.path,
            error.line,
        ) from None
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
    if with_context:
        attach_neighbours(dataset, sentences)
    max_words = dataset.get("max_words", -1) if limit is None else -1  # training files only
    limit = dataset.get("max_sents", -1) if limit is None else limit
    if limit > 0:
        sentences = sentences[:limit]
    if max_words > 0:
        sentences = first_words(sentences, max_words, dataset, path, columns)
    if with_context:
        attach_contexts(dataset, sentences)
    if require_labels:
        for task, config in dataset["tasks"].items():
            codec = codec_for(config["task_type"])
            changed = 0
            for sentence in sentences:
                sentence.labels[task], count = codec.normalise(sentence.labels[task])
                changed += count
            if changed:
                logger.info("%s: %s", path, codec.normalised_note.format(count=changed, task=task))
    return sentences


def first_words(
    sentences: list[Sentence], max_words: int, dataset: dict[str, Any], path: str, columns
) -> list[Sentence]:
    """The first sentences that hold at most ``max_words`` words together (MaChAmp's
    ``max_words``: the sentence that would cross the limit and all after it are left out)."""
    if all(column.level == "sentence" for column in columns):
        raise ConfigError(
            f"{dataset['source']}, dataset {dataset['name']!r}: key 'max_words' counts the words "
            "of word-level tasks, and this dataset has only sentence-level ones; use max_sents"
        )
    total = 0
    for kept, sentence in enumerate(sentences):
        total += len(sentence.words)
        if total > max_words:
            if kept == 0:
                raise DataError(
                    f"max_words {max_words} of dataset {dataset['name']!r} keeps no sentence: "
                    f"the first has {len(sentence.words)} words; raise max_words",
                    path,
                )
            return sentences[:kept]
    return sentences
