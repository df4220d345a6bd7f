"""Loading, merging, overriding and validating dataset and parameter configs (JSON or jsonnet).

Every check here happens before a model is built, and every error names the file and the key.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError

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
# Bounds of numeric parameters, checked with their types: (lowest, highest, highest included).
PARAM_LIMITS = {
    "training.num_epochs": (1, None, True),
    "batching.batch_size": (1, None, True),
    "batching.max_tokens": (1, None, True),
    "batching.sampling_smoothing": (0, None, True),
    "prediction.batch_size": (1, None, True),
    "prediction.max_tokens": (1, None, True),
    "training.accumulation_steps": (1, None, True),
    "training.grad_clip": (0, None, True),
    "training.optimizer.lr": (0, None, True),
    "training.optimizer.decoder_lr": (0, None, True),
    "encoder.dropout": (0, 1, False),
    "decoder.dropout": (0, 1, False),
    "encoder.window_overlap": (0, 1, False),
}
# Keys of a task entry that the library reads; other keys go to the decoder's constructor.
TASK_KEYS = {"task_type", "column_idx", "metric", "loss_weight"}


IMPORT_PATH_ENV = "MACHAMP_CONFIG_IMPORT_PATH"


def _import_guard(root: Path):
    """A jsonnet import callback that only reads files inside the config's own folder (or the
    folders listed in $MACHAMP_CONFIG_IMPORT_PATH): configs are data, and a config downloaded
    with a model must not read arbitrary files of the machine."""
    allowed = [root.resolve()] + [
        Path(p).resolve() for p in os.environ.get(IMPORT_PATH_ENV, "").split(os.pathsep) if p
    ]

    def callback(directory: str, relative: str) -> tuple[str, bytes]:
        target = (Path(directory) / relative).resolve()
        if not any(target == a or a in target.parents for a in allowed):
            raise RuntimeError(
                f"import {relative!r} leaves the config's folder {root}; put the imported file "
                f"beside the config or add its folder to ${IMPORT_PATH_ENV}"
            )
        if not target.is_file():
            raise RuntimeError(f"imported file not found: {target}")
        return str(target), target.read_bytes()

    return callback


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Evaluate a JSON or jsonnet file (comments, trailing commas, variables, imports) to a dict.

    Evaluation has no native callbacks, and imports stay inside the config's folder."""
    import _jsonnet

    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not a config file; check the path")
        raise ConfigError(f"config file not found: {path}; check the path")
    try:
        text = _jsonnet.evaluate_file(str(path), import_callback=_import_guard(path.parent))
    except RuntimeError as error:
        raise ConfigError(f"{path}: not valid JSON/jsonnet: {str(error).strip()}") from None
    value = json.loads(text)
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
    """Check every key of ``given`` exists in ``defaults`` with a compatible type.

    A default of ``null`` accepts any value; open sections (``"*"`` key) accept any key.
    """
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
        if default is None or value is None:
            continue
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: key {dotted!r} must be an object, got {_type_name(value)}"
                )
            validate_against_defaults(value, default, where, dotted + ".")
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and isinstance(default, int) and not isinstance(default, bool):
                ok = float(value).is_integer()
        else:
            ok = isinstance(value, type(default))
        if not ok:
            raise ConfigError(
                f"{where}: key {dotted!r} must be {_type_name(default)} "
                f"(like the default {json.dumps(default)}), got {json.dumps(value)}"
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_limits(value, dotted, where)


def _check_limits(value: float, dotted: str, where: str) -> None:
    low, high, high_included = PARAM_LIMITS.get(dotted, (None, None, True))
    if not math.isfinite(value):
        problem = "a finite number"
    elif low is not None and value < low:
        problem = f"at least {low}"
    elif high is not None and (value > high or (value == high and not high_included)):
        problem = f"at most {high}" if high_included else f"below {high}"
    else:
        return
    if low is not None and high is not None:
        problem = f"at least {low} and {'at most' if high_included else 'below'} {high}"
    raise ConfigError(f"{where}: key {dotted!r} must be {problem}, got {value}")


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
    for dotted in ("training.num_epochs", "batching.batch_size", "batching.max_tokens"):
        section, key = dotted.split(".")
        params[section][key] = int(params[section][key])
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


def validate_dataset(
    name: str, dataset: dict[str, Any], source: str, data_dir: str | None
) -> dict[str, Any]:
    where = f"{source}, dataset {name!r}"
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
    if result["separator"] not in ("whitespace", "tab"):
        raise ConfigError(f'{where}: key \'separator\' must be "whitespace" or "tab"')
    if result["word_idx"] < 0:
        raise ConfigError(f"{where}: key 'word_idx' must be 0 or more, got {result['word_idx']}")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in result.get("sent_idxs", [])):
        raise ConfigError(f"{where}: key 'sent_idxs' must be a list of column numbers")
    if result["comment_regex"] is not None:
        try:
            re.compile(result["comment_regex"])
        except re.error as error:
            raise ConfigError(
                f"{where}: key 'comment_regex' is not a valid regular expression ({error})"
            ) from None
    for task_name, task in result["tasks"].items():
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
        weight = task.get("loss_weight", 1.0)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise ConfigError(
                f"{twhere}: key 'loss_weight' must be a number, got {json.dumps(weight)}"
            )
        task["loss_weight"] = float(weight)
    return result


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Write JSON atomically (temporary name, then rename) so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
