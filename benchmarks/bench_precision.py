"""fp32 against bf16 prediction of trained models (issue 17, "decide the defaults from measured
F1"): each model labels each labelled file with ``Predictor.load(precision="fp32")`` and with
``"bf16"``, in one process, so the speed ratio holds on any machine.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_precision NAME=MODEL [NAME=MODEL ...] \\
        --inputs SET.conll [SET.conll ...] [--threads 2] [--out benchmarks/results/precision.json]

For every model and file: span micro-F1 (in points) of each precision against the file's gold
labels, how many sentences get other labels in bf16 than in fp32, and sentences per second of
one pass each (fp32 first, then bf16). ``native_bf16`` in the result says whether this processor
computes bf16 itself; where it does not, bf16 is emulated and several times slower.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.bench_train_predict import machine

RESULTS = Path(__file__).resolve().parent / "results"
PRECISIONS = ("fp32", "bf16")


def label_file(predictor, path: str) -> tuple[list[list[str]], list[list[str]], float]:
    """(gold labels, predicted labels, seconds) of the model's first task on one file; all its
    sentences are read (``limit=-1``), not the dataset's ``max_sents``."""
    from machamp_lite.data.dataset import read_dataset_file

    config = predictor.dataset(None)
    task = next(iter(config["tasks"]))
    sentences = read_dataset_file(config, path, limit=-1)
    words = [s.words for s in sentences]
    started = time.perf_counter()
    predicted = [labels[task] for labels in predictor.predict(words, dataset=config["name"])]
    return [s.labels[task] for s in sentences], predicted, time.perf_counter() - started


def compare(model: str, inputs: list[str]) -> dict[str, dict]:
    from machamp_lite.metrics.span_f1 import span_f1
    from machamp_lite.predict import Predictor

    predictors = {p: Predictor.load(model, "cpu", precision=p) for p in PRECISIONS}
    result: dict[str, dict] = {}
    for path in inputs:
        row: dict = {}
        labels = {}
        for precision, predictor in predictors.items():
            gold, labels[precision], seconds = label_file(predictor, path)
            row[precision] = {
                "micro_f1_points": round(100 * span_f1(gold, labels[precision])["micro"]["f1"], 2),
                "sentences_per_s": round(len(gold) / seconds, 1),
            }
        row["sentences"] = len(labels["fp32"])
        row["sentences_unlike_fp32"] = sum(a != b for a, b in zip(labels["fp32"], labels["bf16"]))
        row["bf16_over_fp32_speed"] = round(
            row["bf16"]["sentences_per_s"] / row["fp32"]["sentences_per_s"], 2
        )
        result[Path(path).name] = row
        print(model, Path(path).name, json.dumps(row), flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="NAME=MODEL_FOLDER")
    parser.add_argument("--inputs", nargs="+", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "precision.json"))
    args = parser.parse_args(argv)
    models = dict(entry.partition("=")[::2] for entry in args.models)
    if not all(models.values()):
        parser.error("give each model as NAME=MODEL_FOLDER")
    from machamp_lite.precision import native_bf16

    torch.set_num_threads(args.threads)
    result = {
        "benchmark": "precision",
        "command": "python -m benchmarks.bench_precision "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "threads": args.threads,
        "native_bf16": native_bf16(torch.device("cpu")),
        "models": {name: compare(folder, args.inputs) for name, folder in models.items()},
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
