"""The rules of a dataset config: its keys, its tasks, the names that become folder names, and
the components (decoder, metric) that its tasks choose.

Everything a dataset config can get wrong is found here before data are read or a model is
built, and noted in a ``Problems`` list so that all of a file's mistakes come out at once.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .config_checks import Problems, is_number, shown, type_name
from .config_files import deep_merge, resolve_data_path
from .config_machamp import (
    check_dataset_embed_idx,
    check_machamp_task_keys,
    rename_decoder_arguments,
)
from .errors import ConfigError

# Keys of a dataset config that the library itself reads; everything else is an error.
DATASET_KEYS = {
    "train_data_path": (str, list),
    "dev_data_path": (str, list, type(None)),
    "word_idx": (int,),
    "tasks": (dict,),
    "reader": (str, type(None)),
    "separator": (str,),
    "encoding": (str,),
    "comment_regex": (str, type(None)),
    "max_sents": (int,),
    "max_dev_sents": (int,),
    "max_words": (int,),
    "skip_first_line": (bool,),
    "plugins": (list,),
    "sent_idxs": (list,),
    "dataset_embed_idx": (int, type(None)),
    "context": (dict,),
}
# MaChAmp's other names for keys: read as the key they stand for.
DATASET_KEY_ALIASES = {"validation_data_path": "dev_data_path"}
DATASET_DEFAULTS: dict[str, Any] = {
    "dev_data_path": None,
    "word_idx": 0,
    "reader": None,
    "separator": "whitespace",
    "encoding": "utf-8",
    "comment_regex": None,
    "max_sents": -1,
    "max_dev_sents": -1,
    "max_words": -1,
    "skip_first_line": False,
    "plugins": [],
    "dataset_embed_idx": None,
}
# Dataset keys that hold a sentence (or word) count: -1 means every sentence.
SENTENCE_LIMIT_KEYS = ("max_sents", "max_dev_sents", "max_words")

# Keys of a task entry that the library reads; other keys go to the decoder's constructor.
# The one list of them: the model and the reference import it from here.
TASK_KEYS = {
    "task_type",
    "column_idx",
    "metric",
    "loss_weight",
    "allow_negative_loss_weight",
    "layers_to_use",
    "dec_dataset_embed_idx",
    "topn",
    "additional_metrics",
    "column_idxs",
}
# Arguments of a decoder's constructor that the model passes itself, never a config.
DECODER_CALLER_ARGUMENTS = ("input_dim", "vocabulary")
# The longest dataset or task name: it becomes a file or folder name (255 bytes on most file
# systems), with room left for what is appended to it.
MAX_NAME_BYTES = 200


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a dataset or task name, or None when it can.

    Names become folder and file names (``dev_predictions/<dataset>/``) and keys of overrides
    and metrics, so one that could point elsewhere in the file system (``..``, ``/etc``, a
    separator, a NUL) or that the file system cannot hold is refused, not rewritten: a
    silently changed name would no longer match the user's overrides and tables."""
    if not isinstance(name, str) or not name:
        return "a name must be a non-empty string"
    if name in (".", ".."):
        return f"{name!r} names a folder, not a dataset"
    if "/" in name or "\\" in name:
        return "it contains a path separator (/ or \\)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character"
    if name != name.strip():
        return "it starts or ends with white space"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    return None


def check_run_name(name: str) -> None:
    """``--name`` of train and experiment: a folder (or folders) under ``--output_dir``, so
    nothing absolute, no ``..``, nothing a file system cannot hold."""
    path = Path(name)
    if (
        not name.strip()
        or path.is_absolute()
        or ".." in path.parts
        or any(ord(c) < 32 for c in name)
        or any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in path.parts)
    ):
        raise ConfigError(
            f"--name {name!r}: a run name is a folder name under --output_dir (no absolute "
            f"path, no '..', no control characters, at most {MAX_NAME_BYTES} bytes a folder)"
        )


def check_name(name: str, kind: str, where: str) -> None:
    problem = name_problem(name)
    if problem is not None:
        raise ConfigError(
            f"{where}: {kind} name {name!r} cannot be used: {problem}; names become folder "
            "names in the run directory, so use letters, digits, '-', '_' or '.'"
        )


