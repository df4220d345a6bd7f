"""The onnx backend of ``Predictor``: an ONNX export folder (export_onnx.py) run by
onnxruntime behind the interface that ``predict_encoded`` uses of a torch model.

``OnnxModel`` offers what prediction calls: ``encoder.encode_many / input_length / collate``
(the torch encoder's own code, built from the export's tokenizer and the archive's settings
on the meta device, without weights), ``predict(inputs, tasks)``, ``decoders[task].codec``
and the dataset table. So file reading and writing, batching by length and streaming are the
torch backend's own code, and the labels differ only where float32 round-off between the two
runtimes flips a near tie. Decoding runs in numpy: Viterbi for CRF tasks (the torch
decoder's recursion, in float32, first maximum on ties), argmax for the others.
Probabilities (``--probabilities``, ``--topn``, ``--min_confidence``) are not offered: the
export carries no temperatures.

The folder is checked before anything is read, as a model archive is: ``export.json``'s
format and version, every listed file present with its size and SHA-256.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ModelLoadError
from .export_onnx import (
    DECODING,
    ENCODER_FOLDER,
    FORMAT,
    GRAPHS,
    REPORT,
    VERSION,
    require_onnx,
)

BACKENDS = ("torch", "onnx")
DAMAGED = "the export folder is damaged: export the model again"
CONFIDENCE_REFUSAL = (
    "--probabilities, --topn and --min_confidence are not available with the onnx backend "
    "(the export carries no temperatures or CRF marginals); use --backend torch for them"
)


def check_backend_folder(path: str | Path, backend: str) -> None:
    """A model archive given to the onnx backend, or an ONNX export given to the torch one,
    is one error that says which folder the backend wants."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    root = Path(path)
    if backend == "torch" and (root / REPORT).is_file() and not (root / "archive.json").exists():
        raise ConfigError(
            f"{root}: is an export folder (export.json), not a model folder; predict with "
            "--backend onnx (Predictor.load(path, backend='onnx')) for an ONNX export"
        )
    if backend == "onnx" and (root / "archive.json").is_file():
        raise ConfigError(
            f"{root}: is a model folder (archive.json), not an ONNX export; export it first "
            "(machamp-lite export MODEL OUT --format onnx) and give OUT, or use --backend torch"
        )


def read_report(root: Path) -> dict[str, Any]:
    """export.json, checked: an ONNX export of a version this release reads, and every file it
    lists present with its size and SHA-256."""
    from .archive_integrity import _safe_relative, file_sha256, read_json_object

    path = root / REPORT
    if not path.is_file():
        raise ModelLoadError(
            f"{root}: not an ONNX export folder (expected {REPORT}); give the OUT folder of "
            "machamp-lite export MODEL OUT --format onnx"
        )
    report = read_json_object(path, lambda v: True)
    if report.get("format") != FORMAT:
        raise ModelLoadError(
            f"{path}: not an ONNX export (format {report.get('format')!r}); an hf export is "
            "read by Hugging Face transformers, not by machamp-lite's onnx backend"
        )
    if report.get("version") != VERSION:
        raise ModelLoadError(
            f"{path}: export version {report.get('version')!r}; this release reads version "
            f"{VERSION}: export the model again with this release"
        )
    files = report.get("files")
    if not isinstance(files, dict) or not all(
        _safe_relative(name) and isinstance(e, dict) and {"sha256", "size"} <= set(e)
        for name, e in files.items()
    ):
        raise ModelLoadError(f"{path}: its file table is not what machamp-lite writes; {DAMAGED}")
    graphs, encoder, tasks = report.get("graphs"), report.get("encoder"), report.get("tasks")
    if (
        not isinstance(graphs, dict)
        or not all(GRAPHS.get(key) == value and value in files for key, value in graphs.items())
        or not isinstance(encoder, dict)
        or encoder.get("folder") != ENCODER_FOLDER
        or not isinstance(encoder.get("params"), dict)
        or not isinstance(tasks, dict)
        or not isinstance(report.get("dataset_names"), list)
        or DECODING not in files
    ):
        raise ModelLoadError(f"{path}: not what machamp-lite writes there; {DAMAGED}")
    for name, entry in files.items():
        file = root / name
        if not file.is_file():
            raise ModelLoadError(f"{file}: missing ({REPORT} lists it); {DAMAGED}")
        if file.stat().st_size != entry["size"] or file_sha256(file) != entry["sha256"]:
            raise ModelLoadError(
                f"{file}: changed since the export was written (its size or SHA-256 differs "
                f"from the one in {REPORT}); {DAMAGED}"
            )
    for file in sorted((root / ENCODER_FOLDER).rglob("*")):
        name = file.relative_to(root).as_posix()
        if file.is_file() and name not in files and not file.name.startswith("."):
            raise ModelLoadError(
                f"{file}: not part of the export ({REPORT} does not list it), and a file in "
                f"{ENCODER_FOLDER}/ can change how the tokenizer loads; remove it"
            )
    return report


