"""Loading, merging, overriding and validating dataset and parameter configs (JSON or jsonnet).

Every check here happens before a model is built, and every error names the file and the key.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import path_problem
from .permissions import apply_umask

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_PARAMS_PATH = PACKAGE_DIR / "default_params.json"
DATA_DIR_ENV = "MACHAMP_DATA_DIR"

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
    "plugins": (list,),
    "sent_idxs": (list,),
}
DATASET_DEFAULTS = {
    "dev_data_path": None,
    "word_idx": 0,
    "reader": None,
    "separator": "whitespace",
    "encoding": "utf-8",
    "comment_regex": None,
    "max_sents": -1,
    "max_dev_sents": -1,
    "plugins": [],
}


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: bounds (open or closed), and whether it must be
    a whole number. ``describe`` says it in the words of an error message."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (
            value > self.high or (self.high_open and value == self.high)
        )

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        parts = []
        if self.low is not None:
            parts.append(f"{'above' if self.low_open else 'at least'} {_plain(self.low)}")
        if self.high is not None:
            parts.append(f"{'below' if self.high_open else 'at most'} {_plain(self.high)}")
        # The type is checked before the range, so bounds alone say what is wrong.
        return " and ".join(parts) if parts else kind

    def notation(self) -> str:
        """Compact form for the reference tables: ``integer >= 1``, ``in [0, 1)``."""
        prefix = "integer " if self.integer else ""
        low, high = self.low, self.high
        if low is not None and high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{prefix}in {opening}{_plain(low)}, {_plain(high)}{closing}"
        if low is not None:
            return f"{prefix}{'>' if self.low_open else '>='} {_plain(low)}"
        if high is not None:
            return f"{prefix}{'<' if self.high_open else '<='} {_plain(high)}"
        return prefix.strip()


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else str(number)


POSITIVE_INT = Range(1, integer=True)
FRACTION = Range(0, 1)  # 0 <= x <= 1
DROPOUT = Range(0, 1, high_open=True)  # torch accepts 1, but p = 1 zeroes every vector
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
MAX_SEED = 2**32 - 1  # numpy's seed range; torch and random accept it too

# Every numeric parameter with the values it may take; a test checks that each numeric key of
# the defaults is listed, so a new setting cannot slip in unchecked.
PARAM_LIMITS: dict[str, Range] = {
    "random_seed": Range(0, MAX_SEED, integer=True),
    "encoder.max_input_length": Range(3, integer=True),
    "encoder.dropout": DROPOUT,
    "encoder.window_overlap": Range(0, 1, high_open=True),
    "decoder.dropout": DROPOUT,
    "batching.batch_size": POSITIVE_INT,
    "batching.max_tokens": POSITIVE_INT,
    "batching.sampling_smoothing": NON_NEGATIVE,
    "training.num_epochs": POSITIVE_INT,
    "training.optimizer.lr": NON_NEGATIVE,
    "training.optimizer.decoder_lr": NON_NEGATIVE,
    "training.optimizer.weight_decay": NON_NEGATIVE,
    "training.optimizer.betas": Range(0, 1, high_open=True),  # each of the two
    "training.optimizer.eps": POSITIVE,
    "training.learning_rate_scheduler.warmup_fraction": FRACTION,
    "training.learning_rate_scheduler.cut_frac": Range(0, 1, low_open=True, high_open=True),
    "training.learning_rate_scheduler.ratio": Range(1),
    "training.grad_clip": NON_NEGATIVE,
    "training.accumulation_steps": POSITIVE_INT,
    "training.memory_budget_gb": POSITIVE,
    "prediction.batch_size": POSITIVE_INT,
    "prediction.max_tokens": POSITIVE_INT,
    "prediction.chunk_sentences": POSITIVE_INT,
}
# Number keys that also take null: no budget; decoders at the encoder's rate.
NULLABLE_NUMBERS = {"training.memory_budget_gb", "training.optimizer.decoder_lr"}
# Keys whose default is a list of numbers, and how long the list must be.
NUMBER_LISTS = {"training.optimizer.betas": 2}
# String settings with a fixed set of values, checked with the rest before anything is built.
PARAM_CHOICES: dict[str, tuple[str, ...]] = {
    "encoder.pooling": ("first", "last", "mean"),
    "training.optimizer.type": ("adamw",),
    "training.learning_rate_scheduler.type": ("linear", "slanted_triangular", "constant"),
    "training.precision": ("fp32", "bf16", "fp16"),
}
# Dataset keys that hold a sentence count: -1 means every sentence.
SENTENCE_LIMIT_KEYS = ("max_sents", "max_dev_sents")

# Keys of a task entry that the library reads; other keys go to the decoder's constructor.
TASK_KEYS = {"task_type", "column_idx", "metric", "loss_weight", "allow_negative_loss_weight"}
# The longest dataset or task name: it becomes a file or folder name (255 bytes on most file
# systems), with room left for what is appended to it.
MAX_NAME_BYTES = 200


IMPORT_PATH_ENV = "MACHAMP_CONFIG_IMPORT_PATH"
MAX_CONFIG_BYTES = 16 * 2**20  # configs are kB; a larger file is not a config


def allowed_import_roots(config_folder: Path) -> list[Path]:
    """jsonnet imports may read files inside the config's own folder and the folders listed in
    $MACHAMP_CONFIG_IMPORT_PATH, nothing else: configs are data, and a config downloaded with
    a model must not read arbitrary files of the machine."""
    return [config_folder.resolve()] + [
        Path(p).resolve() for p in os.environ.get(IMPORT_PATH_ENV, "").split(os.pathsep) if p
    ]


def _strict_json(text: str, path: Path) -> Any:
    """Plain JSON, or None when the text needs jsonnet (comments, trailing commas, code).
    The result is what jsonnet gives for the same text: keys sorted, a key given twice an
    error (dataset order decides the order of training batches, so it must not depend on
    which path read the file)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ConfigError(f"{path}: key {key!r} is given twice in one object")
            result[key] = value
        return dict(sorted(result.items()))

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except ValueError:
        return None


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a JSON or jsonnet file (comments, trailing commas, variables, imports) as a dict.

    Plain JSON is parsed directly. Anything else is evaluated by jsonnet in a child process
    bounded in time and memory (``jsonnet_sandbox``), without native callbacks, and with
    imports confined to the config's folder."""
    from .jsonnet_sandbox import SandboxError, evaluate

    path = Path(path)
    problem = path_problem(path, "config file", "")
    if problem == "":
        raise ConfigError(f"config file not found: {path}; check the path")
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {path.stat().st_size} bytes, too large for a config file (at most "
            f"{MAX_CONFIG_BYTES // 2**20} MB); check the path"
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not a UTF-8 text file ({error.reason} at byte {error.start}); configs "
            "are JSON or jsonnet text in UTF-8"
        ) from None
    value = _strict_json(text, path)
    if value is None:
        try:
            value = json.loads(evaluate(path, allowed_import_roots(path.parent)))
        except SandboxError as error:
            raise ConfigError(f"{path}: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: expected a JSON object at the top level, got {type(value).__name__}"
        )
    return value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``; dicts merge, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """``training.optimizer.lr=1e-5`` -> (["training", "optimizer", "lr"], 1e-05).

    The value is read as JSON when it parses (numbers, booleans, null, lists), else as a string.
    """
    if "=" not in text:
        raise ConfigError(
            f"--override {text!r}: expected KEY=VALUE, e.g. training.optimizer.lr=1e-5"
        )
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--override {text!r}: the key is empty")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return parts, value


