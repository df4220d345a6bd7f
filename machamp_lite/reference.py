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

# One line per key of a dataset config (config_datasets.py: DATASET_KEYS).
DATASET_DESCRIPTIONS = {
    "train_data_path": "Training file, or a list of files read as their union. Relative paths "
    "resolve against `--data_dir`, else `$MACHAMP_DATA_DIR`, else the working directory.",
    "dev_data_path": "Development file(s), predicted after every epoch for model selection; "
    "without one, the last epoch is kept. MaChAmp's `validation_data_path` is read as this key.",
    "word_idx": "Column of the word (counted from 0). For CoNLL-U the default 0 means FORM (1).",
    "tasks": "The dataset's tasks: `{task name: task config}` (see Task keys). Datasets that "
    "share a task name share its decoder.",
    "reader": "A registered reader (see Readers). Unset: `conllu` for `.conllu` files, "
    "`sentence_tsv` when every task is sentence-level, `conllu` for a file whose content is "
    "CoNLL-U (ten tab-separated columns, words numbered from 1), else `column`.",
    "separator": '`"whitespace"` (any run of spaces or tabs) or `"tab"` (fields may hold spaces).',
    "encoding": "Text encoding of the files, e.g. `latin-1`; a UTF-8 byte-order mark is dropped.",
    "comment_regex": "Lines matching it before a sentence are comments, kept in the output. "
    "Unset: MultiCoNER, CoNLL-U and GermEval comment lines.",
    "max_sents": "Train on the first N sentences of each training file only (-1: all).",
    "max_words": "Train on the first sentences of each training file that hold at most N words "
    "together (-1: all); after `max_sents`. Word-level tasks only (as in MaChAmp).",
    "skip_first_line": "The first line of each file is a header row, not data (MaChAmp's key).",
    "max_dev_sents": "Score the first N sentences of each dev file only (-1: all).",
    "plugins": "Python modules to import before the dataset is read, so that they can register "
    "components (readers, decoders, metrics).",
    "sent_idxs": "Text columns of the `sentence_tsv` reader, joined and split on whitespace into "
    "words. Unset: the reader's default `[0]`.",
}

# One line per key of a task config that the library reads (config_datasets.py: TASK_KEYS).
TASK_DESCRIPTIONS = {
    "task_type": "A registered decoder (see Decoders), e.g. `seq`, `seq_bio`, `classification`.",
    "column_idx": "Column of the label; negative counts from the end of the line (-1: last).",
    "metric": "A registered metric (see Metrics) whose `score` counts for model selection. "
    "Unset: the decoder's default metric. An unknown name fails when the config is read.",
    "loss_weight": "Factor of this task's loss in the summed loss (default 1.0); a finite number "
    "of at least 0.",
    "allow_negative_loss_weight": "Set to `true` to allow a negative `loss_weight` (gradient "
    "reversal); without it a negative weight is refused as a likely typo.",
}

