"""Reading back MaChAmp's top-n cells (``predict --topn N``): a label cell such as
``B-PER=0.91|O=0.06|B-ORG=0.02`` holds label=probability pairs, the first being the predicted
label. ``evaluate`` reads such a prediction cell as that first label, so that a top-n output
scores exactly like the plain output of the same prediction. Gold files are never read this
way: a gold label is what it says.

A cell is a top-n cell only when all of it is such pairs, every probability a number in [0, 1]
and their sum at most 1 (they are probabilities of different outcomes: labels of one word, or
different label sequences), so that ordinary labels with an ``=`` stay as they are.

A single pair (``Person=1``) is also what an ordinary label can look like (a CoNLL-U FEATS
value, a key=value class). ``predict --topn N`` with N of at least 2 writes at least two pairs
per cell, so :func:`first_labels`, which reads a whole column of one file, reads single pairs
as top-n cells only when the column also holds cells of two or more pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from .data.sentence import Sentence

# Rounding slack on the sum of a cell's probabilities, which are written with 6 digits.
SUM_SLACK = 1e-4


def topn_pairs(cell: str) -> list[tuple[str, float]] | None:
    """The (label, probability) pairs of a top-n cell, or None when ``cell`` is not one."""
    if "=" not in cell:  # the common case: an ordinary label
        return None
    pairs = []
    total = 0.0
    for part in cell.split("|"):
        label, equals, number = part.rpartition("=")
        if not equals or not label or not number or number.strip() != number:
            return None
        if not (number[0].isdigit() or number[0] == "."):  # no sign, nan, inf or "_"
            return None
        try:
            probability = float(number)
        except ValueError:
            return None
        if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
            return None
        total += probability
        pairs.append((label, probability))
    if total > 1.0 + SUM_SLACK:
        return None
    return pairs


def best_of_topn(cell: str) -> str:
    """The predicted (first) label of a top-n cell; any other cell unchanged."""
    pairs = topn_pairs(cell)
    return cell if pairs is None else pairs[0][0]


def first_labels(cells: Sequence[str]) -> list[str] | None:
    """A prediction column (one file's cells of one label column or task) with its top-n
    cells read as their first label, or None when it holds no top-n cell of two or more pairs
    (then nothing is changed: a lone ``Person=1`` is an ordinary label)."""
    parsed = [topn_pairs(cell) if isinstance(cell, str) else None for cell in cells]
    if not any(pairs is not None and len(pairs) > 1 for pairs in parsed):
        return None
    return [cell if pairs is None else pairs[0][0] for cell, pairs in zip(cells, parsed)]


def read_topn_labels(sentences: Sequence[Sentence], task: str) -> None:
    """Replace, in place, the top-n cells among ``task``'s labels of one prediction file's
    ``sentences`` (a list per word, or one sentence label) by their first label, as
    :func:`first_labels` reads them over the whole file."""
    cells: list[Any] = []
    for sentence in sentences:
        value = sentence.labels.get(task)
        cells.extend(value if isinstance(value, list) else [value])
    read = first_labels(cells)
    if read is None:
        return
    position = 0
    for sentence in sentences:
        value = sentence.labels.get(task)
        if isinstance(value, list):
            sentence.labels[task] = read[position : position + len(value)]
            position += len(value)
        else:
            sentence.labels[task] = read[position]
            position += 1


def _lenient(validate: Callable[[str], str | None] | None) -> Callable[[str], str | None] | None:
    """A codec's label check that checks a top-n cell's first label instead of the cell."""
    if validate is None:
        return None
    return lambda label: validate(best_of_topn(label))


def read_prediction_file(dataset: dict[str, Any], path: str) -> list[Sentence]:
    """A prediction file of ``dataset`` read as ``read_dataset_file`` reads it (all its
    sentences, each task's labels checked and normalised by its codec), its top-n cells read
    as their first label: a codec would refuse ``O=0.93|B-PER=0.05`` as a BIO tag."""
    from .data.dataset import make_reader, task_columns
    from .decoders.codecs import codec_for

    columns = [replace(c, validate=_lenient(c.validate)) for c in task_columns(dataset)]
    sentences = make_reader(dataset, path).read(path, columns, require_labels=True)
    for task, config in dataset["tasks"].items():
        read_topn_labels(sentences, task)
        codec = codec_for(config["task_type"])
        for sentence in sentences:
            sentence.labels[task], _ = codec.normalise(sentence.labels[task])
    return sentences


def read_topn_attributes(items: Sequence[Any], names: Sequence[str]) -> list[str]:
    """For each attribute of ``names`` (a column of a prediction file's words, such as a
    CoNLL-U file's UPOS), its top-n cells over all ``items`` replaced in place by their first
    label, as :func:`first_labels` reads a column; returns the names that changed."""
    changed = []
    for name in names:
        read = first_labels([getattr(item, name) for item in items])
        if read is not None:
            for item, value in zip(items, read):
                setattr(item, name, value)
            changed.append(name)
    return changed
