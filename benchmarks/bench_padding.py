"""What batching by length, the batch size, the prediction stream's chunk and the thread count
still leave on the table in prediction (issue 17, part 4): one trained model labels the same
sentences under each setting, interleaved, in one process, so that the ratios hold on any
machine.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_padding MODEL INPUT \\
        [--dataset NAME] [--sentences 2200] [--repeats 2] [--backend torch|onnx]
        [--out benchmarks/results/padding.json]

MODEL is a trained archive (``--backend onnx``: its export folder), INPUT a file in its
dataset's format. Settings: the default (batches cut from length-sorted sentences, at most
``prediction.batch_size`` sentences and ``prediction.max_tokens`` padded positions), batches
in file order as a plain loop cuts them, other batch sizes, one thread, and ``predict_file``
streaming in chunks of ``prediction.chunk_sentences`` (sorted only within a chunk). Besides the
speed, each batching setting has its padding: padded subword positions over real ones, from the
encoder's input lengths alone. The subword tokenization's share of a prediction is timed apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_train_predict import machine

RESULTS = Path(__file__).resolve().parent / "results"
# name -> (sort by length, batch_size, max_tokens, threads); None: the model's setting.
BATCHING: dict[str, tuple[bool, int | None, int | None, int]] = {
    "sorted, model's batch (default)": (True, None, None, 2),
    "file order, 32 sentences (a plain loop)": (False, 32, 1_000_000, 2),
    "file order, model's batch": (False, None, None, 2),
    "sorted, 32 sentences": (True, 32, None, 2),
    "sorted, 128 sentences, 8192 positions": (True, 128, 8192, 2),
    "sorted, 256 sentences, 16384 positions": (True, 256, 16384, 2),
    "sorted, model's batch, 1 thread": (True, None, None, 1),
}
CHUNKS = (256, 1024, 4096)


def read_words(path: str, limit: int) -> list[list[str]]:
    """The first column of the first ``limit`` sentences (comment lines skipped)."""
    sentences: list[list[str]] = []
    current: list[str] = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("# "):
                continue
            if line.strip():
                current.append(line.split()[0])
            elif current:
                sentences.append(current)
                current = []
                if len(sentences) == limit:
                    break
    if current and len(sentences) < limit:
        sentences.append(current)
    return sentences


def padding(lengths: list[int], sort: bool, batch_size: int, max_tokens: int) -> float:
    """Padded positions over real ones for these batches."""
    from machamp_lite.data.batching import make_batches

    batches = make_batches(lengths, batch_size, max_tokens, sort_by_size=sort)
    padded = sum(max(lengths[i] for i in batch) * len(batch) for batch in batches)
    return round(padded / sum(lengths), 3)


def run_batching(predictor, words, sort: bool, batch_size: int, max_tokens: int, dataset):
    """One prediction of ``words`` with these batches; its seconds."""
    import machamp_lite.predict as predict_module
    from machamp_lite.data.batching import make_batches

    settings = predictor.params.setdefault("prediction", {})
    settings["batch_size"], settings["max_tokens"] = batch_size, max_tokens
    original = predict_module.make_batches
    predict_module.make_batches = functools.partial(make_batches, sort_by_size=sort)
    try:
        started = time.perf_counter()
        predictor.predict(words, dataset)
        return time.perf_counter() - started
    finally:
        predict_module.make_batches = original


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--sentences", type=int, default=2200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--out", default=str(RESULTS / "padding.json"))
    args = parser.parse_args(argv)

    from machamp_lite.predict import Predictor

    predictor = Predictor.load(args.model, device="cpu", backend=args.backend, precision="fp32")
    base = dict(predictor.params.get("prediction", {}))
    model_batch, model_tokens = int(base.get("batch_size", 64)), int(base.get("max_tokens", 4096))
    words = read_words(args.input, args.sentences)
    encoder = predictor.model.encoder
    started = time.perf_counter()
    lengths = [encoder.input_length(e) for e in encoder.encode_many(words)]
    tokenize_seconds = time.perf_counter() - started

    times: dict[str, list[float]] = {name: [] for name in BATCHING}
    chunk_times: dict[int, list[float]] = {size: [] for size in CHUNKS}
    work = Path(args.out).parent / ".bench_padding"
    work.mkdir(parents=True, exist_ok=True)
    source = work / "input.conll"
    source.write_text("".join("\n".join(s) + "\n\n" for s in words), encoding="utf-8")
    try:
        for _ in range(args.repeats):
            for name, (sort, size, tokens, threads) in BATCHING.items():
                torch.set_num_threads(threads)
                seconds = run_batching(
                    predictor,
                    words,
                    sort,
                    size or model_batch,
                    tokens or model_tokens,
                    args.dataset,
                )
                times[name].append(seconds)
            torch.set_num_threads(2)
            predictor.params["prediction"] = dict(base)
            for size in CHUNKS:
                predictor.params["prediction"]["chunk_sentences"] = size
                started = time.perf_counter()
                predictor.predict_file(str(source), str(work / "out.conll"), args.dataset)
                chunk_times[size].append(time.perf_counter() - started)
    finally:
        for file in work.iterdir():
            file.unlink()
        work.rmdir()
    default = statistics.median(times["sorted, model's batch (default)"])
    batching = {}
    for name, (sort, size, tokens, _threads) in BATCHING.items():
        median = statistics.median(times[name])
        batching[name] = {
            "sentences_per_s": round(len(words) / median, 1),
            "over_default": round(default / median, 2),
            "padded_over_real_positions": padding(
                lengths, sort, size or model_batch, tokens or model_tokens
            ),
            "rounds_seconds": [round(t, 2) for t in times[name]],
        }
    result = {
        "benchmark": "padding",
        "command": "python -m benchmarks.bench_padding "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model,
        "backend": args.backend,
        "input": args.input,
        "sentences": len(words),
        "subword_positions": sum(lengths),
        "model_prediction_settings": base,
        "tokenize_seconds": round(tokenize_seconds, 2),
        "tokenize_share_of_default": round(tokenize_seconds / default, 3),
        "batching": batching,
        "stream_chunks": {
            str(size): {
                "sentences_per_s_including_reading_and_writing": round(
                    len(words) / statistics.median(chunk_times[size]), 1
                ),
                "padded_over_real_positions_of_the_sorted_chunks": round(
                    sum(
                        padding(lengths[i : i + size], True, model_batch, model_tokens)
                        * sum(lengths[i : i + size])
                        for i in range(0, len(lengths), size)
                    )
                    / sum(lengths),
                    3,
                ),
            }
            for size in CHUNKS
        },
        "repeats": args.repeats,
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
