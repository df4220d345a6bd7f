"""What context costs in speed (issue 18): the small MultiCoNER setup trained for one epoch on
the first N sentences of each train set, and the dev sentences predicted, without context and
with k = 1 and 3 BM25-retrieved train sentences, interleaved in one run, so that the ratios hold
on any machine. Training runs the real command line (``machamp-lite train``) in a fresh process
per run; prediction times ``Predictor.predict_file`` of a trained model of each setting.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_context [--train_sents 100]
        [--dev INPUT] [--models none=DIR k1=DIR k3=DIR] [--repeats 2] [--data_dir ../shared/data]
        [--out benchmarks/results/context.json]

Without ``--models`` the one-epoch models predict (their F1 means nothing; the speed does).
The retrieval itself (BM25 over the ~117,000 train sentences, index and queries) is timed
apart: it runs once when a file is read, not per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import child_environment, find_models, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = {
    "none": "dataset_configs/multiconer_small.json",
    "k1": "dataset_configs/multiconer_small_retrieval_k1.json",
    "k3": "dataset_configs/multiconer_small_retrieval_k3.json",
}


def train_once(
    setting: str, train_sents: int, data_dir: str, folder: Path, params: str
) -> dict[str, Any]:
    """One epoch through ``machamp-lite train``; the epoch's own seconds from metrics.json."""
    output = folder / f"{setting}-{time.monotonic_ns()}"
    command = [
        sys.executable,
        "-m",
        "machamp_lite",
        "train",
        "--dataset_configs",
        str(ROOT / CONFIGS[setting]),
        "--parameters_config",
        params,
        "--data_dir",
        data_dir,
        "--output_dir",
        str(output),
        "--seed",
        "1",
        "--override",
        "training.num_epochs=1",
        f"multiconer_small.max_sents={train_sents}",
        "multiconer_small.dev_data_path=null",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=child_environment())
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"training {setting} failed:\n{done.stderr[-3000:]}")
    (metrics,) = output.glob("*/*/metrics.json")
    epoch = json.loads(metrics.read_text())["epochs"][0]
    sentences = epoch["train_sentences"]
    return {
        "train_seconds": round(epoch["train_seconds"], 1),
        "sentences": sentences,
        "sentences_per_second": round(sentences / epoch["train_seconds"], 2),
        "wall_seconds": round(wall, 1),
        "model": str(metrics.parent / "model"),
    }


def predict_once(model: str, dev: str, folder: Path) -> dict[str, Any]:
    """``predict_file`` on ``dev``, retrieval queries included, the corpus index not."""
    from machamp_lite.data.dataset import read_dataset_file
    from machamp_lite.predict import Predictor

    predictor = Predictor.load(model, "cpu")
    # The corpus is read and indexed once per process: done here, untimed (it is timed apart).
    read_dataset_file(predictor.dataset(None), dev, require_labels=False, limit=5)
    started = time.perf_counter()
    count = predictor.predict_file(dev, str(folder / "dev.pred"))
    seconds = time.perf_counter() - started
    return {
        "sentences": count,
        "seconds": round(seconds, 1),
        "per_second": round(count / seconds, 1),
    }


def retrieval_seconds(dev: str, data_dir: str, k: int) -> dict[str, float]:
    """Reading ``dev`` with k retrieved passages, minus reading it plain: the first read builds
    the BM25 index (reading the corpus), the second only queries it."""
    from machamp_lite.config import load_dataset_configs
    from machamp_lite.data import retrieval
    from machamp_lite.data.dataset import read_dataset_file

    config = load_dataset_configs([str(ROOT / CONFIGS[f"k{k}"])], data_dir=data_dir)
    dataset = config["multiconer_small"]
    retrieval._LOADED.clear()
    started = time.perf_counter()
    read_dataset_file(dataset, dev, require_labels=False, limit=-1, with_context=False)
    plain = time.perf_counter() - started
    started = time.perf_counter()
    read_dataset_file(dataset, dev, require_labels=False, limit=-1)
    first = time.perf_counter() - started - plain
    started = time.perf_counter()
    sentences = read_dataset_file(dataset, dev, require_labels=False, limit=-1)
    queries = time.perf_counter() - started - plain
    return {
        "corpus_read_and_index_seconds": round(first - queries, 1),
        "query_seconds": round(queries, 1),
        "queries": len(sentences),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_sents", type=int, default=100)
    parser.add_argument("--dev", default=None, help="default: the first 200 of each dev set")
    parser.add_argument("--models", nargs="*", default=[], help="setting=MODEL_DIR")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(RESULTS / "context.json"))
    parser.add_argument("--parameters_config", default=str(ROOT / "param_configs/e5-small.json"))
    args = parser.parse_args(argv)
    if "e5-small" in args.parameters_config:
        os.environ.setdefault("ME5_SMALL", find_models()["ME5_SMALL"])
    import torch

    torch.set_num_threads(2)
    given = dict(item.split("=", 1) for item in args.models)
    training: dict[str, list[dict[str, Any]]] = {s: [] for s in CONFIGS}
    prediction: dict[str, list[dict[str, Any]]] = {s: [] for s in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-context-") as tmp:
        folder = Path(tmp)
        dev = args.dev or str(write_dev(args.data_dir, folder))
        for _ in range(args.repeats):
            for setting in CONFIGS:
                training[setting].append(
                    train_once(
                        setting, args.train_sents, args.data_dir, folder, args.parameters_config
                    )
                )
        for _ in range(args.repeats):
            for setting in CONFIGS:
                model = given.get(setting) or training[setting][-1]["model"]
                prediction[setting].append(predict_once(model, dev, folder))
        retrieval = {f"k{k}": retrieval_seconds(dev, args.data_dir, k) for k in (1, 3)}
    train_speed = {
        s: statistics.median(r["sentences_per_second"] for r in rows)
        for s, rows in training.items()
    }
    predict_speed = {
        s: statistics.median(r["per_second"] for r in rows) for s, rows in prediction.items()
    }
    result = {
        "benchmark": "bench_context",
        "machine": machine(),
        "train_sents_per_file": args.train_sents,
        "train_sentences_per_second": train_speed,
        "train_relative_to_none": {
            s: round(v / train_speed["none"], 2) for s, v in train_speed.items()
        },
        "predict_sentences_per_second": predict_speed,
        "predict_relative_to_none": {
            s: round(v / predict_speed["none"], 2) for s, v in predict_speed.items()
        },
        "retrieval_seconds_for_dev": retrieval,
        "models": given,
        "training_rounds": {
            s: [{k: v for k, v in r.items() if k != "model"} for r in rows]
            for s, rows in training.items()
        },
        "prediction_rounds": prediction,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    summary = ("train_relative_to_none", "predict_relative_to_none", "retrieval_seconds_for_dev")
    print(json.dumps({k: result[k] for k in summary}))
    return result


def write_dev(data_dir: str, folder: Path) -> Path:
    """The first 200 sentences of each of the 11 dev sets in one file (2,200 sentences), as
    the small setup's ``max_dev_sents`` reads them."""
    from machamp_lite.config import load_dataset_configs

    dataset = load_dataset_configs([str(ROOT / CONFIGS["none"])], data_dir=data_dir)
    blocks: list[str] = []
    for path in dataset["multiconer_small"]["dev_data_path"]:
        text = Path(path).read_text(encoding="utf-8").strip("\n").split("\n\n")
        blocks.extend(text[:200])
    out = folder / "dev.conll"
    out.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