# One line per dotted key of the parameter config (default_params.json); the tests fail when
# a key has none, so a new key gets its description here.
PARAM_DESCRIPTIONS = {
    "transformer_model": "The encoder: a Hugging Face hub name (must be cached when offline), a "
    "local folder written by `save_pretrained`, or `python-package:PKG/dir` for a model folder "
    "inside an installed Python package.",
    "random_seed": "Seed of Python, NumPy and torch; `train --seed` overrides it.",
    "plugins": "Python modules to import before the model is built, so that they can register "
    "components.",
    "encoder.type": "A registered encoder (see Encoders).",
    "encoder.max_input_length": "Subwords per encoder window, special tokens included (capped by "
    "the model's position limit). Longer sentences are split into overlapping windows.",
    "encoder.pooling": "How a word's subword vectors become one vector: `first`, `last` or `mean`.",
    "encoder.dropout": "Dropout on the word vectors the encoder passes to the decoders.",
    "encoder.window_overlap": "Fraction of a window shared with the next one when a sentence is "
    "longer than `max_input_length`.",
    "encoder.freeze_embeddings": "Do not train the input (subword) embedding matrix, most of a "
    "multilingual encoder's weights: saves its gradient and optimizer state. Position "
    "embeddings and all transformer layers still train. On by default: on multilingual-e5-small "
    "it trained 1.3x faster in 1.2 GB less memory with the same dev F1 (docs/performance.md); "
    "the paper's configs turn it off, as the paper trained every weight.",
    "encoder.gradient_checkpointing": "Recompute each layer's activations in the backward "
    "pass instead of storing them: much less GPU memory for about a third more compute.",
    "decoder.dropout": "Dropout inside every decoder that has a `dropout` argument, unless the "
    "task sets its own `dropout`.",
    "batching.batch_size": "Most sentences in a training batch.",
    "batching.max_tokens": "Most padded subword positions (sentences x longest) in a training "
    "batch; a longer sentence gets a batch of its own, whose windows go through the encoder at "
    "most this many positions at a time.",
    "batching.sampling_smoothing": "MaChAmp's dataset smoothing: each dataset's share of an "
    "epoch's batches is proportional to size**alpha; 1.0 uses every batch of every dataset once.",
    "training.num_epochs": "Training epochs; the epoch with the best summed dev score is kept.",
    "training.optimizer.type": 'The optimizer; only `"adamw"` is available.',
    "training.optimizer.lr": "Learning rate of the (pretrained) encoder.",
    "training.optimizer.decoder_lr": "Learning rate of the decoders (new layers); null or 0: `lr`.",
    "training.optimizer.weight_decay": "AdamW weight decay (not applied to biases and layer "
    "norms).",
    "training.optimizer.betas": "AdamW betas.",
    "training.optimizer.eps": "AdamW epsilon.",
    "training.learning_rate_scheduler.type": "`linear` (warmup, then linear decay to 0), "
    "`slanted_triangular` or `constant`.",
    "training.learning_rate_scheduler.warmup_fraction": "`linear`: fraction of all steps spent "
    "warming up.",
    "training.learning_rate_scheduler.cut_frac": "`slanted_triangular`: fraction of all steps "
    "spent rising.",
    "training.learning_rate_scheduler.ratio": "`slanted_triangular`: peak rate / lowest rate.",
    "training.grad_clip": "Clip the gradient norm to this value; 0 or null: no clipping.",
    "training.train_metrics": "Also score the training batches (decoding each one, Viterbi for a "
    "CRF); off by default because it costs time and trains nothing.",
    "training.accumulation_steps": "Batches per optimizer step (per process); their gradients "
    "are combined, weighted by sentences, as if they were one big batch.",
    "training.memory_budget_gb": "Memory budget in GB (peak GPU memory reserved, or peak RSS on "
    "CPU): warn before training when weights, gradients and AdamW state exceed it, and after the "
    "first optimizer step when the measured peak passes 90% of it; null: no check. "
    "`train --memory_budget_gb` sets it.",
    "training.precision": "Forward-pass precision: `fp32`, `bf16` or `fp16` (mixed precision; "
    "losses and the CRF stay in fp32).",
    "prediction.batch_size": "Most sentences in a prediction batch (dev scoring and `predict`).",
    "prediction.max_tokens": "Most padded subword positions in a prediction batch, and in one "
    "encoder call: a longer sentence's windows are encoded in chunks of at most this size.",
    "prediction.chunk_sentences": "Sentences that `predict` reads, predicts and writes at a time, "
    "so a file of any size is labelled in bounded memory.",
}

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
        row["level"] = component.codec.level
        row["default_metric"] = getattr(component, "default_metric", None)
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
                head += f"  [{row['level']} level, default metric {row['default_metric']}]"
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
        print(f"error: {what}: {', '.join(keys)}; edit machamp_lite/reference.py", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