def _expected(types: tuple[type, ...]) -> str:
    return " or ".join(type_name(t()) if t is not type(None) else "null" for t in types)


def validate_dataset(
    name: str,
    dataset: dict[str, Any],
    source: str,
    data_dir: str | None,
    problems: Problems | None = None,
    plugins: Iterable[str] = (),
) -> dict[str, Any]:
    """The dataset with defaults filled in and data paths made absolute, after checking every
    key, every task and the components the tasks choose. Problems are noted in ``problems``;
    without one, they are raised together. ``plugins``: modules named elsewhere (the
    parameter config's ``plugins``) that may register the components a task names."""
    own = problems is None
    problems = Problems() if problems is None else problems
    where = f"{source}, dataset {name!r}"
    with problems.catch():
        check_name(name, "dataset", source)
    given = {}
    for alias, key in DATASET_KEY_ALIASES.items():
        if alias in dataset and key in dataset:
            problems.add(f"{where}: keys {alias!r} and {key!r} name the same thing; keep one")
        elif alias in dataset:
            dataset = {(key if k == alias else k): v for k, v in dataset.items()}
    for key, value in dataset.items():
        if key not in DATASET_KEYS:
            problems.add(
                f"{where}: unknown key {key!r}; expected one of: {', '.join(sorted(DATASET_KEYS))}"
            )
        elif not isinstance(value, DATASET_KEYS[key]) or (
            isinstance(value, bool) and bool not in DATASET_KEYS[key]
        ):
            expected = _expected(DATASET_KEYS[key])
            problems.add(f"{where}: key {key!r} must be {expected}, got {json.dumps(value)}")
        else:
            given[key] = value
    if "train_data_path" not in dataset:
        problems.add(f"{where}: missing required key 'train_data_path'")
    if "tasks" not in dataset or given.get("tasks") == {}:
        problems.add(f"{where}: missing required key 'tasks' (at least one task)")
    result = deep_merge(DATASET_DEFAULTS, given)
    result["name"] = name
    result["source"] = source
    _check_paths(result, where, data_dir, problems)
    _check_settings(result, where, problems)
    if "context" in result:
        from .data.context_sources import check_context

        with problems.catch():
            result["context"] = check_context(result["context"], where, data_dir)
        if len(result.get("sent_idxs") or []) > 1:
            problems.add(
                f"{where}: key 'context' cannot be combined with text in several columns "
                "('sent_idxs') yet: the pair template holds the sentence's texts"
            )
    pending = _pending_plugins([*result["plugins"], *plugins])
    tasks = result.get("tasks", {})
    for task_name, task in list(tasks.items()):
        if isinstance(task, dict):
            task = tasks[task_name] = rename_decoder_arguments(task)
        _check_task(task_name, task, where, pending, problems)
    from .data.raw_lines import settle_raw_text_dataset

    settle_raw_text_dataset(result, where, problems)  # masked language modelling's datasets
    if own:
        problems.raise_if_any()
    return result


def _check_paths(result: dict[str, Any], where: str, data_dir: str | None, problems: Problems):
    for key in ("train_data_path", "dev_data_path"):
        value = result.get(key)
        if isinstance(value, list):  # a list of training files is read as their union
            if not value or not all(isinstance(v, str) and v for v in value):
                problems.add(f"{where}: key {key!r} must be a path or a list of paths")
                continue
            result[key] = [os.path.abspath(resolve_data_path(v, data_dir)) for v in value]
        elif value:
            # Absolute, so the resolved copy in the run directory works from any directory.
            result[key] = os.path.abspath(resolve_data_path(value, data_dir))
        elif key == "train_data_path" and key in result:
            problems.add(f"{where}: key 'train_data_path' is empty; give a data file's path")
            continue
        paths = result.get(key) or []
        for data_path in paths if isinstance(paths, list) else [paths]:
            if os.path.exists(data_path) and not (
                os.path.isfile(data_path) or os.path.isdir(data_path)
            ):
                # /dev/zero or a named pipe would be read forever: not a data file.
                problems.add(
                    f"{where}: key {key!r} names {data_path}, which is a device or a pipe, "
                    "not a data file; give the path of a file"
                )


