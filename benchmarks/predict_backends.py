"""The prediction backends that the train-and-predict benchmark measures on its trained model
(issue 17): torch float32 (the baseline every other one is judged against), torch under bf16
autocast, and onnxruntime on the float32 and the int8 graph of ``machamp-lite export --format
onnx --int8``. Each labels the same dev sentences; benchmarks.run takes the fastest one whose dev
F1 stays within half a point of torch float32's.

A loader gets the trained model folder and the device, and returns a ``Backend``: the function
from the sentences' words to their labels, how many timed passes it gets (None: the benchmark's
``--repeats``) and notes for the result file; or it raises ``Unavailable`` with the reason, which
the result records instead of a speed. Loading (and the ONNX export) is not timed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASK = "ner"
DATASET = "multiconer_small"

Labeller = Callable[[list[list[str]]], list[list[str]]]


@dataclass
class Backend:
    label: Labeller
    repeats: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class Unavailable(Exception):
    """The backend cannot run here (a missing extra, no GPU...): the message says why."""


def _labeller(predictor) -> Labeller:
    return lambda words: [labels[TASK] for labels in predictor.predict(words, dataset=DATASET)]


def torch_fp32(model_dir: Path, device: str | None) -> Backend:
    import machamp_lite

    predictor = machamp_lite.Predictor.load(model_dir, device=device, precision="fp32")
    return Backend(_labeller(predictor))


def torch_bf16(model_dir: Path, device: str | None) -> Backend:
    """bf16 autocast. On a processor that emulates bf16 (no AVX512-BF16/AMX) a pass takes
    minutes, so it is timed once there and marked ``native_bf16: false``."""
    import torch

    import machamp_lite
    from machamp_lite.devices import resolve_device
    from machamp_lite.precision import native_bf16

    native = native_bf16(torch.device(resolve_device(device)))
    predictor = machamp_lite.Predictor.load(model_dir, device=device, precision="bf16")
    return Backend(_labeller(predictor), None if native else 1, {"native_bf16": native})


# The export the onnx backends share, per trained model: its folder and seconds.
_EXPORTS: dict[Path, tuple[Path, float]] = {}


def _onnx_export(model_dir: Path) -> tuple[Path, float]:
    """One export with its int8 graph, beside the model (in the benchmark's temporary run
    folder), shared by both onnx backends; its seconds. The int8 graph's feed-forward layers
    are smoothed on the model's own training files (``--calibration``: up to 1,000 of their
    sentences, none of them dev sentences)."""
    if model_dir not in _EXPORTS:
        from machamp_lite.export_onnx import export_onnx

        target = model_dir.parent / "model-onnx"
        datasets = json.loads((model_dir / "datasets.json").read_text(encoding="utf-8"))
        calibration = list(datasets[DATASET]["train_data_path"])
        started = time.perf_counter()
        export_onnx(model_dir, target, int8=True, calibration=calibration)
        _EXPORTS[model_dir] = (target, round(time.perf_counter() - started, 1))
    return _EXPORTS[model_dir]


def _onnx(model_dir: Path, graph: str) -> Backend:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise Unavailable(
            'onnxruntime is not installed (pip install "machamp-lite[onnx]")'
        ) from None
    import machamp_lite

    folder, seconds = _onnx_export(model_dir)
    predictor = machamp_lite.Predictor.load(folder, backend="onnx", onnx_graph=graph)
    return Backend(_labeller(predictor), notes={"export_seconds": seconds})


def onnx_fp32(model_dir: Path, device: str | None) -> Backend:
    return _onnx(model_dir, "fp32")


def onnx_int8(model_dir: Path, device: str | None) -> Backend:
    return _onnx(model_dir, "int8")


def cleanup(model_dir: Path) -> None:
    """Remove the export that the onnx backends wrote beside ``model_dir``."""
    _EXPORTS.pop(model_dir, None)
    shutil.rmtree(model_dir.parent / "model-onnx", ignore_errors=True)


FP32_BACKEND = "torch_fp32"
# name -> loader(model_dir, device); the extension point for more backends.
PREDICT_BACKENDS: dict[str, Callable[[Path, str | None], Backend]] = {
    FP32_BACKEND: torch_fp32,
    "torch_bf16": torch_bf16,
    "onnx_fp32": onnx_fp32,
    "onnx_int8": onnx_int8,
}


def measure_backends(
    model_dir: Path,
    sentences: list[Any],
    device: str | None,
    repeats: int,
    backends: dict[str, Callable[[Path, str | None], Backend]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each backend labels the sentences its number of times: median sentences/s, every
    round's seconds and the dev span micro-F1 of its labels; or why it was skipped. The onnx
    backends run on the CPU only, so they are skipped when ``device`` is a GPU."""
    import statistics

    from machamp_lite.metrics.span_f1 import span_f1

    words = [sentence.words for sentence in sentences]
    gold = [sentence.labels[TASK] for sentence in sentences]
    measured: dict[str, dict[str, Any]] = {}
    try:
        for name, load in (backends or PREDICT_BACKENDS).items():
            if name.startswith("onnx") and device not in (None, "cpu", "-1"):
                measured[name] = {"skipped": "onnxruntime runs on the CPU here; device is a GPU"}
                continue
            try:
                backend = load(model_dir, device)
            except Unavailable as why:
                measured[name] = {"skipped": str(why)}
                continue
            rounds, predicted = [], None
            for _ in range(backend.repeats or repeats):
                start = time.perf_counter()
                predicted = backend.label(words)
                rounds.append(time.perf_counter() - start)
            measured[name] = {
                "sentences_per_s": round(len(words) / statistics.median(rounds), 2),
                "rounds_seconds": [round(x, 2) for x in rounds],
                "dev_micro_f1": span_f1(gold, predicted)["micro"]["f1"] if predicted else None,
                **backend.notes,
            }
    finally:
        cleanup(model_dir)
    return measured
