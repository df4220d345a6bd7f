"""The configuration reference and the component listing, both generated from the code itself."""

from __future__ import annotations

import inspect
import json
import sys
import textwrap
from collections.abc import Iterable
from typing import Any

from . import config
from .config import DATASET_DEFAULTS, DATASET_KEYS, TASK_KEYS, default_params
from .registry import Registry, decoders, describe_parameters, encoders, metrics, readers

REGENERATE = "python -m machamp_lite.reference > docs/configuration.md"

from .reference_keys import DATASET_DESCRIPTIONS, PARAM_DESCRIPTIONS, TASK_DESCRIPTIONS  # noqa: E402

KINDS = ("reader", "encoder", "decoder", "metric")
REGISTRIES: dict[str, Registry] = {
    "reader": readers,
    "encoder": encoders,
    "decoder": decoders,
    "metric": metrics,
}
# How each kind of component is chosen in a config.
SELECTED_BY = {
    "reader": 'dataset key `"reader"`',
    "encoder": "parameter key `encoder.type`",
    "decoder": 'task key `"task_type"`',
    "metric": 'task key `"metric"`',
}
# Constructor arguments that machamp-lite passes itself: not config keys.
LIBRARY_ARGUMENTS = {
    "reader": set(),
    "encoder": {"transformer_model", "pretrained", "tokenizer", "model_config"},
    "decoder": {"input_dim", "vocabulary"},
    "metric": set(),
}


def _set_by(kind: str, name: str) -> str:
    """Where a constructor argument of a component of ``kind`` comes from."""
    if kind == "encoder" and name == "transformer_model":
        return "parameter key `transformer_model`"
    if name in LIBRARY_ARGUMENTS[kind]:
        return "machamp-lite"
    if kind == "reader":
        return f"dataset key `{name}`"
    if kind == "encoder":
        return f"parameter key `encoder.{name}`"
    if kind == "decoder":
        if name == "dropout":
            return "task key `dropout` (unset: parameter key `decoder.dropout`)"
        return f"task key `{name}`"
    return "its default (metrics are built without arguments)"


def _summary(component: Any) -> str:
    doc = inspect.getdoc(component) or ""
    paragraph = doc.split("\n\n")[0]
    return " ".join(paragraph.split())


def describe_component(kind: str, name: str, component: Any) -> dict[str, Any]:
    """Everything the listing and the reference say about one registered component."""
    row: dict[str, Any] = {
        "name": name,
        "class": f"{component.__module__}.{component.__qualname__}",
        "summary": _summary(component),
    }
    if kind == "decoder":
        # What the decoder labels: a subword-view task (mlm) is stored as sentence level, so
        # that writers pass it by, but users should see what it predicts.
        codec = component.codec
        row["level"] = "subword" if getattr(codec, "subword_view", False) else codec.level
        row["default_metric"] = getattr(component, "default_metric", None)
        # Whether predict --probabilities / --topn and calibration apply to its predictions.
        row["probabilities"] = bool(getattr(component, "gives_probabilities", False))
    row["parameters"] = [
        {**p, "set_by": _set_by(kind, p["name"]).replace("`", "")}
        for p in describe_parameters(component)
    ]
    return row


def _is_builtin(component: Any) -> bool:
    return getattr(component, "__module__", "").split(".")[0] == "machamp_lite"


def describe_components(builtin_only: bool = False) -> dict[str, list[dict[str, Any]]]:
    """``{"readers": [...], "encoders": [...], ...}``: every registered component (plugins
    included, unless ``builtin_only``) with its parameters, types and defaults."""
    listing = {}
    for kind in KINDS:
        rows = []
        for name, component in REGISTRIES[kind].items():
            if builtin_only and not _is_builtin(component):
                continue
            rows.append(describe_component(kind, name, component))
        listing[kind + "s"] = rows
    return listing


def _signature_text(parameter: dict[str, str]) -> str:
    text = parameter["name"]
    if parameter["type"]:
        text += f": {parameter['type']}"
    if parameter["default"] != "(required)":
        text += f" = {parameter['default']}"
    return text