def _check_settings(result: dict[str, Any], where: str, problems: Problems) -> None:
    check_dataset_embed_idx(result.get("dataset_embed_idx"), where, problems)
    if result["separator"] not in ("whitespace", "tab"):
        problems.add(f'{where}: key \'separator\' must be "whitespace" or "tab"')
    if result["word_idx"] < 0:
        problems.add(f"{where}: key 'word_idx' must be 0 or more, got {result['word_idx']}")
    if not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0
        for i in result.get("sent_idxs", [])
    ):
        problems.add(
            f"{where}: key 'sent_idxs' must be a list of column numbers (0 or more), "
            f"got {json.dumps(result['sent_idxs'])}"
        )
    for key in SENTENCE_LIMIT_KEYS:
        if result[key] == 0 or result[key] < -1:
            problems.add(
                f"{where}: key {key!r} must be -1 (every "
                f"{'word' if key == 'max_words' else 'sentence'}) or at least 1, got {result[key]}"
            )
    if result["comment_regex"] is not None:
        try:
            re.compile(result["comment_regex"])
        except re.error as error:
            problems.add(
                f"{where}: key 'comment_regex' is not a valid regular expression ({error})"
            )
    if not all(isinstance(m, str) and m for m in result["plugins"]):
        problems.add(f"{where}: key 'plugins' must be a list of module names")
        result["plugins"] = [m for m in result["plugins"] if isinstance(m, str) and m]


def _check_task(task_name: Any, task: Any, where: str, pending: bool, problems: Problems):
    with problems.catch():
        check_name(task_name, "task", where)
    twhere = f"{where}, task {task_name!r}"
    if not isinstance(task, dict):
        problems.add(f"{twhere}: must be an object with task_type and column_idx")
        return
    if "task_type" not in task:
        problems.add(f"{twhere}: missing required key 'task_type'")
    for key, types in (("task_type", (str,)), ("metric", (str, type(None)))):
        if key in task and not isinstance(task[key], types):
            expected = " or ".join("null" if t is type(None) else "a string" for t in types)
            problems.add(f"{twhere}: key {key!r} must be {expected}, got {json.dumps(task[key])}")
    column = task.get("column_idx", 0)
    if not isinstance(column, int) or isinstance(column, bool):
        problems.add(f"{twhere}: key 'column_idx' must be an integer, got {json.dumps(column)}")
    task["loss_weight"] = _loss_weight(task, twhere, problems)
    check_machamp_task_keys(task, twhere, problems)
    _check_components(task, twhere, pending, problems)


def _pending_plugins(modules: Iterable[str]) -> bool:
    """Whether a plugin module that may register more components is not imported yet (it is
    imported only later, once the user has allowed it): until then a decoder or metric name
    that is not registered may be that plugin's, so only registered names are checked."""
    return any(module not in sys.modules for module in modules)


def _check_components(task: dict[str, Any], where: str, pending: bool, problems: Problems):
    """The task's decoder and metric exist, and its decoder arguments fit the decoder's
    signature (types from its annotations, ranges from its limits)."""
    from .argument_types import argument_annotations, whole_number_only
    from .registry import check_arguments, decoders, load_plugins, metrics

    load_plugins()
    task_type, metric = task.get("task_type"), task.get("metric")
    extra = task.get("additional_metrics")
    for name in [metric, *(extra if isinstance(extra, list) else [])]:
        if isinstance(name, str) and name and name not in metrics and not pending:
            with problems.catch():
                metrics.get(name, where=where)  # raises, naming the registered metrics
    if not isinstance(task_type, str) or (task_type not in decoders and pending):
        return
    try:
        decoder = decoders.get(task_type, where=where)
    except ConfigError as error:
        problems.add_error(error)
        return
    _check_column_list(task, getattr(decoder, "codec", None), where, problems)
    _apply_metric_aliases(task, getattr(decoder, "metric_aliases", None) or {})
    arguments = {k: v for k, v in task.items() if k not in TASK_KEYS}
    for key in list(arguments):
        close = difflib.get_close_matches(key, sorted(TASK_KEYS), n=1, cutoff=0.85)
        if close and key not in inspect.signature(decoder.__init__).parameters:
            # MaChAmp's own configs/multiseq.json says "column_idxs" (MaChAmp stops with a
            # KeyError on it): name the likely key rather than list the decoder's arguments.
            problems.add(f"{where}: unknown key {key!r}; did you mean {close[0]!r}?")
            del arguments[key]
    before = len(problems)
    check_arguments(decoder, arguments, where, DECODER_CALLER_ARGUMENTS, problems)
    if len(problems) == before:
        annotations = argument_annotations(decoder)
        for key, value in arguments.items():
            if is_number(value) and whole_number_only(annotations.get(key)):
                task[key] = int(value)  # 256.0 in JSON is the width 256


