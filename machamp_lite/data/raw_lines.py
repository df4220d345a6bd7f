"""Raw text for tasks that learn from the text itself (masked language modelling): the
``raw_lines`` reader, one sentence per line, and the dataset rules for such tasks.

A task type says it reads raw text through its label codec (``reads_raw_text``); nothing here
names a task type. MaChAmp's ``configs/mlm.json`` names no reader, no ``word_idx`` and no
``column_idx``, so a dataset whose tasks all read raw text gets this reader, and such tasks
cannot share a dataset with labelled ones (MaChAmp refuses that too): their sentences are seen
as subwords and corrupted, which no labelled task could read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..registry import readers
from .reader_base import Reader, WriterSettings
from .sentence import Sentence, TaskColumn
from .text import NoSentencesError, stream_lines

RAW_LINES = "raw_lines"


@readers.register(RAW_LINES)
class RawLinesReader(Reader):
    """Plain text, one sentence per line, words split on white space; empty lines (and lines
    of white space only) are skipped, as MaChAmp's mlm reader skips them. Its tasks get no
    label from the file (None): what they learn is chosen from the text when batches are
    built."""

    streams = True

    def __init__(self, encoding: str = "utf-8"):
        self.encoding = encoding

    def writer_settings(self) -> WriterSettings:
        return WriterSettings("whitespace", self.encoding, 0)

    def iter_read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> Iterator[Sentence]:
        found = False
        for number, line in stream_lines(path, self.encoding):
            words = line.split()
            if not words:
                continue
            found = True
            labels = {task.name: None for task in tasks} if require_labels else {}
            yield Sentence(words, labels, path, [number] * len(words), start_line=number)
        if not found:
            raise NoSentencesError("no text found (only empty lines)", path)


def reads_raw_text(task_type: Any) -> bool:
    """Whether a registered task type learns from raw text (its codec's ``reads_raw_text``);
    False for a name not registered (yet), which is checked elsewhere."""
    from ..registry import decoders

    if not isinstance(task_type, str) or task_type not in decoders:
        return False
    return bool(getattr(getattr(decoders.get(task_type), "codec", None), "reads_raw_text", False))


def settle_raw_text_dataset(dataset: dict[str, Any], where: str, problems: Any) -> None:
    """For a dataset with tasks that read raw text: refuse other tasks beside them, refuse a
    reader other than ``raw_lines``, and otherwise choose that reader. Problems go into
    ``problems`` (``config_checks.Problems``)."""
    tasks = dataset.get("tasks")
    if not isinstance(tasks, dict):
        return
    kinds = {name: task.get("task_type") for name, task in tasks.items() if isinstance(task, dict)}
    raw = [name for name, kind in kinds.items() if reads_raw_text(kind)]
    for name, task in tasks.items():
        if isinstance(task, dict):
            _check_metrics(task, name in raw, f"{where}, task {name!r}", problems)
    if not raw:
        return
    others = [name for name in tasks if name not in raw]
    if len(raw) > 1:
        problems.add(
            f"{where}: tasks {', '.join(map(repr, raw))} all learn from raw text; a dataset "
            "holds one such task (as in MaChAmp): give each a dataset of its own"
        )
        return
    if others:
        problems.add(
            f"{where}: task {raw[0]!r} (task type {kinds[raw[0]]!r}) learns from raw text and "
            f"cannot share a dataset with other tasks ({', '.join(map(repr, others))}), as in "
            "MaChAmp; give it a dataset of its own (two datasets may read the same files)"
        )
        return
    reader = dataset.get("reader")
    if reader not in (None, RAW_LINES):
        problems.add(
            f"{where}: key 'reader' is {reader!r}, but task {raw[0]!r} (task type "
            f"{kinds[raw[0]]!r}) reads raw text, one sentence per line; remove the key or set "
            f"it to {RAW_LINES!r}"
        )
        return
    dataset["reader"] = RAW_LINES
    for task in tasks.values():
        # Raw text has no label column; the readers' task columns still expect the key.
        task.setdefault("column_idx", 0)


def _check_metrics(task: dict[str, Any], raw_text: bool, where: str, problems: Any) -> None:
    """A metric that reads token losses (perplexity) fits only a task that learns from raw
    text, and such a task only such a metric: either mistake would fail after the first epoch,
    or score nothing."""
    from ..registry import metrics

    extra = task.get("additional_metrics")
    for name in [task.get("metric"), *(extra if isinstance(extra, list) else [])]:
        if not isinstance(name, str) or name not in metrics:
            continue
        losses = bool(getattr(metrics.get(name), "reads_token_losses", False))
        if losses and not raw_text:
            problems.add(
                f"{where}: metric {name!r} scores the hidden tokens of masked language "
                f"modelling (task type mlm), not task type {task.get('task_type')!r}; choose "
                "another metric or leave the key out (the decoder's default)"
            )
        elif raw_text and not losses:
            problems.add(
                f"{where}: metric {name!r} scores labels, and task type "
                f"{task.get('task_type')!r} predicts none; use perplexity or leave the key out"
            )


def _silent_tasks(dataset: Mapping[str, Any]) -> list[str]:
    """The dataset's tasks whose codec says they write no labels."""
    from ..decoders.codecs import codec_for

    return [
        name
        for name, task in dataset.get("tasks", {}).items()
        if not getattr(codec_for(task["task_type"]), "produces_labels", True)
    ]


def labelling_datasets(datasets: Mapping[str, Any]) -> list[str]:
    """The datasets of a model with at least one task that writes labels: the ones that
    ``predict`` can label a file with."""
    return [
        name
        for name, dataset in datasets.items()
        if len(_silent_tasks(dataset)) < len(dataset.get("tasks", {}))
    ]


def refuse_unlabelled_prediction(dataset: Mapping[str, Any], datasets: Mapping[str, Any]) -> None:
    """Prediction writes labels: a dataset whose tasks produce none (masked language
    modelling scores hidden tokens and writes nothing) is one clear error."""
    tasks = dataset.get("tasks", {})
    silent = _silent_tasks(dataset)
    if tasks and len(silent) == len(tasks):
        others = [name for name in datasets if name != dataset.get("name")]
        hint = (
            f"predict with another dataset of this model: --dataset {others[0]}"
            if others
            else "this model has no dataset with a task that labels text"
        )
        raise ConfigError(
            f"dataset {dataset.get('name')!r} has only tasks that write no predictions "
            f"({', '.join(silent)}: learned from raw text, e.g. masked language modelling); " + hint
        )