def viterbi(emissions: np.ndarray, length: int, crf: dict[str, np.ndarray]) -> list[int]:
    """The best tag path of one sentence's ``[words, tags]`` scores: the torch CRF's
    recursion (float32; the first best on ties), with the constraints already in the scores."""
    if length == 0:
        return []
    em = emissions[:length].astype(np.float32, copy=False)
    to_from = crf["transitions"].T
    score = crf["start"] + em[0]
    pointers = np.empty((length, em.shape[1]), dtype=np.int64)
    for t in range(1, length):
        candidates = score[None, :] + to_from  # [to, from]
        pointers[t] = candidates.argmax(axis=1)
        score = candidates[np.arange(em.shape[1]), pointers[t]] + em[t]
    tag = int((score + crf["end"]).argmax())
    path = [tag]
    for t in range(length - 1, 0, -1):
        tag = int(pointers[t, tag])
        path.append(tag)
    return path[::-1]


def word_encoder(root: Path, settings: dict[str, Any]):
    """The torch encoder of the archive's settings, built on the meta device: its weights take
    no memory and are never read, while its tokenizer, windows and word positions
    (``encode_many``, ``input_length``, ``collate``) are exactly the torch backend's."""
    import torch

    from .archive import _load_encoder_files
    from .registry import encoders

    folder = root / settings["folder"]
    tokenizer, config = _load_encoder_files(folder)
    arguments = dict(settings["params"])
    encoder_class = encoders.get(arguments.pop("type", "transformer"), where="encoder.type")
    arguments.update(transformer_model=str(folder), tokenizer=tokenizer, model_config=config)
    with torch.device("meta"):
        return encoder_class(**arguments, pretrained=False)


class OnnxTask:
    """What prediction asks of a task's decoder: its codec and vocabulary; and the decoding
    that follows the graph's scores."""

    gives_probabilities = False
    drops_entities = False

    def __init__(self, entry: dict[str, Any]):
        from .data.vocabulary import LabelVocabulary
        from .export_onnx import built_in_decoders

        self.kind = entry["decoding"]
        if self.kind not in built_in_decoders():
            raise ModelLoadError(f"{DECODING}: unknown decoding {self.kind!r}; {DAMAGED}")
        # The export accepted only decoders with the built-in one's codec: no plugin needed.
        self.codec = built_in_decoders()[self.kind].codec
        self.vocabulary = LabelVocabulary(entry["labels"])
        self.crf = {
            key: np.asarray(entry[key], dtype=np.float32)
            for key in ("transitions", "start", "end")
            if self.kind == "crf"
        }
        k = len(self.vocabulary.labels)
        shapes = {"transitions": (k, k), "start": (k,), "end": (k,)}
        if any(scores.shape != shapes[key] for key, scores in self.crf.items()):
            raise ValueError(f"CRF scores of other shapes than {k} labels need")

    def decode(self, scores: np.ndarray, lengths: Sequence[int]) -> list:
        labels = self.vocabulary.labels
        if self.kind == "sentence":
            return [labels[i] for i in scores.argmax(axis=-1).tolist()]
        if self.kind == "softmax":
            best = scores.argmax(axis=-1)
            return [[labels[i] for i in row[:n].tolist()] for row, n in zip(best, lengths)]
        return [[labels[i] for i in viterbi(s, n, self.crf)] for s, n in zip(scores, lengths)]


