"""Reading ``predict --probabilities``'s side file for ``evaluate``, checked line by line
against the gold and prediction files it is scored with, so that probabilities are never
paired with the wrong words or labels.

One JSON object per line, one line per sentence in input order (``decoders/confidence.py``
describes a task's dict)::

    {"sentence": 0, "words": ["Sam", ...], "tasks": {"ner": {"temperature": 1.3,
     "labels": [...], "probabilities": [...], "entities": [{"start": 0, "end": 1,
     "type": "PER", "probability": 0.95}]}}}

Every problem is one :class:`DataError` naming the side file's line: a line that is not a JSON
object or lacks a key, a sentence number out of order, more or fewer sentences than gold,
other words than gold's sentence (its line named), other labels than the prediction's (the
side file belongs to another prediction), a probability that is not a number from 0 to 1, an
entity outside its sentence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from .data.sentence import Sentence
from .data.text import EncodingError, stream_lines
from .errors import DataError
from .evaluate_modes import EvaluateUsageError
from .paths import path_problem

RECORD_KEYS = ("sentence", "words", "tasks")
ENTITY_KEYS = ("start", "end", "type", "probability")
SHAPE = '{"sentence": N, "words": [...], "tasks": {TASK: {...}}}'


def _is_probability(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class SideFileReader:
    """Checks the side file's records for one task against gold and prediction."""

    def __init__(
        self,
        path: str,
        task: str | None,
        gold_path: str,
        gold: Sequence[Sentence],
        pred_path: str,
        pred: Sequence[Sentence],
    ):
        self.path, self.task = path, task
        self.gold_path, self.gold = gold_path, gold
        self.pred_path, self.pred = pred_path, pred
        self.temperatures: set[float] = set()
        self.line = 0
        self.entities = False  # whether the task has entities (its first sentence says)

    def error(self, message: str) -> DataError:
        return DataError(message, self.path, self.line or None)

    def read(self) -> list[dict[str, Any]]:
        """One checked dict of the task per gold sentence, in order."""
        problem = path_problem(
            self.path,
            "side file",
            "not found; predict --probabilities "
            "writes it as OUTPUT.probabilities.jsonl unless told otherwise",
        )
        if problem is not None:
            raise DataError(problem, self.path)
        records: list[dict[str, Any]] = []
        last = 0
        try:
            for number, text in stream_lines(self.path, "utf-8"):
                if not text.strip():
                    continue
                self.line = last = number
                records.append(self.record(text, len(records)))
        except EncodingError as error:  # its advice would name --encoding, which is GOLD's
            advice = "predict writes the side file in UTF-8: give that file, or convert it"
            if error.suggestion is None and error.remedy:
                advice = error.remedy
            raise DataError(f"{error.problem}; {advice}", self.path, error.line) from None
        self.line = last
        if len(records) < len(self.gold):
            missing = self.gold[len(records)]
            raise self.error(
                f"the side file ends after {len(records)} sentence(s) but {self.gold_path} holds "
                f"{len(self.gold)}: sentence {len(records)} (from line {missing.first_line}) has "
                "no probabilities; give the side file that predict wrote with this prediction"
            )
        return records

    def record(self, text: str, index: int) -> dict[str, Any]:
        try:
            record = json.loads(text)
        except ValueError as problem:
            raise self.error(
                f"not a JSON object ({problem}); predict --probabilities writes one per line: "
                f"{SHAPE}"
            ) from None
        if not isinstance(record, dict):
            raise self.error(f"not a JSON object but {type(record).__name__}; expected {SHAPE}")
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise self.error(f"the line lacks {', '.join(map(repr, missing))}; expected {SHAPE}")
        if index >= len(self.gold):
            raise self.error(
                f"sentence {index} here, but {self.gold_path} holds only {len(self.gold)} "
                "sentence(s); give the side file that predict wrote with this prediction"
            )
        if record["sentence"] != index or not _is_index(record["sentence"]):
            raise self.error(
                f"sentence number {record['sentence']!r} where {index} is due: the side file "
                "holds the input's sentences in order, numbered from 0"
            )
        self.check_words(record["words"], index)
        return self.task_record(record["tasks"], index)

    def check_words(self, words: Any, index: int) -> None:
        gold = self.gold[index]
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise self.error(f"sentence {index}: 'words' is not a list of strings")
        if words == gold.words:
            return
        where = f"the sentence at line {gold.first_line} of {self.gold_path}"
        for position, (word, expected) in enumerate(zip(words, gold.words)):
            if word != expected:
                raise self.error(
                    f"sentence {index}: word {position} is {word!r} but {where} has "
                    f"{expected!r} there; the side file belongs to another input"
                )
        raise self.error(
            f"sentence {index} has {len(words)} words but {where} has {len(gold.words)}; "
            "the side file belongs to another input"
        )

    def choose_task(self, tasks: dict[str, Any]) -> str:
        names = sorted(tasks)
        if not names:
            raise self.error("'tasks' is empty: no task's probabilities to measure")
        if self.task is not None:
            if self.task not in tasks:
                raise EvaluateUsageError(
                    f"--task {self.task}: {self.path} has no such task; its tasks: "
                    f"{', '.join(names) or '(none)'}"
                )
            return self.task
        if len(names) != 1:
            raise EvaluateUsageError(
                f"{self.path} holds the probabilities of {len(names)} tasks "
                f"({', '.join(names) or 'none'}); name the one whose labels PRED's label column "
                "holds with --task NAME"
            )
        return names[0]

    def task_record(self, tasks: Any, index: int) -> dict[str, Any]:
        if not isinstance(tasks, dict):
            raise self.error(f"sentence {index}: 'tasks' is not an object; expected {SHAPE}")
        if index == 0:
            self.task = self.choose_task(tasks)
        name = self.task
        if name not in tasks:
            raise self.error(f"sentence {index} has no task {name!r} (it has: {sorted(tasks)})")
        entry = tasks[name]
        if not isinstance(entry, dict):
            raise self.error(f"sentence {index}, task {name!r}: not an object")
        if "labels" not in entry and "label" in entry:
            raise EvaluateUsageError(
                f"task {name!r} labels sentences (one 'label' each): the calibration of "
                "evaluate scores word labels against PRED's label column; name a task of word "
                "labels with --task"
            )
        keys = ("labels", "probabilities") + (("entities",) if index and self.entities else ())
        missing = [key for key in keys if key not in entry]
        if missing:
            raise self.error(
                f"sentence {index}, task {name!r} lacks {', '.join(map(repr, missing))}"
            )
        if index == 0:
            self.entities = "entities" in entry
        temperature = entry.get("temperature")
        if temperature is not None:
            if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
                raise self.error(f"sentence {index}: temperature {temperature!r} is not a number")
            self.temperatures.add(float(temperature))
        labels, probabilities = entry["labels"], entry["probabilities"]
        self.check_labels(labels, index)
        self.check_probabilities(probabilities, index)
        record = {"labels": labels, "probabilities": probabilities}
        if self.entities:
            record["entities"] = self.checked_entities(entry["entities"], index)
        return record

    def check_labels(self, labels: Any, index: int) -> None:
        pred = self.pred[index]
        expected = pred.labels["label"]
        if not isinstance(labels, list) or len(labels) != len(expected):
            size = len(labels) if isinstance(labels, list) else "no list of"
            raise self.error(
                f"sentence {index}: {size} labels for {len(expected)} words; expected one label "
                "per word"
            )
        for position, (label, written) in enumerate(zip(labels, expected)):
            if label != written:
                raise self.error(
                    f"sentence {index}, word {position}: label {label!r} here but {written!r} "
                    f"at line {pred.line_numbers[position]} of {self.pred_path}: this side file "
                    "does not belong to this prediction (give the one predict wrote with it), "
                    "or the labels are read from another column (--label_column)"
                )

    def check_probabilities(self, probabilities: Any, index: int) -> None:
        words = len(self.gold[index].words)
        if not isinstance(probabilities, list) or len(probabilities) != words:
            raise self.error(
                f"sentence {index}: 'probabilities' must be a list of {words} numbers, one per word"
            )
        for position, value in enumerate(probabilities):
            if not _is_probability(value):
                raise self.error(
                    f"sentence {index}, word {position}: probability {value!r} is not a number "
                    "from 0 to 1"
                )

    def checked_entities(self, entities: Any, index: int) -> list[dict[str, Any]]:
        words = len(self.gold[index].words)
        if not isinstance(entities, list):
            raise self.error(f"sentence {index}: 'entities' is not a list")
        for number, entity in enumerate(entities):
            what = f"sentence {index}, entity {number}"
            if not isinstance(entity, dict) or any(key not in entity for key in ENTITY_KEYS):
                raise self.error(f"{what}: expected an object with {', '.join(ENTITY_KEYS)}")
            start, end = entity["start"], entity["end"]
            if not (_is_index(start) and _is_index(end) and 0 <= start < end <= words):
                raise self.error(
                    f"{what}: start {start!r}, end {end!r} lie outside the sentence of {words} "
                    "words (0 <= start < end <= words; end is exclusive)"
                )
            if not isinstance(entity["type"], str) or not entity["type"]:
                raise self.error(f"{what}: type {entity['type']!r} is not a non-empty string")
            if not _is_probability(entity["probability"]):
                raise self.error(
                    f"{what}: probability {entity['probability']!r} is not a number from 0 to 1"
                )
        return entities


def read_side_file(
    path: str,
    task: str | None,
    gold_path: str,
    gold: Sequence[Sentence],
    pred_path: str,
    pred: Sequence[Sentence],
) -> tuple[str, list[dict[str, Any]], list[float]]:
    """(the task, its checked dict per sentence, the temperatures found) of the side file
    ``path``, checked against the aligned ``gold`` and ``pred`` sentences."""
    reader = SideFileReader(str(path), task, str(gold_path), gold, str(pred_path), pred)
    records = reader.read()
    if reader.task is None:
        raise DataError("holds no sentences", str(path))
    return reader.task, records, sorted(reader.temperatures)
