"""What ``predict --probabilities``, ``--topn`` and ``--min_confidence`` add to a prediction,
apart from the network (``decoders/confidence.py``) and the file writers:

- the output file keeps its format: its label cells hold the predicted labels, or with
  ``--topn N`` MaChAmp's top-n cells (``B-PER=0.91|O=0.06``; for a CRF the i-th pair is the
  word's label in the i-th best sequence with that sequence's probability), whose first label
  is the prediction, which ``evaluate`` reads;
- the probabilities go to a JSON-lines side file (``OUTPUT.probabilities.jsonl`` unless
  named), one object per sentence in input order, so that column files (MultiCoNER, CoNLL-U)
  stay valid for every reader;
- ``--min_confidence P`` writes the entities of a CRF tagger less probable than P as ``O``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data.sentence import Sentence
from .decoders.base import Decoder
from .errors import ConfigError, DataError
from .modules.crf_kbest import format_topn
from .permissions import apply_umask

logger = logging.getLogger(__name__)

SIDE_SUFFIX = ".probabilities.jsonl"
# Characters a label may not hold when written into a top-n cell, which they delimit.
TOPN_DELIMITERS = ("|", "=")


@dataclass(frozen=True)
class ConfidenceOptions:
    """A prediction's confidence settings: ``topn`` labels per item for every task (None: each
    task's dataset-config key ``topn``, in ``task_topn``, as MaChAmp's ``--topn`` overrides its
    decoders' setting; 1: the prediction only), ``min_confidence`` for entities,
    ``calibrated`` (the archive's temperatures, else 1) and ``temperatures`` (per task)."""

    topn: int | None = None
    min_confidence: float | None = None
    calibrated: bool = True
    temperatures: Mapping[str, float] = field(default_factory=dict)
    task_topn: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, topn in [("--topn", self.topn), *self.task_topn.items()]:
            if topn is None:
                continue
            if isinstance(topn, bool) or not isinstance(topn, int) or topn < 1:
                where = name if name == "--topn" else f"task {name}: key 'topn'"
                raise ConfigError(f"{where} {topn!r}: must be a whole number of at least 1")
        value = self.min_confidence
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not 0 <= value <= 1
        ):
            raise ConfigError(f"--min_confidence {value!r}: must be a probability from 0 to 1")
        if self.largest_topn > 1 and value is not None:
            raise ConfigError(
                "--topn (or a task's topn key) above 1 and --min_confidence together: the n "
                "best sequences would no longer start with the written labels; give one of them"
            )

    def topn_for(self, task: str) -> int:
        return self.topn if self.topn is not None else int(self.task_topn.get(task, 1))

    @property
    def largest_topn(self) -> int:
        if self.topn is not None:
            return self.topn
        return max([1, *(int(n) for n in self.task_topn.values())])

    def temperature(self, task: str) -> float:
        return float(self.temperatures.get(task, 1.0)) if self.calibrated else 1.0


def probability_tasks(
    decoders: Any, tasks: Sequence[str], options: ConfidenceOptions
) -> tuple[list[str], list[str]]:
    """(tasks that give probabilities, notes on the others). Refused with one error: no task
    of the dataset gives probabilities, ``--min_confidence`` without a CRF tagger, or
    ``--topn`` over labels that would break the top-n cells."""
    given = [t for t in tasks if getattr(decoders[t], "gives_probabilities", False)]
    if not given:
        raise ConfigError(
            f"no task of this dataset ({', '.join(tasks)}) gives probabilities; "
            "--probabilities, --topn and --min_confidence need a seq_bio, seq or "
            "classification task"
        )
    if options.min_confidence is not None and not any(
        getattr(decoders[t], "drops_entities", False) for t in given
    ):
        raise ConfigError(
            "--min_confidence drops uncertain entities of a seq_bio (CRF) task; "
            f"this dataset has none ({', '.join(tasks)})"
        )
    for task in given:
        if options.topn_for(task) > 1:
            decoder: Decoder = decoders[task]
            for label in decoder.vocabulary.labels:
                if any(mark in label for mark in TOPN_DELIMITERS):
                    raise ConfigError(
                        f"--topn: task {task} has the label {label!r}, whose '|' or '=' would "
                        "make its top-n cells unreadable; use --probabilities, or "
                        "Predictor.confidences(..., topn=N) in Python, instead"
                    )
    notes = [
        f"task {t} gives no probabilities; its predictions are written as usual"
        for t in tasks
        if t not in given
    ]
    return given, notes


def written_value(result: dict[str, Any], topn: int) -> Any:
    """What the output file gets for one sentence of a task with probabilities: its labels (a
    list per word, or one label), or with ``topn`` above 1 its top-n cells."""
    if topn <= 1:
        return result["labels"] if "labels" in result else result["label"]
    ranked = result.get("topn") or []
    if "label" in result:
        return format_topn([(label, p) for label, p in ranked])
    if ranked and isinstance(ranked[0], dict):  # a CRF: the n best sequences
        return [
            format_topn([(seq["labels"][i], seq["probability"]) for seq in ranked])
            for i in range(len(result["labels"]))
        ]
    return [format_topn([(label, p) for label, p in word]) for word in ranked]