def format_components(listing: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """The plain-text listing that ``machamp-lite components`` prints."""
    listing = listing if listing is not None else describe_components()
    lines = []
    for kind in KINDS:
        lines.append(f"{kind}s (chosen by the {SELECTED_BY[kind].replace('`', '')}):")
        for row in listing[kind + "s"]:
            head = f"  {row['name']}"
            if kind == "decoder":
                extra = ", probabilities" if row.get("probabilities") else ""
                head += f"  [{row['level']} level, default metric {row['default_metric']}{extra}]"
            lines.append(f"{head}  {row['class']}")
            if row["summary"]:
                lines.append(
                    textwrap.fill(
                        row["summary"], 100, initial_indent=" " * 6, subsequent_indent=" " * 6
                    )
                )
            for parameter in row["parameters"]:
                if parameter["set_by"] == "machamp-lite":
                    continue
                lines.append(f"      {_signature_text(parameter)}    <- {parameter['set_by']}")
        lines.append("")
    return "\n".join(lines).rstrip()


def flatten_params(defaults: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, str, Any]]:
    """(dotted key, type name, default) for every leaf of the parameter defaults."""
    for key, value in defaults.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from flatten_params(value, dotted + ".")
        else:
            yield dotted, _json_type(value), value


def _json_type(value: Any) -> str:
    if value is None:
        return "any"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}.get(
        type(value), "object"
    )


def missing_descriptions() -> dict[str, list[str]]:
    """Keys without a description (and descriptions of keys that no longer exist)."""
    params = [key for key, _, _ in flatten_params(default_params())]
    return {
        "parameter keys without a description": [k for k in params if k not in PARAM_DESCRIPTIONS],
        "parameter descriptions of unknown keys": sorted(set(PARAM_DESCRIPTIONS) - set(params)),
        "dataset keys without a description": sorted(set(DATASET_KEYS) - set(DATASET_DESCRIPTIONS)),
        "dataset descriptions of unknown keys": sorted(
            set(DATASET_DESCRIPTIONS) - set(DATASET_KEYS)
        ),
        "task keys without a description": sorted(set(TASK_KEYS) - set(TASK_DESCRIPTIONS)),
        "task descriptions of unknown keys": sorted(set(TASK_DESCRIPTIONS) - set(TASK_KEYS)),
    }


def _limits(dotted: str) -> str:
    """The bounds that config_checks.py checks for a numeric key, as ``, integer >= 1`` or
    ``, in [0, 1)``."""
    limits = config.PARAM_LIMITS.get(dotted)
    return f", {limits.notation()}" if limits is not None else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(value: str) -> str:
    return f"`{value}`" if value else ""


