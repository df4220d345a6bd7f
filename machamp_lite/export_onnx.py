"""``machamp-lite export MODEL OUT --format onnx [--int8]``: a trained model as one ONNX graph
for onnxruntime, plus what prediction needs beside it.

The graph holds everything with weights: the encoder (subwords to word vectors, with its
pooling of subwords into words, layer mixes and dataset embeddings when the model has them)
and every task's scoring layer (``Decoder.logits``). Its axes (rows of windows, their width,
sentences, words) are dynamic. What follows the scores is cheap and branchy, so it stays
outside the graph in numpy (onnx_backend.py): a CRF task's Viterbi search with the transition,
start and end scores saved in ``decoding.json`` (BIO constraints already applied, as the torch
decoder applies them), and the argmax of softmax and sentence-classification tasks. Tasks
whose decoding is more than that (dependency trees, edit scripts, segmentation, ...) are
refused by name rather than exported half-way.

``OUT`` holds ``model.onnx`` (float32), ``model.int8.onnx`` with ``--int8`` (onnxruntime's
dynamic quantization of the MatMul weights), ``encoder/`` (tokenizer and encoder config, to
build the same subwords and windows), the archive's ``params.json``, ``datasets.json`` and
``vocabularies.json``, ``decoding.json``, and ``export.json``, which describes the graph and
lists every file with its SHA-256 and size as an archive's manifest does. It is written under
a temporary sibling name, checked by running the graph against the torch model, and renamed
at the end, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import ConfigError
from .onnx_int8 import QUANTIZATION as QUANTIZATION
from .onnx_int8 import float_layer_nodes as float_layer_nodes
from .onnx_int8 import write_int8_graph

if TYPE_CHECKING:
    from .decoders.base import Decoder

GRAPHS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
ENCODER_FOLDER = "encoder"
DECODING = "decoding.json"
REPORT = "export.json"
FORMAT = "machamp-lite export onnx"
VERSION = 1
COPIED = ("params.json", "datasets.json", "vocabularies.json")
OPSET = 17
# How far the graph's scores may drift from the torch model's (float32 round-off only).
TOLERANCE = 1e-3
INSTALL = 'pip install "machamp-lite[onnx]"'
# The graph's inputs: the encoder's collate output, under the same names, with dynamic axes.
AXES = {
    "input_ids": {0: "rows", 1: "width"},
    "attention_mask": {0: "rows", 1: "width"},
    "token_type_ids": {0: "rows", 1: "width"},
    "word_index": {0: "batch", 1: "words"},
    "word_mask": {0: "batch", 1: "words"},
    "mean_src": {0: "pieces"},
    "mean_dst": {0: "pieces"},
    "dataset_ids": {0: "batch"},
}


def require_onnx() -> None:
    """onnx and onnxruntime are an optional extra: without them, one error naming the fix."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"ONNX export and the onnx backend need the packages onnx and onnxruntime "
            f"({error}); install them with: {INSTALL}"
        ) from None


def run_onnx_export(args: argparse.Namespace) -> None:
    """The ``export --format onnx`` command."""
    if args.task is not None or args.encoder_only:
        raise ConfigError(
            "--task and --encoder_only belong to --format hf; an ONNX export holds every task"
        )
    report = export_onnx(
        args.model_dir,
        args.output_dir,
        args.int8,
        args.plugins,
        calibration=args.calibration or (),
        calibration_dataset=args.calibration_dataset,
    )
    out = Path(args.output_dir)
    for name, graph in report["graphs"].items():
        print(f"{name} graph written to {out / graph}", file=sys.stderr)
    tasks = ", ".join(f"{t} ({spec['decoding']})" for t, spec in report["tasks"].items())
    print(f"tasks: {tasks}", file=sys.stderr)


def built_in_decoders() -> dict[str, type[Decoder]]:
    """The decoder class of each decoding the onnx backend does outside the graph."""
    from .decoders.classification import SentenceClassifier
    from .decoders.crf_tagger import CrfTagger
    from .decoders.softmax_tagger import SoftmaxTagger

    return {"crf": CrfTagger, "softmax": SoftmaxTagger, "sentence": SentenceClassifier}