def split_predictions(
    predicted: Mapping[str, list],
    given: Sequence[str],
    sentences: Sequence[Sentence],
    first_index: int,
    options: ConfidenceOptions,
) -> tuple[dict[str, list], list[str]]:
    """The predictions to write (labels or top-n cells) and the side file's lines for
    ``sentences``, numbered from ``first_index``."""
    written = {
        task: [written_value(r, options.topn_for(task)) for r in values]
        if task in given
        else values
        for task, values in predicted.items()
    }
    lines = []
    for offset, sentence in enumerate(sentences):
        tasks = {
            task: {"temperature": options.temperature(task), **predicted[task][offset]}
            for task in given
        }
        record = {"sentence": first_index + offset, "words": sentence.words, "tasks": tasks}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return written, lines


def side_file_path(output_path: str, given: str | None) -> str:
    """The side file's path: ``given``, or the output's name + ``.probabilities.jsonl``."""
    return given if given else output_path + SIDE_SUFFIX


def check_side_file(side: str, input_path: str, output_path: str) -> None:
    """The side file must not be the input or the output, nor a folder."""
    path = Path(side)
    if path.is_dir():
        raise DataError("is a directory; give --probabilities a file name", side)
    for other, what in ((input_path, "input"), (output_path, "output")):
        same = os.path.abspath(side) == os.path.abspath(other)
        if same or (path.exists() and Path(other).exists() and os.path.samefile(side, other)):
            raise DataError(f"--probabilities names the {what} file; choose another path", side)


class SideFile:
    """The side file written as predictions come and renamed into place only with the output,
    so that an interrupted or failed prediction leaves neither half-written."""

    def __init__(self, path: str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
        except OSError as error:
            raise DataError(
                f"cannot write the probabilities here ({error.strerror}); give --probabilities "
                "another path",
                str(self.path),
            ) from None
        self.tmp = tmp
        self.out = os.fdopen(handle, "w", encoding="utf-8", newline="\n")

    def write(self, lines: Sequence[str]) -> None:
        try:
            self.out.writelines(lines)
        except OSError as error:
            raise DataError(
                f"cannot write the probabilities ({error.strerror}); nothing was written: "
                "free some space or choose another path",
                str(self.path),
            ) from None

    def commit(self) -> None:
        try:
            self.out.close()
            apply_umask(self.tmp, replaces=self.path)
            os.replace(self.tmp, self.path)
        except OSError as error:
            self.discard()
            raise DataError(
                f"cannot write the probabilities ({error.strerror}); nothing was written: "
                "free some space or choose another path",
                str(self.path),
            ) from None

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.out.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


class ConfidencePlan:
    """One prediction file's confidence output: which tasks give probabilities, the options,
    and the side file (None without ``--probabilities``) that chunks of predictions go to."""

    def __init__(self, options: ConfidenceOptions, given: list[str], side: SideFile | None):
        self.options = options
        self.given = given
        self.side = side
        self.count = 0

    def apply(self, predicted: Mapping[str, list], sentences: Sequence[Sentence]) -> dict:
        """The predictions to write for the next ``sentences``; their side lines are written."""
        written, lines = split_predictions(
            predicted, self.given, sentences, self.count, self.options
        )
        self.count += len(sentences)
        if self.side is not None:
            self.side.write(lines)
        return written

    def commit(self) -> None:
        if self.side is not None:
            self.side.commit()

    def discard(self) -> None:
        if self.side is not None:
            self.side.discard()


def confidence_plan(
    model: Any,
    datasets: dict,
    config: dict,
    files: tuple[str, str],
    probabilities: str | bool | None,
    options: ConfidenceOptions,
) -> ConfidencePlan:
    """The checked confidence settings of one prediction file (``files``: its input and
    output), its side file opened; refused for the onnx backend and for a model with a tok
    (segmentation) task."""
    from .segmented_text import segmentation_task

    input_path, output_path = files
    if refusal := getattr(model, "refuses_confidences", None):  # the onnx backend
        raise ConfigError(refusal)
    if segmentation_task(datasets):
        raise ConfigError(
            "--probabilities, --topn and --min_confidence are not available yet for a "
            "model with a tok (segmentation) task"
        )
    given, notes = probability_tasks(model.decoders, list(config["tasks"]), options)
    for note in notes:
        logger.warning(note)
    side = None
    if probabilities:
        path = side_file_path(
            output_path, probabilities if isinstance(probabilities, str) else None
        )
        check_side_file(path, input_path, output_path)
        side = SideFile(path)
    return ConfidencePlan(options, given, side)