def apply_overrides(
    params: dict[str, Any], overrides: list[str], datasets: dict[str, Any] | None = None
) -> None:
    """Apply ``--override`` values in place. A key that starts with a dataset name edits that
    dataset's config (``UD_EWT.max_sents=100``); any other key edits the parameter config."""
    for text in overrides:
        parts, value = parse_override(text)
        target = params
        if datasets is not None and parts[0] in datasets and len(parts) > 1:
            target = datasets
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[parts[-1]] = value


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def validate_against_defaults(
    given: dict[str, Any], defaults: dict[str, Any], where: str, prefix: str = ""
) -> None:
    """Check every key of ``given`` exists in ``defaults`` with a compatible type and, for
    numbers and choices, an allowed value (``PARAM_LIMITS``, ``PARAM_CHOICES``).

    ``null`` is only accepted where the default is null; open sections (``"*"`` key) accept
    any key."""
    for key, value in given.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            if "*" in defaults:
                continue
            raise ConfigError(
                f"{where}: unknown key {dotted!r}; expected one of: "
                f"{', '.join(prefix + k for k in sorted(defaults))}"
            )
        default = defaults[key]
        if value is None:
            if default is None or dotted in NULLABLE_NUMBERS:
                continue
            raise ConfigError(
                f"{where}: key {dotted!r} must be {_type_name(default)} "
                f"(like the default {json.dumps(default)}), got null"
            )
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: key {dotted!r} must be an object, got {_type_name(value)}"
                )
            validate_against_defaults(value, default, where, dotted + ".")
            continue
        check_value(value, default, dotted, where)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Limits of component (decoder, encoder) arguments that every component shares by name; a
