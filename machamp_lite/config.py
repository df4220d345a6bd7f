"""Loading, merging, overriding and validating dataset and parameter configs (JSON or jsonnet).

Every check happens before a model is built, every problem names the file and the key, and a
config with several mistakes fails with one error that lists them all. This module is the
front door: it decides where each ``--override`` goes and merges the user's files over the
defaults. The rest lives beside it, and every name is importable from here:

- ``config_files``: reading files (jsonnet in a sandbox), writing JSON, data paths;
- ``config_checks``: types, ranges and choices of parameters, and the ``Problems`` collector;
- ``config_datasets``: dataset and task keys, names, and the components tasks choose.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterable
from typing import Any

from .config_checks import (
    ARGUMENT_LIMITS,
    DROPOUT,
    FRACTION,
    MAX_SEED,
    NON_NEGATIVE,
    NULLABLE_NUMBERS,
    NUMBER_LISTS,
    PARAM_CHOICES,
    PARAM_LIMITS,
    POSITIVE,
    POSITIVE_INT,
    Problems,
    Range,
    check_value,
    component_limits,
    is_number,
    validate_against_defaults,
    validate_params,
    value_problem,
)
from .config_datasets import (
    DATASET_DEFAULTS,
    DATASET_KEYS,
    MAX_NAME_BYTES,
    SENTENCE_LIMIT_KEYS,
    TASK_KEYS,
    check_name,
    check_run_name,
    check_task_components,
    name_problem,
    validate_dataset,
)
from .config_files import (
    DATA_DIR_ENV,
    DEFAULT_PARAMS_PATH,
    IMPORT_PATH_ENV,
    MAX_CONFIG_BYTES,
    PACKAGE_DIR,
    allowed_import_roots,
    deep_merge,
    default_params,
    load_config_file,
    resolve_data_path,
    write_json,
)
from .config_machamp import (
    check_decoders_section,
    merge_task_defaults,
    normalize_machamp_keys,
    profile_defaults,
    profile_name,
)
from .errors import ConfigError

__all__ = [
    "ARGUMENT_LIMITS",
    "DATASET_DEFAULTS",
    "DATASET_KEYS",
    "DATA_DIR_ENV",
    "DEFAULT_PARAMS_PATH",
    "DROPOUT",
    "FRACTION",
    "IMPORT_PATH_ENV",
    "MAX_CONFIG_BYTES",
    "MAX_NAME_BYTES",
    "MAX_SEED",
    "NON_NEGATIVE",
    "NULLABLE_NUMBERS",
    "NUMBER_LISTS",
    "PACKAGE_DIR",
    "PARAM_CHOICES",
    "PARAM_LIMITS",
    "POSITIVE",
    "POSITIVE_INT",
    "Problems",
    "Range",
    "SENTENCE_LIMIT_KEYS",
    "TASK_KEYS",
    "allowed_import_roots",
    "apply_overrides",
    "check_name",
    "check_run_name",
    "check_task_components",
    "check_value",
    "component_limits",
    "deep_merge",
    "default_params",
    "load_config_file",
    "load_configs",
    "load_dataset_configs",
    "load_params",
    "name_problem",
    "parse_override",
    "resolve_data_path",
    "split_overrides",
    "validate_against_defaults",
    "validate_dataset",
    "validate_params",
    "value_problem",
    "write_json",
]


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


def _first_key(override: str) -> str:
    return override.split("=", 1)[0].split(".", 1)[0].strip()


def dataset_names(dataset_configs: Iterable[str]) -> set[str]:
    """The dataset names that the files define; a file that cannot be read adds none (loading
    it for real reports why, with the rest of the configs' problems)."""
    names: set[str] = set()
    for path in dataset_configs:
        try:
            names.update(load_config_file(path))
        except ConfigError:
            continue
    return names


def split_overrides(
    overrides: list[str], dataset_configs: list[str]
) -> tuple[list[str], list[str]]:
    """``--override`` values as (parameter overrides, dataset overrides), in their given order.

    An override whose first key is a dataset name that one of ``dataset_configs`` defines
    (``multiconer.max_sents=100``) edits that dataset; every other one edits the parameter
    config (``training.num_epochs=3``). The one place that decides: ``train``, ``experiment``
    and the Python API all route overrides through it."""
    names = dataset_names(dataset_configs) if overrides else set()
    params: list[str] = []
    datasets: list[str] = []
    for override in overrides:
        (datasets if _first_key(override) in names else params).append(override)
    return params, datasets


def _integers_as_int(params: dict[str, Any]) -> None:
    """1.0 given for an integer setting becomes 1 (JSON and jsonnet do not tell them apart)."""
    for dotted, limits in PARAM_LIMITS.items():
        *sections, key = dotted.split(".")
        target: Any = params
        for section in sections:
            target = target.get(section) if isinstance(target, dict) else None
        value = target.get(key) if isinstance(target, dict) else None
        if limits.integer and is_number(value) and math.isfinite(value) and value == int(value):
            target[key] = int(value)  # (a value that is not whole is a problem noted already)


def _load_params(
    path: str | os.PathLike | None, overrides: list[str] | None, problems: Problems
) -> dict[str, Any]:
    """The parameters: the user's file over its profile's defaults (machamp-lite's, or
    MaChAmp's for a MaChAmp file: see ``config_machamp``), then the overrides."""
    defaults = default_params()
    params = copy.deepcopy(defaults)
    if path is not None:
        try:
            user = load_config_file(path)
        except ConfigError as error:
            problems.add_error(error)
        else:
            params = deep_merge(_profile_of(user, str(path), problems), user)
    extra: dict[str, Any] = {}
    for override in overrides or []:
        with problems.catch():
            apply_overrides(extra, [override])
    _check_user_params(extra, defaults, "--override", problems)
    params = deep_merge(params, extra)
    _integers_as_int(params)
    return params


def _profile_of(user: dict[str, Any], where: str, problems: Problems) -> dict[str, Any]:
    """The defaults ``user`` is read over, after checking ``user`` (changed in place to
    machamp-lite's key homes)."""
    defaults = default_params()
    name = profile_name(user, where, problems)
    normalize_machamp_keys(user, where, problems)
    _check_user_params(user, defaults, where, problems)
    return profile_defaults(name) or defaults


def _check_user_params(
    user: dict[str, Any], defaults: dict[str, Any], where: str, problems: Problems
) -> None:
    """``validate_against_defaults``, with the open ``decoders`` section checked apart."""
    if "decoders" in user:
        user["decoders"] = check_decoders_section(user["decoders"], where, problems)
    validate_against_defaults(
        {k: v for k, v in user.items() if k != "decoders"}, defaults, where, problems=problems
    )


def load_params(
    path: str | os.PathLike | None = None, overrides: list[str] | None = None
) -> dict[str, Any]:
    """The default parameters merged with the user's file and ``--override`` values (parameter
    overrides only: see ``split_overrides``), validated; every problem in one error."""
    problems = Problems()
    params = _load_params(path, overrides, problems)
    problems.raise_if_any()
    return params


def _load_dataset_configs(
    paths: list[str],
    data_dir: str | None,
    overrides: list[str] | None,
    plugins: Iterable[str],
    problems: Problems,
    task_defaults: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    datasets: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    before = len(problems)
    for path in paths:
        try:
            config = load_config_file(path)
        except ConfigError as error:
            problems.add_error(error)
            continue
        for name, dataset in config.items():
            if name in datasets:
                problems.add(
                    f"{path}: dataset name {name!r} is also defined in {sources[name]}; "
                    "each dataset needs a unique name"
                )
            elif not isinstance(dataset, dict):
                problems.add(f"{path}: dataset {name!r} must be an object")
            else:
                datasets[name] = dataset
                sources[name] = str(path)
    if not datasets and len(problems) == before:  # (an unreadable file says why itself)
        problems.add(f"no datasets defined in {', '.join(map(str, paths))}")
    for override in overrides or []:
        if _first_key(override) not in datasets:
            continue  # a parameter override (load_params checks it)
        with problems.catch():
            parts, _ = parse_override(override)
            if len(parts) == 1:
                raise ConfigError(
                    f"--override {override!r}: {parts[0]!r} is a dataset; set one of its "
                    f"keys, e.g. {parts[0]}.max_sents=100"
                )
            apply_overrides({}, [override], datasets)
    plugins = list(plugins)
    merge_task_defaults(datasets, task_defaults or {}, problems)
    validated = {
        name: validate_dataset(name, dataset, sources[name], data_dir, problems, plugins)
        for name, dataset in datasets.items()
    }
    from .segmentation import split_segmentation_datasets  # (imports the readers)

    return split_segmentation_datasets(validated, problems)


def load_dataset_configs(
    paths: list[str],
    data_dir: str | None = None,
    overrides: list[str] | None = None,
    plugins: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """Read one or more dataset config files into {dataset name: validated dataset config};
    every problem of every file in one error.

    ``overrides`` may hold every ``--override`` (those for the parameters are left alone) or
    only the dataset ones from ``split_overrides``. ``plugins``: the parameter config's
    plugin modules; until they (and the datasets' own) are imported, a decoder or metric name
    that is not registered yet is left for the check after the import."""
    problems = Problems()
    datasets = _load_dataset_configs(paths, data_dir, overrides, plugins, problems)
    problems.raise_if_any()
    return datasets


def load_configs(
    dataset_configs: list[str],
    parameters_config: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    data_dir: str | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The parameters and the datasets of a run, with ``--override`` values routed by
    ``split_overrides``: a mistake in the parameter config and one in a dataset config come
    out together, in one error, before anything is read or built."""
    problems = Problems()
    param_overrides, data_overrides = split_overrides(list(overrides or []), dataset_configs)
    params = _load_params(parameters_config, param_overrides, problems)
    listed = params.get("plugins")
    plugins = [m for m in listed if isinstance(m, str)] if isinstance(listed, list) else []
    sections = params.get("decoders") if isinstance(params.get("decoders"), dict) else {}
    datasets = _load_dataset_configs(
        dataset_configs, data_dir, data_overrides, plugins, problems, sections
    )
    problems.raise_if_any()
    return params, datasets