def _apply_metric_aliases(task: dict[str, Any], aliases: dict[str, str]) -> None:
    """The task's metrics with the names its decoder gives MaChAmp's generic ones
    (``metric_aliases``: ``probdistr`` scores MaChAmp's ``accuracy`` over the most likely
    column), so that a MaChAmp parameters file's ``default_decoder`` metric means what it
    means in MaChAmp instead of comparing whole distributions as strings."""
    if isinstance(task.get("metric"), str):
        task["metric"] = aliases.get(task["metric"], task["metric"])
    extra = task.get("additional_metrics")
    if isinstance(extra, list):
        task["additional_metrics"] = [aliases.get(m, m) if isinstance(m, str) else m for m in extra]


def _check_column_list(task: dict[str, Any], codec: Any, where: str, problems: Problems) -> None:
    """``column_idxs``, MaChAmp's list of label columns: required by a task type whose codec
    reads its label from several columns (``columns_key``, e.g. ``probdistr``), and for any
    other the misspelling of ``column_idx`` that MaChAmp's own configs/multiseq.json has."""
    key = getattr(codec, "columns_key", None)
    if key is None:
        if "column_idxs" in task:
            problems.add(f"{where}: unknown key 'column_idxs'; did you mean 'column_idx'?")
        return
    kind = task.get("task_type")
    if "column_idx" in task:
        problems.add(
            f"{where}: key 'column_idx' is not read by task type {kind!r}, which reads its label "
            f"from the columns that {key!r} lists; remove it"
        )
    listed = task.get(key)
    if listed is None:
        problems.add(
            f"{where}: missing required key {key!r}: task type {kind!r} reads its label from "
            f'several columns, one probability each, e.g. "{key}": [5, 6]'
        )
    elif (
        not isinstance(listed, list)
        or len(listed) < 2
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in listed)
        or len(set(listed)) != len(listed)
    ):
        problems.add(
            f"{where}: key {key!r} must be a list of at least two distinct column numbers (0 or "
            f"more), one per label of the distribution, e.g. [5, 6]; got {json.dumps(listed)}"
        )


def _loss_weight(task: dict[str, Any], where: str, problems: Problems) -> float:
    """A finite, non-negative number; a negative weight (gradient reversal, as in adversarial
    multi-task training) only with ``"allow_negative_loss_weight": true`` beside it, so a sign
    typo cannot silently train a task to be wrong."""
    weight = task.get("loss_weight", 1.0)
    allow_negative = task.get("allow_negative_loss_weight", False)
    if not isinstance(allow_negative, bool):
        problems.add(
            f"{where}: key 'allow_negative_loss_weight' must be true or false, "
            f"got {shown(allow_negative)}"
        )
        allow_negative = False
    if not is_number(weight) or not math.isfinite(weight):
        problems.add(f"{where}: key 'loss_weight' must be a finite number, got {shown(weight)}")
        return 1.0
    if weight < 0 and not allow_negative:
        problems.add(
            f"{where}: key 'loss_weight' is negative ({weight}), which trains the task to be "
            'wrong; if that is intended (gradient reversal), add "allow_negative_loss_weight": '
            "true to the task"
        )
    return float(weight)


def check_task_components(datasets: dict[str, dict[str, Any]]) -> None:
    """Every task's decoder and metric exist and its decoder arguments fit, all problems in
    one error. For after the plugin modules are imported: a name that a plugin registers was
    left unchecked when the config was read, and must fail now, before the data are read,
    not when the first epoch is scored."""
    problems = Problems()
    for dataset in datasets.values():
        where = f"{dataset['source']}, dataset {dataset['name']!r}"
        for name, task in dataset["tasks"].items():
            _check_components(task, f"{where}, task {name!r}", False, problems)
    problems.raise_if_any()