# component adds its own in an ``argument_limits`` class attribute.
ARGUMENT_LIMITS: dict[str, Range] = {"dropout": DROPOUT}


def component_limits(component: Any) -> dict[str, Range]:
    limits = dict(ARGUMENT_LIMITS)
    limits.update(getattr(component, "argument_limits", {}) or {})
    return limits


def check_value(
    value: Any, default: Any, dotted: str, where: str, limits: dict[str, Range] | None = None
) -> None:
    """One setting's value against its default's type and the key's limits or choices
    (``limits``: a component's own, by argument name; else ``PARAM_LIMITS``)."""
    if dotted in NULLABLE_NUMBERS:
        default = 1.0
    if dotted in NUMBER_LISTS:
        length = NUMBER_LISTS[dotted]
        if not (isinstance(value, list) and len(value) == length and all(map(_is_number, value))):
            raise ConfigError(
                f"{where}: key {dotted!r} must be a list of {length} numbers "
                f"(like the default {json.dumps(default)}), got {json.dumps(value)}"
            )
        for item in value:
            _check_limits(item, dotted, where, shown=value, limits=limits)
        return
    if default is None:
        return  # no type to compare with (e.g. an open value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = _is_number(value)
        if ok and isinstance(default, int):
            ok = float(value).is_integer() if math.isfinite(value) else False
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"{where}: key {dotted!r} must be {_type_name(default)} "
            f"(like the default {json.dumps(default)}), got {_json(value)}"
        )
    if _is_number(value):
        _check_limits(value, dotted, where, limits=limits)
    elif dotted in PARAM_CHOICES and value not in PARAM_CHOICES[dotted]:
        raise ConfigError(
            f"{where}: key {dotted!r} must be one of {', '.join(PARAM_CHOICES[dotted])}, "
            f"got {json.dumps(value)}"
        )


def _json(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return repr(value)


def _check_limits(
    value: float,
    dotted: str,
    where: str,
    shown: Any = None,
    limits: dict[str, Range] | None = None,
) -> None:
    allowed = (PARAM_LIMITS if limits is None else limits).get(dotted, Range())
    if allowed.contains(value):
        return
    shown = value if shown is None else shown
    expected = allowed.describe() if math.isfinite(value) else "a finite number"
    raise ConfigError(f"{where}: key {dotted!r} must be {expected}, got {_json(shown)}")


def validate_params(
    params: dict[str, Any], where: str, required: tuple[str, ...] = ("transformer_model", "encoder")
) -> None:
    """Check a stored parameter set (in a model folder or a run directory) the way a user's
    file is checked: every key known, every value of its type and range, and the sections a
    model cannot be built without present."""
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    defaults = json.loads(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))
    for key in required:
        if key not in params:
            raise ConfigError(f"{where}: missing required key {key!r}")
    validate_against_defaults(params, defaults, where)