def _dataset_type(types: tuple[type, ...]) -> str:
    names = {
        str: "string",
        list: "list",
        int: "integer",
        dict: "object",
        type(None): "null",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _dataset_default(key: str) -> str:
    if key in ("train_data_path", "tasks"):
        return "(required)"
    if key in DATASET_DEFAULTS:
        return _code(json.dumps(DATASET_DEFAULTS[key]))
    return "(the reader's)"


def generate_reference() -> str:
    """The Markdown text of ``docs/configuration.md``."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from the code; do not edit. Regenerate with:",
        f"     {REGENERATE} -->",
        "",
        "Generated from the code by `python -m machamp_lite.reference`: the dataset keys from "
        "`machamp_lite/config_datasets.py`, the parameter keys and defaults from "
        "`machamp_lite/default_params.json`, and every built-in component's arguments from its "
        "signature. `machamp-lite components` prints the same component list, plugins "
        "included (`--json` for a machine-readable one).",
        "",
        "Both kinds of config are JSON or jsonnet (comments, trailing commas, variables, imports "
        "from the config's own folder). Unknown keys and wrong types fail before anything is "
        "built, with the file and the key in the message; a config with several mistakes "
        "fails with one error that lists them all, one line each.",
        "",
        "- [Dataset configs](#dataset-configs)",
        "- [Task keys](#task-keys)",
        "- [Parameter configs](#parameter-configs)",
        "- [Components](#components): [readers](#readers), [encoders](#encoders), "
        "[decoders](#decoders), [metrics](#metrics)",
        "",
        "## Dataset configs",
        "",
        "A dataset config maps dataset names to their settings; `train --dataset_configs` takes "
        "one or more such files, and every dataset of every file is trained together.",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for key in DATASET_KEYS:
        out.append(
            f"| `{key}` | {_dataset_type(DATASET_KEYS[key])} | {_dataset_default(key)} | "
            f"{_cell(DATASET_DESCRIPTIONS.get(key, ''))} |"
        )
    out += [
        "",
        "## Task keys",
        "",
        "Each entry of a dataset's `tasks` is `{task name: task config}`. The library reads the "
        "keys below; every other key is passed to the decoder's constructor (see the task "
        "type's arguments under [Decoders](#decoders)), and a key the decoder does not accept "
        "is an error. A value must have the argument's annotated type: an integer is a "
        'number, `true` is not, and `"0.1"` is a string, not a number.',
        "",
        "| key | description |",
        "| --- | --- |",
    ]
    for key in ("task_type", "column_idx", "metric", "loss_weight"):
        if key in TASK_KEYS:
            out.append(f"| `{key}` | {_cell(TASK_DESCRIPTIONS.get(key, ''))} |")
    for key in sorted(TASK_KEYS - {"task_type", "column_idx", "metric", "loss_weight"}):
        out.append(f"| `{key}` | {_cell(TASK_DESCRIPTIONS.get(key, ''))} |")
    out += [
        "",
        "## Parameter configs",
        "",
        "`train --parameters_config FILE` is merged over these defaults (nested objects merge "
        "key by key); `--override KEY=VALUE` sets one dotted key, e.g. "
        "`--override training.optimizer.lr=1e-5`. A value must have the default's type "
        "(an integer where the default is one); a default of `null` accepts any value.",
        "",
        "| key | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for dotted, type_name, default in flatten_params(default_params()):
        out.append(
            f"| `{dotted}` | {type_name}{_limits(dotted)} | `{json.dumps(default)}` | "
            f"{_cell(PARAM_DESCRIPTIONS.get(dotted, ''))} |"
        )
    listing = describe_components(builtin_only=True)
    out += [
        "",
        "## Components",
        "",
        "Readers, encoders, decoders and metrics are registered under a name "
        "(`machamp_lite/registry.py`) and chosen by that name in a config. These are the "
        "built-in ones; a plugin adds its own (see [new-decoder.md](new-decoder.md) and "
        "[new-reader.md](new-reader.md)). Arguments set by machamp-lite itself are marked so.",
    ]
    intros = {
        "reader": "A reader's arguments are the dataset keys of the same name.",
        "encoder": "The encoder's arguments are the keys of the parameter config's `encoder` "
        "section.",
        "decoder": "A decoder's arguments, other than `input_dim` and `vocabulary`, are keys "
        "of the task config. `level` says whether the task labels words (token) or sentences "
        "(sentence).",
        "metric": "Metrics are built without arguments (their defaults apply); a metric's "
        "`score` (higher is better) is what model selection sums.",
    }
    for kind in KINDS:
        out += [
            "",
            f"### {kind.capitalize()}s",
            "",
            f"Chosen by the {SELECTED_BY[kind]}. {intros[kind]}",
        ]
        for row in listing[kind + "s"]:
            out += ["", f"#### `{row['name']}`", ""]
            facts = [f"`{row['class']}`"]
            if kind == "decoder":
                facts.append(f"level: {row['level']}")
                facts.append(f"default metric: `{row['default_metric']}`")
                if row.get("probabilities"):
                    facts.append("gives probabilities (`predict --probabilities`, `--topn`)")
            out.append(", ".join(facts))
            if row["summary"]:
                out += ["", row["summary"]]
            if row["parameters"]:
                out += [
                    "",
                    "| argument | type | default | set by |",
                    "| --- | --- | --- | --- |",
                ]
                for p in row["parameters"]:
                    default = p["default"] if p["default"] == "(required)" else _code(p["default"])
                    out.append(
                        f"| `{p['name']}` | {_cell(_code(p['type']))} | {_cell(default)} | "
                        f"{_cell(_set_by(kind, p['name']))} |"
                    )
            else:
                out += ["", "No arguments."]
    return "\n".join(out) + "\n"


def main() -> int:
    """Write the reference to stdout (UTF-8); exit 1, after writing, when a key lacks a
    description, naming the keys."""
    text = generate_reference()
    if hasattr(sys.stdout, "buffer"):
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(text)
    problems = {what: keys for what, keys in missing_descriptions().items() if keys}
    for what, keys in problems.items():
        where = "machamp_lite/reference_keys.py"
        print(f"error: {what}: {', '.join(keys)}; edit {where}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
