"""What the onnx backend buys: the same model predicted by torch (float32), by onnxruntime on
the float32 ONNX graph and on its int8 graph, in one process, so that the ratios hold on any
machine.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_onnx MODEL EXPORT INPUT \\
        [--dataset NAME] [--sentences 500] [--repeats 2] [--threads 1 2]
        [--out benchmarks/results/onnx.json]

MODEL is a trained archive, EXPORT its ``machamp-lite export MODEL EXPORT --format onnx
--int8``, INPUT a labelled file in the dataset's format (gold labels in the last column). First
the whole INPUT is predicted once by each backend: how many sentences get labels other than
torch's, and each one's span micro-F1 against the gold labels (``machamp-lite evaluate``'s
scoring). Then the first ``--sentences`` sentences are predicted ``--repeats`` times per
backend and thread count, interleaved; the median sentences per second is reported with its
ratio to torch's at the same thread count. ``onnx_int8_one_batch_at_a_time`` is the int8
graph run as the backend ran it before it labelled one batch per thread: one batch at a time
on all the threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_train_predict import machine
from machamp_lite.export_onnx import GRAPHS

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = {
    "torch_fp32": {"backend": "torch", "precision": "fp32"},
    "onnx_fp32": {"backend": "onnx", "onnx_graph": "fp32"},
    "onnx_int8": {"backend": "onnx", "onnx_graph": "int8"},
    # The int8 graph as the backend ran it before it labelled batches side by side: one batch
    # at a time, its products split over every thread.
    "onnx_int8_one_batch_at_a_time": {"backend": "onnx", "onnx_graph": "int8", "sequential": True},
}


def label_lines(path: Path) -> list[list[str]]:
    """Each sentence's last-column labels (comment lines skipped), to compare predictions."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            continue
        if line.strip():
            current.append(line.split()[-1])
        elif current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def load(name: str, model: str, export: str):
    from machamp_lite.predict import Predictor

    settings = dict(BACKENDS[name])
    sequential = settings.pop("sequential", False)
    path = model if settings["backend"] == "torch" else export
    predictor = Predictor.load(path, "cpu", **settings)
    if sequential:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        graph = Path(export) / GRAPHS["int8"]
        predictor.model.session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
        predictor.model.concurrent_batches = 1
    return predictor


def accuracy(args, work: Path) -> dict:
    """Whole-input predictions of each backend: span micro-F1 and sentences unlike torch's."""
    from machamp_lite.evaluation import evaluate_files

    result: dict = {}
    torch.set_num_threads(max(args.threads))
    for name in BACKENDS:
        output = work / f"{name}.full"
        predictor = load(name, args.model, args.export)
        count = predictor.predict_file(args.input, str(output), args.dataset)
        scores = evaluate_files(args.input, str(output))
        result[name] = {"sentences": count, "micro_f1": round(scores["micro"]["f1"], 4)}
    reference = label_lines(work / "torch_fp32.full")
    for name in BACKENDS:
        labels = label_lines(work / f"{name}.full")
        result[name]["sentences_unlike_torch"] = sum(a != b for a, b in zip(reference, labels))
        result[name]["f1_points_vs_torch"] = round(
            100 * (result[name]["micro_f1"] - result["torch_fp32"]["micro_f1"]), 2
        )
    return result


def speed(args, work: Path) -> dict:
    """Median sentences/s per backend and thread count on the first ``--sentences``."""
    result: dict = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        predictors = {name: load(name, args.model, args.export) for name in BACKENDS}
        times: dict[str, list[float]] = {name: [] for name in BACKENDS}
        counts = {}
        for _ in range(args.repeats):
            for name, predictor in predictors.items():
                started = time.perf_counter()
                counts[name] = predictor.predict_file(
                    args.input, str(work / f"{name}.out"), args.dataset, max_sents=args.sentences
                )
                times[name].append(time.perf_counter() - started)
        rates = {n: counts[n] / statistics.median(t) for n, t in times.items()}
        result[f"threads_{threads}"] = {
            "sentences_per_second": {n: round(r, 1) for n, r in rates.items()},
            "over_torch_fp32": {n: round(r / rates["torch_fp32"], 2) for n, r in rates.items()},
        }
    return result


def onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("export")
    parser.add_argument("input")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip_accuracy", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "onnx.json"))
    args = parser.parse_args(argv)
    work = Path(args.out).parent / ".bench_onnx"
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = {
            "benchmark": "onnx",
            "command": "python -m benchmarks.bench_onnx "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "model": str(args.model),
            "export": str(args.export),
            "input": str(args.input),
            "accuracy": None if args.skip_accuracy else accuracy(args, work),
            "speed_sentences": args.sentences,
            "repeats": args.repeats,
            "speed": speed(args, work),
            "machine": {**machine(), "onnxruntime": onnxruntime_version()},
        }
    finally:
        for file in work.iterdir():
            file.unlink()
        work.rmdir()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