def _integers_as_int(params: dict[str, Any]) -> None:
    """1.0 given for an integer setting becomes 1 (JSON and jsonnet do not tell them apart)."""
    for dotted, limits in PARAM_LIMITS.items():
        *sections, key = dotted.split(".")
        target: Any = params
        for section in sections:
            target = target.get(section) if isinstance(target, dict) else None
        if limits.integer and isinstance(target, dict) and _is_number(target.get(key)):
            target[key] = int(target[key])


def load_params(
    path: str | os.PathLike | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The default parameters merged with the user's file and ``--override`` values, validated."""
    defaults = json.loads(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))
    params = copy.deepcopy(defaults)
    if path is not None:
        user = load_config_file(path)
        validate_against_defaults(user, defaults, str(path))
        params = deep_merge(params, user)
    if overrides:
        extra: dict[str, Any] = {}
        apply_overrides(extra, overrides)
        validate_against_defaults(extra, defaults, "--override")
        params = deep_merge(params, extra)
    _integers_as_int(params)
    return params


def resolve_data_path(path: str, data_dir: str | os.PathLike | None) -> str:
    """Relative data paths resolve against the data root (``--data_dir`` or $MACHAMP_DATA_DIR),
    then against the working directory, so the same configs work with any copy of the data."""
    if os.path.isabs(path):
        return path
    root = data_dir or os.environ.get(DATA_DIR_ENV)
    if root:
        under_root = Path(root) / path
        # A file that is not under the data root but is under the working directory (the demo
        # data that ships in the repository) is taken from there, so configs can be mixed.
        if not under_root.exists() and Path(path).exists():
            return str(Path(path))
        return str(under_root)
    return str(Path(path))


