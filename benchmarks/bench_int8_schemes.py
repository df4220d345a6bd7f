"""Which int8 quantization keeps the F1: the float32 graph of one ONNX export quantized with each
scheme, every labelled file predicted by each graph and by torch, span micro-F1 and speed.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_int8_schemes MODEL EXPORT GOLD [GOLD ...] \\
        [--schemes NAME ...] [--dataset NAME] [--out benchmarks/results/int8_schemes.json]

MODEL is a trained archive, EXPORT its ``machamp-lite export MODEL EXPORT --format onnx``, each
GOLD a labelled file in the dataset's format (judge a scheme on several disjoint sets: on one
set of 2,200 MultiCoNER sentences the F1 of one int8 graph moved by more than a point from one
set to the next). Schemes (onnxruntime's ``quantize_dynamic`` of the MatMul weights):

- ``per_channel_first_fp32``: one scale per output column, the first transformer layer float32
  (what ``export --int8`` writes);
- ``per_channel``: one scale per output column, every layer;
- ``per_channel_reduce_range`` (``_first_fp32``): weights in 7 bits, which onnxruntime advises
  for processors without VNNI, where 8-bit products can saturate;
- ``uint8_per_channel``: unsigned 8-bit weights (no saturation either, slower kernels);
- ``smoothed_feed_forward`` (with ``--calibration FILE ...``): a new export of MODEL with
  ``--int8 --calibration FILE ...``, its feed-forward layers smoothed before every layer is
  quantized (machamp_lite/int8_smoothing.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_train_predict import machine

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMES: dict[str, dict[str, Any]] = {
    "per_channel_first_fp32": {"per_channel": True, "first_fp32": True},
    "per_channel": {"per_channel": True},
    "per_channel_reduce_range": {"per_channel": True, "reduce_range": True},
    "per_channel_reduce_range_first_fp32": {
        "per_channel": True,
        "reduce_range": True,
        "first_fp32": True,
    },
    "uint8_per_channel": {"per_channel": True, "unsigned": True},
}


def quantized_copy(export: Path, target: Path, scheme: dict[str, Any]) -> float:
    """``target``: the export with its int8 graph made by ``scheme`` (the float32 graph linked,
    not copied); returns the quantization's seconds."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from machamp_lite.export_onnx import GRAPHS, REPORT, file_table, float_layer_nodes

    target.mkdir(parents=True)
    for path in export.iterdir():
        if path.name == GRAPHS["int8"]:
            continue
        if path.is_dir():
            shutil.copytree(path, target / path.name)
        elif path.name == GRAPHS["fp32"]:
            try:  # the float32 graph is hundreds of MB: linked where the file system allows
                os.link(path, target / path.name)
            except OSError:
                shutil.copy(path, target / path.name)
        else:
            shutil.copy(path, target / path.name)
    source = export / GRAPHS["fp32"]
    started = time.perf_counter()
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            str(source),
            str(target / GRAPHS["int8"]),
            op_types_to_quantize=["MatMul"],
            per_channel=scheme.get("per_channel", False),
            reduce_range=scheme.get("reduce_range", False),
            weight_type=QuantType.QUInt8 if scheme.get("unsigned") else QuantType.QInt8,
            nodes_to_exclude=float_layer_nodes(source) if scheme.get("first_fp32") else [],
        )
    finally:
        logging.disable(logging.NOTSET)
    seconds = time.perf_counter() - started
    report = json.loads((target / REPORT).read_text(encoding="utf-8"))
    report["files"] = file_table(target)
    report["quantization"] = {"benchmark_scheme": scheme}
    (target / REPORT).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return seconds


def score(predictor, gold: str, output: Path, dataset: str | None) -> tuple[float, float]:
    """Span micro-F1 (points) of ``predictor`` on ``gold`` and its sentences per second."""
    from machamp_lite.evaluation import evaluate_files

    started = time.perf_counter()
    count = predictor.predict_file(gold, str(output), dataset)
    seconds = time.perf_counter() - started
    f1 = evaluate_files(gold, str(output))["micro"]["f1"]
    return round(100 * f1, 2), round(count / seconds, 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("export")
    parser.add_argument("gold", nargs="+")
    parser.add_argument("--schemes", nargs="+", choices=list(SCHEMES), default=list(SCHEMES))
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calibration", nargs="+", default=None, help="also the smoothed export")
    parser.add_argument("--out", default=str(RESULTS / "int8_schemes.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from machamp_lite.predict import Predictor

    work = Path(args.out).parent / ".bench_int8_schemes"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows: dict[str, Any] = {}
    try:
        torch_predictor = Predictor.load(args.model, device="cpu", precision="fp32")
        rows["torch_fp32"] = {
            g: score(torch_predictor, g, work / "out", args.dataset) for g in args.gold
        }
        for name in args.schemes:
            folder = work / name
            seconds = quantized_copy(Path(args.export), folder, SCHEMES[name])
            predictor = Predictor.load(folder, backend="onnx", onnx_graph="int8")
            rows[name] = {"quantize_seconds": round(seconds, 1)}
            for gold in args.gold:
                rows[name][gold] = score(predictor, gold, work / "out", args.dataset)
            shutil.rmtree(folder)
        if args.calibration:
            from machamp_lite.export_onnx import export_onnx

            folder = work / "smoothed"
            started = time.perf_counter()
            export_onnx(args.model, folder, int8=True, calibration=args.calibration)
            rows["smoothed_feed_forward"] = {"export_seconds": round(time.perf_counter() - started)}
            predictor = Predictor.load(folder, backend="onnx", onnx_graph="int8")
            for gold in args.gold:
                row = rows["smoothed_feed_forward"]
                row[gold] = score(predictor, gold, work / "out", args.dataset)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = {}
    for name, row in rows.items():
        drops = [row[g][0] - rows["torch_fp32"][g][0] for g in args.gold]
        table[name] = {
            "f1_points": {g: row[g][0] for g in args.gold},
            "f1_points_vs_torch": [round(d, 2) for d in drops],
            "mean_f1_points_vs_torch": round(statistics.mean(drops), 2),
            "sentences_per_s": {g: row[g][1] for g in args.gold},
        }
    result = {
        "benchmark": "int8_schemes",
        "command": "python -m benchmarks.bench_int8_schemes "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "schemes": {name: SCHEMES[name] for name in args.schemes},
        "calibration": args.calibration,
        "table": table,
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
