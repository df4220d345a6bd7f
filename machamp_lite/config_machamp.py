"""MaChAmp's parameter-config conventions, read with MaChAmp's meaning.

A MaChAmp parameters file differs from a machamp-lite one in three ways that this module
resolves before the usual checks run:

- its defaults are MaChAmp v0.4's, not machamp-lite's: a file that has a MaChAmp-only key
  (``decoders``, ``default_dec_dataset_embeds_dim``, ``reset_transformer_model``) or says
  ``"defaults": "machamp"`` is merged over the shipped MaChAmp profile
  (``profiles/machamp.json``) instead of ``default_params.json``;
- task settings may come from the parameters file: ``decoders.default_decoder`` and
  ``decoders.<task_type>`` give every task of that type defaults, which the task's own keys
  override (``merge_task_defaults``);
- a few keys have older homes or names: ``encoder.layers_to_use`` is the default of every
  task's ``layers_to_use``; ``encoder.subword_strategy`` is ``encoder.pooling``.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from .config_checks import Problems, shown

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = {"machamp-lite": None, "machamp": PROFILES_DIR / "machamp.json"}
# Top-level keys that only MaChAmp's parameter files have: a file with one is MaChAmp's.
MACHAMP_ONLY_KEYS = ("decoders", "default_dec_dataset_embeds_dim", "reset_transformer_model")
DEFAULT_SECTION = "default_decoder"


def profile_name(user: dict[str, Any], where: str, problems: Problems) -> str:
    """Which defaults a user's parameters file is read over: its ``defaults`` key, else
    ``machamp`` when it has a MaChAmp-only key, else ``machamp-lite``."""
    chosen = user.get("defaults")
    if chosen is not None:
        if chosen not in PROFILES:
            problems.add(
                f"{where}: key 'defaults' must be one of {', '.join(PROFILES)}, got {shown(chosen)}"
            )
            return "machamp-lite"
        return str(chosen)
    found = [key for key in MACHAMP_ONLY_KEYS if key in user]
    if found:
        print(
            f"note: {where} is read as a MaChAmp parameters file (it has {found[0]!r}): keys it "
            "leaves out take MaChAmp v0.4's defaults (docs/machamp.md); add "
            '"defaults": "machamp-lite" to it for machamp-lite\'s',
            file=sys.stderr,
        )
        return "machamp"
    return "machamp-lite"


def profile_defaults(name: str) -> dict[str, Any] | None:
    """The full parameter set of a named profile (None: machamp-lite's own defaults)."""
    path = PROFILES[name]
    if path is None:
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def normalize_machamp_keys(user: dict[str, Any], where: str, problems: Problems) -> None:
    """Move MaChAmp's older key homes to where machamp-lite reads them, in place."""
    user.pop("defaults", None)
    encoder = user.get("encoder")
    if not isinstance(encoder, dict):
        return
    if "subword_strategy" in encoder:
        if "pooling" in encoder:
            problems.add(
                f"{where}: keys 'encoder.subword_strategy' (MaChAmp's name) and "
                "'encoder.pooling' name the same thing; keep one"
            )
        encoder["pooling"] = encoder.pop("subword_strategy")
    if "layers_to_use" in encoder:
        # MaChAmp before v0.4.2 set it for the encoder; every task reads it since.
        decoders = user.setdefault("decoders", {})
        if isinstance(decoders, dict):
            section = decoders.setdefault(DEFAULT_SECTION, {})
            if isinstance(section, dict):
                section.setdefault("layers_to_use", encoder["layers_to_use"])
        del encoder["layers_to_use"]


def check_decoders_section(section: Any, where: str, problems: Problems) -> dict[str, Any]:
    """The ``decoders`` section's shape: an object of objects, one per task type (or
    ``default_decoder``). Keys inside are checked when they reach a task
    (``merge_task_defaults``): only then is the decoder that reads them known."""
    from .registry import decoders, load_plugins

    if not isinstance(section, dict):
        problems.add(f"{where}: key 'decoders' must be an object, got {shown(section)}")
        return {}
    load_plugins()
    known = {DEFAULT_SECTION, *decoders.names()}
    checked = {}
    for name, settings in section.items():
        if not isinstance(settings, dict):
            problems.add(f"{where}: key 'decoders.{name}' must be an object, got {shown(settings)}")
        elif name not in known:
            problems.add(
                f"{where}: key 'decoders.{name}' names no task type; expected "
                f"{DEFAULT_SECTION} or one of: {', '.join(sorted(known - {DEFAULT_SECTION}))}"
            )
        else:
            checked[name] = settings
    return checked


def merge_task_defaults(
    datasets: dict[str, dict[str, Any]], sections: dict[str, Any], problems: Problems
) -> None:
    """Give each task the keys of ``decoders.default_decoder`` and ``decoders.<its type>``
    that it does not set itself, in place, as MaChAmp merges them (task over type section over
    default section). A default-section key that is not a task key reaches only the decoders
    whose constructor takes it (``dropout``); a type-section key its decoder cannot take is an
    error that names the parameters file's key, not the task."""
    from .config_datasets import TASK_KEYS
    from .registry import decoders

    if not sections:
        return
    for dataset in datasets.values():
        tasks = dataset.get("tasks") if isinstance(dataset, dict) else None
        if not isinstance(tasks, dict):
            continue
        for name, task in tasks.items():
            if not isinstance(task, dict) or not isinstance(task.get("task_type"), str):
                continue
            task_type = task["task_type"]
            decoder = decoders.get(task_type) if task_type in decoders else None
            accepted = _accepted_arguments(decoder)
            merged: dict[str, Any] = {}
            for key, value in sections.get(DEFAULT_SECTION, {}).items():
                if key in TASK_KEYS or accepted is None or _alias(decoder, key) in accepted:
                    merged[key] = copy.deepcopy(value)
            for key, value in sections.get(task_type, {}).items():
                if key in TASK_KEYS or accepted is None or _alias(decoder, key) in accepted:
                    merged[key] = copy.deepcopy(value)
                else:
                    problems.add(
                        f"parameters config: key 'decoders.{task_type}.{key}' is not a setting "
                        f"of the {task_type} decoder (dataset {dataset.get('name', '?')!r}, task "
                        f"{name!r}); it takes: {', '.join(sorted(accepted | TASK_KEYS))}"
                    )
            merged.update(task)
            tasks[name] = merged


def rename_decoder_arguments(task: dict[str, Any]) -> dict[str, Any]:
    """The task with MaChAmp's names of decoder arguments (a decoder class lists them in
    ``machamp_argument_names``) replaced by machamp-lite's."""
    from .registry import decoders

    task_type = task.get("task_type")
    if not isinstance(task_type, str) or task_type not in decoders:
        return task
    names = getattr(decoders.get(task_type), "machamp_argument_names", {})
    if not any(key in task for key in names):
        return task
    return {names.get(key, key): value for key, value in task.items()}


def _alias(decoder: Any, key: str) -> str:
    return getattr(decoder, "machamp_argument_names", {}).get(key, key)


def _accepted_arguments(decoder: Any) -> set[str] | None:
    """The keyword arguments a decoder's constructor takes (None: unknown, e.g. a plugin's
    decoder not registered yet, whose check comes after its import)."""
    import inspect

    if decoder is None:
        return None
    parameters = inspect.signature(decoder.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return {name for name in parameters if name not in ("self", "input_dim", "vocabulary")}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_machamp_task_keys(task: dict[str, Any], where: str, problems: Problems) -> None:
    """The task keys that MaChAmp added beside the decoder's own: ``layers_to_use`` (a
    non-empty list of layer numbers, negative from the top), ``dec_dataset_embed_idx`` (-1:
    the dataset's name; a column number) and ``topn`` (labels written per item by ``predict``)."""
    layers = task.get("layers_to_use", [-1])
    if not (
        isinstance(layers, list)
        and layers
        and all(map(_is_int, layers))
        and len(set(layers)) == len(layers)
    ):
        problems.add(
            f"{where}: key 'layers_to_use' must be a non-empty list of distinct layer numbers "
            f"(like [-1], the last layer), got {shown(layers)}"
        )
    embed = task.get("dec_dataset_embed_idx")
    if embed is not None and not (_is_int(embed) and embed >= -1):
        problems.add(
            f"{where}: key 'dec_dataset_embed_idx' must be -1 (the dataset's name), a column "
            f"number or null, got {shown(embed)}"
        )
    extra = task.get("additional_metrics", [])
    if not (isinstance(extra, list) and all(isinstance(m, str) and m for m in extra)):
        problems.add(
            f"{where}: key 'additional_metrics' must be a list of metric names, got {shown(extra)}"
        )
    topn = task.get("topn", 1)
    if not _is_int(topn) or topn < 1:
        problems.add(f"{where}: key 'topn' must be an integer >= 1, got {shown(topn)}")


def check_dataset_embed_idx(value: Any, where: str, problems: Problems) -> None:
    if value is not None and not (_is_int(value) and value >= -1):
        problems.add(
            f"{where}: key 'dataset_embed_idx' must be -1 (the dataset's name), a column "
            f"number or null, got {shown(value)}"
        )