def load_dataset_configs(
    paths: list[str], data_dir: str | None = None, overrides: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Read one or more dataset config files into {dataset name: validated dataset config}."""
    datasets: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for path in paths:
        config = load_config_file(path)
        for name, dataset in config.items():
            if name in datasets:
                raise ConfigError(
                    f"{path}: dataset name {name!r} is also defined in {sources[name]}; "
                    "each dataset needs a unique name"
                )
            if not isinstance(dataset, dict):
                raise ConfigError(f"{path}: dataset {name!r} must be an object")
            datasets[name] = dataset
            sources[name] = str(path)
    if not datasets:
        raise ConfigError(f"no datasets defined in {', '.join(paths)}")
    if overrides:
        ignored: dict[str, Any] = {}
        dataset_overrides = [o for o in overrides if o.split(".", 1)[0] in datasets]
        apply_overrides(ignored, dataset_overrides, datasets)
    resolved = {}
    for name, dataset in datasets.items():
        resolved[name] = validate_dataset(name, dataset, sources[name], data_dir)
    return resolved


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


def validate_dataset(
    name: str, dataset: dict[str, Any], source: str, data_dir: str | None
) -> dict[str, Any]:
    where = f"{source}, dataset {name!r}"
    check_name(name, "dataset", source)
    for key, value in dataset.items():
        if key not in DATASET_KEYS:
            raise ConfigError(
                f"{where}: unknown key {key!r}; expected one of: {', '.join(sorted(DATASET_KEYS))}"
            )
        if not isinstance(value, DATASET_KEYS[key]) or isinstance(value, bool):
            expected = " or ".join(
                _type_name(t()) if t is not type(None) else "null" for t in DATASET_KEYS[key]
            )
            raise ConfigError(f"{where}: key {key!r} must be {expected}, got {json.dumps(value)}")
    if "train_data_path" not in dataset:
        raise ConfigError(f"{where}: missing required key 'train_data_path'")
    if "tasks" not in dataset or not dataset["tasks"]:
        raise ConfigError(f"{where}: missing required key 'tasks' (at least one task)")
    result = deep_merge(DATASET_DEFAULTS, dataset)
    result["name"] = name
    result["source"] = source
    for key in ("train_data_path", "dev_data_path"):
        value = result.get(key)
        if isinstance(value, list):  # a list of training files is read as their union
            if not value or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f"{where}: key {key!r} must be a path or a list of paths")
            result[key] = [os.path.abspath(resolve_data_path(v, data_dir)) for v in value]
        elif value:
            # Absolute, so the resolved copy in the run directory works from any directory.
            result[key] = os.path.abspath(resolve_data_path(value, data_dir))
        elif key == "train_data_path":
            raise ConfigError(f"{where}: key 'train_data_path' is empty; give a data file's path")
    for key in ("train_data_path", "dev_data_path"):
        paths = result.get(key) or []
        for data_path in paths if isinstance(paths, list) else [paths]:
            if os.path.exists(data_path) and not (
                os.path.isfile(data_path) or os.path.isdir(data_path)
            ):
                # /dev/zero or a named pipe would be read forever: not a data file.
                raise ConfigError(
                    f"{where}: key {key!r} names {data_path}, which is a device or a pipe, "
                    "not a data file; give the path of a file"
                )
    if result["separator"] not in ("whitespace", "tab"):
        raise ConfigError(f'{where}: key \'separator\' must be "whitespace" or "tab"')
    if result["word_idx"] < 0:
        raise ConfigError(f"{where}: key 'word_idx' must be 0 or more, got {result['word_idx']}")
    if not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0
        for i in result.get("sent_idxs", [])
    ):
        raise ConfigError(
            f"{where}: key 'sent_idxs' must be a list of column numbers (0 or more), "
            f"got {json.dumps(result['sent_idxs'])}"
        )
    for key in SENTENCE_LIMIT_KEYS:
        if result[key] == 0 or result[key] < -1:
            raise ConfigError(
                f"{where}: key {key!r} must be -1 (every sentence) or at least 1, got {result[key]}"
            )
    if result["comment_regex"] is not None:
        try:
            re.compile(result["comment_regex"])
        except re.error as error:
            raise ConfigError(
                f"{where}: key 'comment_regex' is not a valid regular expression ({error})"
            ) from None
    for task_name, task in result["tasks"].items():
        check_name(task_name, "task", where)
        twhere = f"{where}, task {task_name!r}"
        if not isinstance(task, dict):
            raise ConfigError(f"{twhere}: must be an object with task_type and column_idx")
        if "task_type" not in task:
            raise ConfigError(f"{twhere}: missing required key 'task_type'")
        for key, types in (("task_type", (str,)), ("metric", (str, type(None)))):
            if key in task and not isinstance(task[key], types):
                expected = " or ".join("null" if t is type(None) else "a string" for t in types)
                raise ConfigError(
                    f"{twhere}: key {key!r} must be {expected}, got {json.dumps(task[key])}"
                )
        if "column_idx" in task and (
            not isinstance(task["column_idx"], int) or isinstance(task["column_idx"], bool)
        ):
            raise ConfigError(
                f"{twhere}: key 'column_idx' must be an integer, "
                f"got {json.dumps(task['column_idx'])}"
            )
        task["loss_weight"] = _loss_weight(task, twhere)
    return result


def _loss_weight(task: dict[str, Any], where: str) -> float:
    """A finite, non-negative number; a negative weight (gradient reversal, as in adversarial
    multi-task training) only with ``"allow_negative_loss_weight": true`` beside it, so a sign
    typo cannot silently train a task to be wrong."""
    weight = task.get("loss_weight", 1.0)
    allow_negative = task.get("allow_negative_loss_weight", False)
    if not isinstance(allow_negative, bool):
        raise ConfigError(
            f"{where}: key 'allow_negative_loss_weight' must be true or false, "
            f"got {_json(allow_negative)}"
        )
    if not _is_number(weight) or not math.isfinite(weight):
        raise ConfigError(
            f"{where}: key 'loss_weight' must be a finite number, got {_json(weight)}"
        )
    if weight < 0 and not allow_negative:
        raise ConfigError(
            f"{where}: key 'loss_weight' is negative ({weight}), which trains the task to be "
            'wrong; if that is intended (gradient reversal), add "allow_negative_loss_weight": '
            "true to the task"
        )
    return float(weight)


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write JSON atomically (temporary name, then rename) so a crash never leaves half a file;
    a failed write (a full disk) leaves neither the temporary file nor a changed target."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        apply_umask(tmp, replaces=path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
