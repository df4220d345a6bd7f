"""``machamp-lite export MODEL OUT --format hf``: a trained model as plain Hugging Face folders.

``OUT/encoder`` is the fine-tuned encoder with its tokenizer (``AutoModel`` and
``AutoTokenizer`` load it), so the encoder can be reused by any tool that reads Hugging Face
folders. For a word-labelling task whose decoder is one linear layer (softmax, or a CRF whose
transitions are then dropped), ``OUT/token_classification`` is an
``AutoModelForTokenClassification`` with that layer as its classifier and the task's labels in
``config.json``, for a ``transformers`` token-classification pipeline. ``OUT/export.json``
says what was exported from where, and what the exported models do differently.

What would make the exported classifier label words differently from machamp-lite for most
sentences is refused with one error (a layer mix, dataset embeddings, mean pooling, a decoder
that does more than a linear layer); what changes only some outputs is reported as a note.
OUT is written under a temporary sibling name, checked by loading it back, and renamed at the
end, so a failure leaves nothing half-written, and a folder that holds anything is never used.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, MachampError

ENCODER_FOLDER = "encoder"
TOKEN_CLASSIFICATION_FOLDER = "token_classification"
REPORT = "export.json"
FORMATS = ("hf", "onnx")
# How far the reloaded export may drift from the model in memory (float32 round-off only).
TOLERANCE = 1e-4

CRF_NOTE = (
    "task {task!r} decodes with a CRF in machamp-lite; the exported classifier carries its "
    "emission layer only, so the pipeline takes each word's best label on its own (no "
    "transition scores, no BIO constraint). Labels can differ, and an I- label may follow O; "
    "docs/export.md measures the cost (span F1 0.49 to 0.19 for a briefly trained model)"
)
LAST_NOTE = (
    "the encoder pools each word's last subword; read the label of each word's last subword "
    "(aggregation_strategy none): the pipeline's first/max/average strategies read others"
)
COMMON_NOTES = (
    "sentences longer than the encoder's input limit ({limit} subwords) are read by "
    "machamp-lite in overlapping windows; Hugging Face truncates them (or, with stride, "
    "uses its own chunks), so their labels can differ",
    "a word without any subword (e.g. a zero-width space) gets the unknown token in "
    "machamp-lite and no label from the pipeline",
    "pooler_output of the exported encoder is not trained (machamp-lite never uses the "
    "pooler); use last_hidden_state",
)


class ExportError(MachampError):
    """The export could not be written; nothing was left at the output path."""


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", help="the model folder (RUN/model)")
    parser.add_argument(
        "output_dir",
        help="a new (or empty) folder: OUT/encoder, OUT/token_classification, OUT/export.json",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="hf",
        help="hf: Hugging Face folders (AutoModel, AutoModelForTokenClassification); onnx: one "
        "ONNX graph of the encoder and every task's scores, for predict --backend onnx",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="with --format onnx: also write model.int8.onnx, the MatMul weights quantized to int8",
    )
    parser.add_argument(
        "--calibration",
        nargs="+",
        metavar="FILE",
        default=None,
        help="with --int8: files of sentences in the model's dataset format (its training data, "
        "say; up to 1,000 sentences are read) on which the feed-forward layers are smoothed "
        "before quantization, which keeps the int8 F1 closer to float32 (docs/performance.md)",
    )
    parser.add_argument(
        "--calibration_dataset",
        default=None,
        help="the dataset whose format the --calibration files are in (needed when the model "
        "has several)",
    )
    parser.add_argument(
        "--task",
        default=None,
        help="the word-labelling task to export as a token classifier (needed when the model "
        "has several)",
    )
    parser.add_argument(
        "--encoder_only",
        action="store_true",
        help="export the encoder and tokenizer only, no token classifier",
    )


def run_export(args: argparse.Namespace) -> None:
    if args.format == "onnx":
        from .export_onnx import run_onnx_export

        return run_onnx_export(args)
    if args.int8:
        raise ConfigError("--int8 quantizes an ONNX export; give it with --format onnx")
    report = export_hf(
        args.model_dir,
        args.output_dir,
        task=args.task,
        encoder_only=args.encoder_only,
        allow_plugins=args.plugins,
    )
    out = Path(args.output_dir)
    print(f"encoder written to {out / ENCODER_FOLDER}", file=sys.stderr)
    head = report.get("token_classification")
    if head:
        print(
            f"task {head['task']!r} written to {out / TOKEN_CLASSIFICATION_FOLDER} "
            f"({len(head['labels'])} labels)",
            file=sys.stderr,
        )
    for note in report["notes"]:
        print(f"note: {note}", file=sys.stderr)


def check_output(target: Path, model_dir: Path) -> None:
    """The output is a new folder, or an empty one: never a user's file or folder with content,
    and never inside the model folder (it would change what the model folder holds)."""
    if target.name in ("", ".", ".."):
        raise ConfigError(f"{str(target)!r}: give the export a new folder name, e.g. model-hf")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ConfigError(f"{target}: exists and is not a folder; give a new folder name")
    if target.is_dir() and any(target.iterdir()):
        raise ConfigError(
            f"{target}: the folder is not empty; give a new folder name (an export never "
            "overwrites anything)"
        )
    resolved, model = target.resolve(), model_dir.resolve()
    if resolved == model or model in resolved.parents:
        raise ConfigError(f"{target}: is inside the model folder {model_dir}; export elsewhere")


def label_head(decoder: torch.nn.Module) -> str | None:
    """``softmax`` or ``crf`` when the decoder labels each word from one linear layer over its
    word vector, as the built-in softmax and CRF taggers do (a subclass that decodes otherwise
    does not count); None for anything else."""
    from .decoders.crf_tagger import CrfTagger
    from .decoders.softmax_tagger import SoftmaxTagger

    if not isinstance(getattr(decoder, "projection", None), torch.nn.Linear):
        return None
    if isinstance(decoder, CrfTagger) and type(decoder).decode is CrfTagger.decode:
        return "crf"
    if isinstance(decoder, SoftmaxTagger) and type(decoder).decode is SoftmaxTagger.decode:
        return "softmax"
    return None


def choose_task(model, task_types: dict[str, str], wanted: str | None) -> str | None:
    """The task to export as a token classifier: ``wanted`` (``--task``), else the model's only
    word-labelling task with a linear head; None when it has none."""
    heads = {name: label_head(decoder) for name, decoder in model.decoders.items()}
    candidates = [name for name, head in heads.items() if head]
    if wanted is not None:
        if wanted not in heads:
            raise ConfigError(
                f"--task {wanted}: the model has no such task; it has: {', '.join(heads)}"
            )
        if not heads[wanted]:
            raise ConfigError(
                f"--task {wanted}: a {task_types[wanted]!r} task cannot be a token classifier; "
                "only a `seq` or `seq_bio` task (a linear layer per word) can; "
                f"word-labelling tasks here: {', '.join(candidates) or 'none'}"
            )
        return wanted
    if len(candidates) > 1:
        raise ConfigError(
            f"the model has several tasks that could be a token classifier "
            f"({', '.join(candidates)}); name one with --task NAME, or pass --encoder_only"
        )
    return candidates[0] if candidates else None


def carry_problems(model, params: dict[str, Any], task: str) -> list[str]:
    """Why ``task`` cannot become a token classifier that labels words as machamp-lite does
    (empty when it can)."""
    problems = []
    mode = params.get("encoder", {}).get("pooling", "first")
    if mode not in ("first", "last"):
        problems.append(
            f"encoder.pooling is {mode!r}: machamp-lite averages subword vectors before the "
            "classifier, which a token-classification model cannot do"
        )
    if task in getattr(model, "task_layers", {}):
        problems.append(
            f"task {task!r} reads layers {model.task_layers[task]} (layers_to_use), not the "
            "last layer alone, which is all an AutoModelForTokenClassification passes on"
        )
    if getattr(model, "input_embedding", None) is not None:
        problems.append(
            "the model adds dataset embeddings to the encoder's input (dataset_embed_idx), "
            "which a plain Hugging Face model has no place for"
        )
    if task in getattr(model, "decoder_embedded_tasks", ()):
        problems.append(
            f"task {task!r} reads a dataset embedding beside each word vector "
            "(dec_dataset_embed_idx)"
        )
    projection = model.decoders[task].projection
    if projection.in_features != model.encoder.output_dim:
        problems.append(
            f"task {task!r}'s layer reads {projection.in_features} features per word, the "
            f"encoder gives {model.encoder.output_dim}"
        )
    return problems


def export_hf(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    task: str | None = None,
    encoder_only: bool = False,
    allow_plugins: Iterable[str] = (),
) -> dict[str, Any]:
    """Export the model folder ``model_dir`` to ``output_dir`` (see the module's docstring);
    returns what ``export.json`` holds."""
    from .archive import load_archive

    source, target = Path(model_dir), Path(output_dir)
    check_output(target, source)
    if encoder_only and task is not None:
        raise ConfigError("--task and --encoder_only exclude each other; give one")
    model, params, datasets, _, tasks = load_archive(source, "cpu", allow_plugins)
    types = {name: spec.task_type for name, spec in tasks.items()}
    chosen = None if encoder_only else choose_task(model, types, task)
    if chosen is not None:
        problems = carry_problems(model, params, chosen)
        if problems:
            raise ConfigError(
                f"task {chosen!r} cannot be exported as a token classifier that labels words as "
                "machamp-lite does: " + "; ".join(problems) + ". Pass --encoder_only to export "
                "the encoder alone"
            )
    report = describe(source, model, params, tasks, chosen)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    except OSError as error:
        raise ExportError(_failed(target, error)) from None
    try:
        write_folders(model, chosen, tmp)
        verify(model, chosen, tmp)
        from .config import write_json
        from .permissions import apply_umask

        write_json(tmp / REPORT, report)
        apply_umask(tmp)
        os.replace(tmp, target)  # onto a missing or empty folder only
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        from .archive import failed_write

        if failed_write(error):
            raise ExportError(_failed(target, error)) from None
        raise
    return report


def _failed(target: Path, error: BaseException) -> str:
    from .errors import write_failure_reason

    return (
        f"{target}: cannot write the export ({write_failure_reason(error, target.parent)}); "
        "nothing was written there. Free disk space or choose another folder and try again"
    )


def describe(source: Path, model, params: dict, tasks: dict, chosen: str | None) -> dict:
    """What ``export.json`` says: the source, the folders, the task and the notes."""
    from . import __version__

    encoder = params.get("encoder", {})
    limit = encoder.get("max_input_length", 512)
    notes = [note.format(limit=limit) for note in COMMON_NOTES]
    if getattr(model, "input_embedding", None) is not None:
        notes.append(
            "the model's dataset embeddings (added to the encoder's input) are not part of "
            "the exported encoder; its hidden states are those of the encoder without them"
        )
    report: dict[str, Any] = {
        "format": "machamp-lite export hf",
        "written_by": f"machamp-lite {__version__}",
        "source": str(source.resolve()),
        "encoder": ENCODER_FOLDER,
        "token_classification": None,
        "notes": notes,
    }
    if chosen is None:
        return report
    decoder = model.decoders[chosen]
    if label_head(decoder) == "crf":
        notes.insert(0, CRF_NOTE.format(task=chosen))
    mode = encoder.get("pooling", "first")
    if mode == "last":
        notes.insert(0, LAST_NOTE)
    report["token_classification"] = {
        "folder": TOKEN_CLASSIFICATION_FOLDER,
        "task": chosen,
        "task_type": tasks[chosen].task_type,
        "datasets": list(tasks[chosen].datasets),
        "pooling": mode,
        "labels": list(decoder.vocabulary.labels),
    }
    return report


def write_folders(model, chosen: str | None, folder: Path) -> None:
    """The encoder folder, and the token classifier of ``chosen``, each with the tokenizer."""
    encoder = model.encoder
    encoder.transformer.save_pretrained(folder / ENCODER_FOLDER)
    encoder.save_tokenizer(folder / ENCODER_FOLDER)
    if chosen is None:
        return
    classifier = token_classifier(model, chosen)
    classifier.save_pretrained(folder / TOKEN_CLASSIFICATION_FOLDER)
    encoder.save_tokenizer(folder / TOKEN_CLASSIFICATION_FOLDER)


def token_classifier(model, task: str):
    """An ``AutoModelForTokenClassification`` whose body is the trained encoder and whose
    classifier is ``task``'s linear layer, with the task's labels in its config."""
    from transformers import AutoModelForTokenClassification

    transformer = model.encoder.transformer
    decoder = model.decoders[task]
    labels = list(decoder.vocabulary.labels)
    config = copy.deepcopy(transformer.config)
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: i for i, label in enumerate(labels)}
    config.architectures = None
    try:
        classifier = AutoModelForTokenClassification.from_config(config)
    except (ValueError, KeyError) as error:
        raise ConfigError(
            f"a {config.model_type!r} encoder has no token-classification model in transformers "
            f"({str(error).splitlines()[0]}); export with --encoder_only"
        ) from None
    missing, unexpected = classifier.base_model.load_state_dict(
        transformer.state_dict(), strict=False
    )
    unexpected = [key for key in unexpected if not key.startswith("pooler.")]
    head = getattr(classifier, "classifier", None)
    if missing or unexpected or not isinstance(head, torch.nn.Linear):
        raise ConfigError(
            f"the {type(classifier).__name__} of transformers does not have the layout of this "
            f"encoder plus one linear classifier (missing {sorted(missing)[:3]}, unexpected "
            f"{sorted(unexpected)[:3]}); export with --encoder_only"
        )
    with torch.no_grad():
        head.weight.copy_(decoder.projection.weight)
        head.bias.copy_(decoder.projection.bias)
    return classifier.eval()


@torch.no_grad()
def verify(model, chosen: str | None, folder: Path) -> None:
    """Load the written folders back, as a user will, and check that they give the encoder's
    hidden states and the task's scores on a probe sentence: a transformers version that lays
    a model out differently fails here, before anything is renamed into place."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the untrained pooler's "newly initialized" report
    try:
        _check_reload(model, chosen, folder)
    finally:
        hf_logging.set_verbosity(verbosity)


def _check_reload(model, chosen: str | None, folder: Path) -> None:
    from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

    strict = {"local_files_only": True, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(str(folder / ENCODER_FOLDER), **strict)
    probe = tokenizer(["the export is checked here"], return_tensors="pt")
    inputs = {"input_ids": probe["input_ids"], "attention_mask": probe["attention_mask"]}
    transformer = model.encoder.transformer.eval()
    expected = transformer(**inputs).last_hidden_state
    loaded = AutoModel.from_pretrained(str(folder / ENCODER_FOLDER), **strict).eval()
    _compare(loaded(**inputs).last_hidden_state, expected, folder / ENCODER_FOLDER)
    if chosen is None:
        return
    scores = model.decoders[chosen].projection(expected)
    head_folder = folder / TOKEN_CLASSIFICATION_FOLDER
    classifier = AutoModelForTokenClassification.from_pretrained(str(head_folder), **strict)
    _compare(classifier.eval()(**inputs).logits, scores, head_folder)


def _compare(got: torch.Tensor, expected: torch.Tensor, where: Path) -> None:
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=TOLERANCE):
        raise ExportError(
            f"{where.name}: loaded back, the exported model does not reproduce machamp-lite's "
            "outputs (a transformers version that stores this model differently?); nothing "
            "was written. Export with another transformers version, or report it"
        )