class OnnxModel:
    """An ONNX export behind the part of ``MultiTaskModel``'s interface that prediction uses.
    Its session is called from ``concurrent_batches`` threads at once (onnxruntime's ``run``
    is thread-safe), each batch on one thread."""

    refuses_confidences = CONFIDENCE_REFUSAL

    def __init__(self, root: Path, report: dict[str, Any], graph: str, threads: int):
        import onnxruntime

        self.encoder = word_encoder(root, report["encoder"])
        try:
            decoding = json.loads((root / DECODING).read_text(encoding="utf-8"))
            self.decoders = {task: OnnxTask(decoding[task]) for task in report["tasks"]}
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ModelLoadError(
                f"{root / DECODING}: not what machamp-lite writes there ({error!r}); {DAMAGED}"
            ) from None
        self.dataset_names = list(report["dataset_names"])
        options = onnxruntime.SessionOptions()
        # One thread per run, and as many runs at once as there are threads: two batches side
        # by side on one core each beat one batch split over two (concurrent_batches.py).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.concurrent_batches = max(1, threads)
        path = root / report["graphs"][graph]
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for a bad graph
            raise ModelLoadError(
                f"{path}: onnxruntime cannot load it ({error}); {DAMAGED}"
            ) from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.needs_dataset_ids = "dataset_ids" in self.input_names

    def eval(self) -> OnnxModel:
        return self

    def dataset_index(self, name: str) -> int:
        if name not in self.dataset_names:
            raise ConfigError(
                f"unknown dataset {name!r}; this model knows: {', '.join(self.dataset_names)}"
            )
        return self.dataset_names.index(name)

    def predict(self, inputs: dict, tasks: Sequence[str]) -> dict[str, list]:
        feed = {}
        for name in self.input_names:
            value = inputs.get(name)
            if value is None:  # token types of sentences that are not pairs
                value = np.zeros(tuple(inputs["input_ids"].shape), dtype=np.int64)
            else:
                value = value.numpy()
            feed[name] = value.astype(np.int64) if value.dtype == np.int32 else value
        scores = self.session.run(list(tasks), feed)
        lengths = inputs["word_mask"].sum(dim=1).tolist()
        return {t: self.decoders[t].decode(s, lengths) for t, s in zip(tasks, scores)}


def load_onnx(path: str | Path, device: str | None, graph: str | None):
    """(model, params, datasets) of an ONNX export folder, checked first; ``graph`` is
    ``fp32`` (default) or ``int8``. The session uses torch's thread count (``--threads``)."""
    import torch

    from .archive import read_json_object

    require_onnx()
    if device not in (None, "cpu"):
        raise ConfigError(
            f"--device {device}: the onnx backend runs on the CPU only (onnxruntime's CPU "
            "provider); leave --device out, or use --backend torch"
        )
    root = Path(path)
    report = read_report(root)
    graph = graph or "fp32"
    if graph not in GRAPHS:
        raise ConfigError(f"onnx graph {graph!r}: choose one of {', '.join(GRAPHS)}")
    if graph not in report["graphs"]:
        raise ConfigError(
            f"{root}: holds no {graph} graph (it has: {', '.join(report['graphs'])}); export "
            "again with --int8 for the quantized one"
        )
    model = OnnxModel(root, report, graph, torch.get_num_threads())
    params = read_json_object(root / "params.json", lambda v: True)
    datasets = read_json_object(root / "datasets.json", lambda v: True)
    return model, params, datasets
