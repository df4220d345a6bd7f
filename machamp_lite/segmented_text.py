"""``predict --raw_text`` with a model that has a segmentation (``tok``) task: each line of
plain text is cut into pieces, the tok task says where tokens end, the model's word-level
tasks label the tokens, and the result is written as CoNLL-U.

One sentence per non-blank input line, in input order; blank lines are skipped (as the raw-text
path without a tok task does), and each sentence's ``# sent_id`` is its input line number, so
every output sentence names the line it came from. ``# text`` is the line with surrounding
spaces removed and each run of spacing characters (tabs included) read as one space.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from .data.conllu_reader import CONLLU_FIELDS
from .data.dataset import task_columns
from .data.sentence import Sentence, TaskColumn
from .data.text import stream_lines
from .data.writers import atomic_write
from .decoders.codecs import codec_for
from .errors import ConfigError, DataError
from .segmentation import is_pieces_dataset, piece_spans, segment

MISC = len(CONLLU_FIELDS) - 1


def segmentation_task(datasets: Mapping[str, dict[str, Any]]) -> tuple[str, str] | None:
    """(dataset, task) of the model's segmentation task, or None when it has none."""
    for name, dataset in datasets.items():
        if is_pieces_dataset(dataset):
            for task, spec in dataset["tasks"].items():
                if getattr(codec_for(spec["task_type"]), "view_reader", None):
                    return name, task
    return None


def word_datasets(datasets: Mapping[str, dict[str, Any]]) -> list[str]:
    """The datasets whose tasks label words (not read as pieces)."""
    return [name for name, dataset in datasets.items() if not is_pieces_dataset(dataset)]


def _columns(config: dict[str, Any] | None) -> list[TaskColumn]:
    """The token-level tasks to write and their CoNLL-U columns (negative: from the end)."""
    if config is None:
        return []
    columns = []
    for column in task_columns(config):
        if column.level != "token":
            continue
        if not -len(CONLLU_FIELDS) <= column.column_idx <= len(CONLLU_FIELDS) - column.width:
            raise ConfigError(
                f"task {column.name!r}: column_idx {column.column_idx} is not a CoNLL-U column, "
                "so --raw_text cannot write its predictions as CoNLL-U"
            )
        columns.append(column)
    return columns


def _sentence_lines(
    number: int, text: str, tokens: list[tuple[int, int]], labels: dict[str, list[str]], columns
) -> Iterator[str]:
    yield f"# sent_id = {number}\n# text = {text}\n"
    written = {c.column_idx % len(CONLLU_FIELDS) + k for c in columns for k in range(c.width)}
    for index, (start, end) in enumerate(tokens):
        fields = ["_"] * len(CONLLU_FIELDS)
        fields[0], fields[1] = str(index + 1), text[start:end]
        for column in columns:
            parts = str(labels[column.name][index]).split("\t")
            first = column.column_idx % len(CONLLU_FIELDS)
            for k, part in enumerate(parts[: column.width]):
                fields[first + k] = part or "_"
        if MISC not in written and index + 1 < len(tokens) and tokens[index + 1][0] == end:
            fields[MISC] = "SpaceAfter=No"
        yield "\t".join(fields) + "\n"
    yield "\n"


def segmented_prediction(
    predictor: Any,
    config: dict[str, Any],
    input_path: str,
    output_path: str,
    raw_text: bool,
    labels_only: bool = False,
    max_sents: int | None = None,
) -> int | None:
    """``predict`` where segmentation decides: raw text with a model that has a tok task is
    segmented (:func:`predict_raw_text`; returns the number of sentences); the pieces dataset
    without ``--raw_text`` is refused, and so is ``--labels_only`` with segmented raw text (a
    label per token of tokens the model chose is what the CoNLL-U output already holds);
    anything else is left to the usual path (None)."""
    if is_pieces_dataset(config) and not raw_text:
        raise ConfigError(
            f"dataset {config['name']!r} of this model segments raw text: predict plain text "
            "(one sentence per line) with --raw_text, or choose a dataset of word-level tasks "
            "with --dataset"
        )
    if not raw_text or segmentation_task(predictor.datasets) is None:
        return None
    if labels_only:
        raise ConfigError(
            "--labels_only and --raw_text with a model that segments text: the CoNLL-U output "
            "of --raw_text holds the tokens and their labels; drop --labels_only"
        )
    words = None if is_pieces_dataset(config) else config
    return predict_raw_text(
        predictor, words, input_path, output_path, config.get("encoding"), max_sents
    )


def predict_raw_text(
    predictor: Any,
    config: dict[str, Any] | None,
    input_path: str,
    output_path: str,
    encoding: str | None = None,
    max_sents: int | None = None,
) -> int:
    """Segment and label the lines of ``input_path`` into CoNLL-U at ``output_path`` (written
    atomically); ``config`` is the dataset whose word-level tasks label the tokens (None for a
    model that only segments); ``max_sents`` keeps the first N non-blank lines. Returns the
    number of sentences."""
    found = segmentation_task(predictor.datasets)
    if found is None:
        raise ConfigError("this model has no segmentation task")
    tok_dataset, tok_task = found
    pre_split = bool(predictor.datasets[tok_dataset]["tasks"][tok_task].get("pre_split", True))
    columns = _columns(config)
    tasks = [c.name for c in columns]
    encoding = encoding or (config or predictor.datasets[tok_dataset]).get("encoding", "utf-8")
    size = int(predictor.params.get("prediction", {}).get("chunk_sentences", 4096))
    count = 0

    def numbered() -> Iterator[tuple[int, str]]:
        for number, line in stream_lines(input_path, encoding):
            text = " ".join(line.split())
            if text:
                yield number, text

    def lines() -> Iterator[str]:
        nonlocal count
        source: Iterator[tuple[int, str]] = numbered()
        if max_sents:
            source = itertools.islice(source, max_sents)
        while chunk := list(itertools.islice(source, size)):
            pieces = [piece_spans(text) for _, text in chunk]
            as_pieces = [
                Sentence([t[a:b] for a, b in p], {}, input_path, [n] * len(p))
                for (n, t), p in zip(chunk, pieces)
            ]
            labels = predictor.predict_sentences(as_pieces, [tok_task], tok_dataset)[tok_task]
            tokens = [
                segment(t, p, lab, pre_split) for (_, t), p, lab in zip(chunk, pieces, labels)
            ]
            words = [
                Sentence([t[a:b] for a, b in spans], {}, input_path, [n] * len(spans))
                for (n, t), spans in zip(chunk, tokens)
            ]
            predicted = {}
            if config is not None and tasks:
                predicted = predictor.predict_sentences(words, tasks, config["name"])
            for i, ((number, text), spans) in enumerate(zip(chunk, tokens)):
                per_task = {task: predicted[task][i] for task in tasks}
                yield from _sentence_lines(number, text, spans, per_task, columns)
            count += len(chunk)
        if not count:
            raise DataError("no sentences found (the file holds only blank lines)", input_path)

    atomic_write(output_path, lines(), encoding=encoding)
    return count