def task_decoding(model, task_types: dict[str, str]) -> dict[str, str]:
    """How each task is decoded outside the graph: ``crf``, ``softmax`` or ``sentence``
    (a built-in decoder whose decode is exactly that); any other task is one error naming it."""
    kinds, refused = {}, []
    for name, decoder in model.decoders.items():
        # A subclass counts only while it scores, decodes and reads labels as the built-in one.
        found = [
            kind
            for kind, base in built_in_decoders().items()
            if isinstance(decoder, base)
            and type(decoder).decode is base.decode
            and type(decoder).logits is base.logits
            and type(decoder.codec) is type(base.codec)
        ]
        if found:
            kinds[name] = found[0]
        else:
            refused.append(f"{name} ({task_types.get(name, type(decoder).__name__)})")
    if refused:
        raise ConfigError(
            f"cannot export to ONNX: task(s) {', '.join(refused)} decode with more than a CRF, "
            "a softmax or a sentence classifier over their scores (trees, edit scripts, "
            "segmentation, ...), which the onnx backend does not do; only seq, seq_bio and "
            "classification tasks export. Use the torch backend for this model"
        )
    return kinds


def export_onnx(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    int8: bool = False,
    allow_plugins: Iterable[str] = (),
    calibration: Sequence[str] = (),
    calibration_dataset: str | None = None,
) -> dict[str, Any]:
    """Export the model folder ``model_dir`` to ``output_dir`` (see the module's docstring);
    returns what ``export.json`` holds. ``calibration``: files of sentences in the format of
    ``calibration_dataset`` (needed only when the model has several datasets) on which the
    int8 graph's feed-forward layers are smoothed (onnx_int8.py)."""
    from .archive import failed_write, load_archive
    from .export_hf import ExportError, _failed, check_output

    require_onnx()
    source, target = Path(model_dir), Path(output_dir)
    check_output(target, source)
    model, params, datasets, _, tasks = load_archive(source, "cpu", allow_plugins)
    kinds = task_decoding(model, {name: spec.task_type for name, spec in tasks.items()})
    sentences = calibration_sentences(datasets, calibration, calibration_dataset, int8)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    except OSError as error:
        raise ExportError(_failed(target, error)) from None
    try:
        report = write_export(model, params, tasks, kinds, source, tmp, int8, sentences)
        os.replace(tmp, target)  # onto a missing or empty folder only
    except BaseException as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if failed_write(error):
            raise ExportError(_failed(target, error)) from None
        raise
    return report


def calibration_sentences(datasets, paths, dataset_name, int8: bool) -> list:
    """The sentences of the ``--calibration`` files, read with the named dataset's settings
    (the model's only dataset by default); [] without files."""
    from .int8_smoothing import read_calibration

    if not paths:
        return []
    if not int8:
        raise ConfigError("--calibration goes with --int8: it calibrates the int8 graph")
    if dataset_name is None and len(datasets) == 1:
        dataset_name = next(iter(datasets))
    if dataset_name not in datasets:
        raise ConfigError(
            f"--calibration_dataset: name the dataset whose format the calibration files are "
            f"in, one of {', '.join(sorted(datasets))}"
            + (f" (got {dataset_name!r})" if dataset_name is not None else "")
        )
    return read_calibration(list(paths), datasets[dataset_name])


def write_export(
    model, params, tasks, kinds, source: Path, folder: Path, int8: bool, calibration=()
) -> dict:
    """Every file of the export into ``folder``, checked; returns the report it wrote."""
    from . import __version__
    from .config import write_json
    from .permissions import apply_umask

    encoder = model.encoder
    inputs = graph_inputs(model)
    names = list(kinds)
    write_graph(model, names, inputs, folder / GRAPHS["fp32"])
    check_graph(model, names, folder / GRAPHS["fp32"])
    graphs = {"fp32": GRAPHS["fp32"]}
    quantization = None
    if int8:
        graph_io = (
            lambda m, path: write_graph(m, names, inputs, path),
            lambda m, path: check_graph(m, names, path),
        )
        quantization = write_int8_graph(
            model, folder, GRAPHS["fp32"], GRAPHS["int8"], calibration, graph_io
        )
        graphs["int8"] = GRAPHS["int8"]
    encoder.transformer.config.save_pretrained(folder / ENCODER_FOLDER)
    encoder.save_tokenizer(folder / ENCODER_FOLDER)
    for name in COPIED:
        shutil.copyfile(source / name, folder / name)
    write_json(folder / DECODING, {t: decoding_entry(model.decoders[t], kinds[t]) for t in names})
    report: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "written_by": f"machamp-lite {__version__}",
        "source": str(source.resolve()),
        "graphs": graphs,
        "quantization": quantization,
        "inputs": inputs,
        "outputs": names,
        # The archive's encoder settings: the onnx backend builds the same encoder from them
        # (without weights) for the same subwords, windows and word positions.
        "encoder": {"folder": ENCODER_FOLDER, "params": params["encoder"]},
        "dataset_names": list(model.dataset_names),
        "tasks": {
            t: {
                "task_type": tasks[t].task_type,
                "decoding": kinds[t],
                "datasets": tasks[t].datasets,
            }
            for t in names
        },
        "files": file_table(folder),
    }
    write_json(folder / REPORT, report)
    apply_umask(folder)
    return report


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` but the report, with its SHA-256 and size."""
    from .archive_integrity import file_sha256

    table = {}
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = file.relative_to(folder).as_posix()
        if name != REPORT:
            table[name] = {"sha256": file_sha256(file), "size": file.stat().st_size}
    return table


def graph_inputs(model) -> list[str]:
    """The graph's input names, in order: what the encoder's collate gives that the model
    reads (``word_mask`` only where dataset embeddings need it, ``mean_src``/``mean_dst`` for
    mean pooling, ``token_type_ids`` for an encoder with token types), and ``dataset_ids``."""
    names = ["input_ids", "attention_mask", "word_index"]
    if model.encoder.uses_token_types:
        names.append("token_type_ids")
    encoder = model.encoder
    probe = encoder.collate(encoder.encode_many([["probe"]]), 1 << 30)
    names += [name for name in ("mean_src", "mean_dst") if name in probe]  # mean pooling
    if model.needs_dataset_ids:
        names += ["word_mask", "dataset_ids"]
    return names


class ScoringGraph(torch.nn.Module):
    """The model from the collated inputs (positionally, in ``input_names`` order) to each
    task's scores: what is traced into the ONNX graph."""

    def __init__(self, model, tasks: list[str], input_names: list[str]):
        super().__init__()
        self.model = model
        self.tasks = tasks
        self.input_names = input_names

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs = dict(zip(self.input_names, tensors))
        if "word_mask" not in inputs:  # read by nothing in the graph; the shape stands in
            inputs["word_mask"] = torch.ones_like(inputs["word_index"], dtype=torch.bool)
        vectors, mask = self.model.task_vectors(inputs, self.tasks)
        return tuple(self.model.decoders[t].logits(vectors[t], mask) for t in self.tasks)


def probe_inputs(model, names: list[str]) -> dict[str, torch.Tensor]:
    """Collated inputs of three sentences of different lengths (no axis of size 1, so that
    tracing keeps every axis general), with zeros for token types and dataset ids."""
    encoder = model.encoder
    sentences = [["probe"] * 7, ["probe", "sentence", "."], ["probe"] * 5]
    inputs = encoder.collate(encoder.encode_many(sentences), 1 << 30)
    inputs.pop("max_tokens")
    if "token_type_ids" in names and "token_type_ids" not in inputs:
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    if "dataset_ids" in names:
        inputs["dataset_ids"] = torch.zeros(len(sentences), dtype=torch.long)
    return {name: inputs[name] for name in names}


def _scatter_mean(encoder):
    """The encoder's mean pooling (``_gather_words`` for ``mean``) in operations that ONNX
    carries: the TorchScript exporter writes ``index_add`` as a scatter that keeps one of
    several values for the same word instead of their sum, and has no ``bincount``; a
    ``scatter_add`` sums. Other pooling modes use the encoder's own method unchanged. The
    graph check (``check_graph``) compares the result with the torch model's."""
    original = encoder._gather_words

    def gather(states: list[torch.Tensor], inputs: dict) -> torch.Tensor:
        if "mean_src" not in inputs:
            return original(states, inputs)
        batch, words = inputs["word_index"].shape
        flats = [state.reshape(-1, state.shape[-1]) for state in states]
        picked = torch.cat([flat.index_select(0, inputs["mean_src"]) for flat in flats], dim=-1)
        slots = inputs["mean_dst"].unsqueeze(-1)
        summed = picked.new_zeros(batch * words, picked.shape[-1])
        summed = summed.scatter_add(0, slots.expand(-1, picked.shape[-1]), picked)
        ones = picked.new_ones(picked.shape[0], 1)
        counts = picked.new_zeros(batch * words, 1).scatter_add(0, slots, ones).clamp(min=1)
        return (summed / counts).view(batch, words, -1)

    return gather


def write_graph(model, tasks: list[str], names: list[str], path: Path) -> None:
    """Trace the model into ``path`` with TorchScript's exporter (the torch.export one needs
    onnxscript, which is not part of the extra); its warnings about tracing are expected."""
    encoder = model.encoder
    graph = ScoringGraph(model, tasks, names).eval()
    probe = probe_inputs(model, names)
    axes = {name: AXES[name] for name in names}
    for task, decoder in model.decoders.items():
        level = decoder.codec.level
        axes[task] = {0: "batch", 1: "words"} if level == "token" else {0: "batch"}
    encoder._gather_words = _scatter_mean(encoder)  # the instance's, for the trace only
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                tuple(probe[name] for name in names),
                str(path),
                input_names=names,
                output_names=tasks,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as error:  # the exporter raises many kinds for an unsupported operation
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ConfigError(
            f"cannot export this model to ONNX ({type(error).__name__}: {reason}); use the "
            "torch backend for it"
        ) from None
    finally:
        del encoder._gather_words


def check_graph(model, tasks: list[str], path: Path) -> None:
    """The written graph gives the torch model's scores on sentences other than the trace's
    (other batch size, other lengths, a sentence in windows), else the export fails."""
    import numpy as np
    import onnxruntime

    from .export_hf import ExportError

    encoder = model.encoder
    limit = min(
        int(getattr(model.encoder.transformer.config, "max_position_embeddings", 512)), 4096
    )
    long_sentence = ["check"] * (limit + 5)  # more subwords than any window holds
    sentences = [["check", "sentence"], long_sentence, ["a", "b", "c", "d"], ["x"]]
    inputs = encoder.collate(encoder.encode_many(sentences), 1 << 30)
    inputs.pop("max_tokens")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if "token_type_ids" in names and "token_type_ids" not in inputs:
        inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    if "dataset_ids" in names:
        inputs["dataset_ids"] = torch.zeros(len(sentences), dtype=torch.long)
    scores = session.run(tasks, {name: inputs[name].numpy() for name in names})
    with torch.no_grad():
        expected = ScoringGraph(model, tasks, names).eval()(*(inputs[n] for n in names))
    for task, got, want in zip(tasks, scores, expected):
        mask = inputs["word_mask"].numpy() if got.ndim == 3 else np.ones(got.shape[0], bool)
        drift = float(np.abs(got - want.numpy())[mask].max()) if got.shape == want.shape else -1
        if not 0 <= drift <= TOLERANCE:
            raise ExportError(
                f"the ONNX graph does not reproduce task {task!r}'s scores (difference "
                f"{drift:.3g}); nothing was written. Use the torch backend for this model"
            )


def decoding_entry(decoder, kind: str) -> dict[str, Any]:
    """What decoding ``kind`` needs outside the graph: the labels and, for a CRF, its scores
    with the BIO constraints applied exactly as its Viterbi applies them."""
    entry: dict[str, Any] = {"decoding": kind, "labels": list(decoder.vocabulary.labels)}
    if kind == "crf":
        from .modules.crf import _penalised

        crf = decoder.crf
        entry["transitions"] = _penalised(crf.transitions, crf.allowed_transitions).tolist()
        entry["start"] = _penalised(crf.start_transitions, crf.allowed_start).tolist()
        entry["end"] = _penalised(crf.end_transitions, crf.allowed_end).tolist()
    return entry
