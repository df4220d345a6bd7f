"""What confidences cost in a real prediction: the same sentences labelled by a trained model
plainly, with probabilities (CRF marginals and entity probabilities), and with the 3 best
sequences, side by side in one process so that the ratios hold on any machine.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_predict_confidence MODEL INPUT \\
        [--dataset NAME] [--sentences 500] [--repeats 3] [--threads 1]
        [--out benchmarks/results/predict_confidence.json]

MODEL is a trained archive (e.g. the small MultiCoNER run of docs/reproducing.md with
multilingual-e5-small), INPUT a file in its dataset's format. Each setting runs ``repeats``
times, interleaved with the others; the median time per setting is reported, and its ratio
to the plain prediction. The encoder dominates a real prediction, so the ratios say what a
user pays for ``--probabilities`` and ``--topn 3`` end to end.
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

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {
    "plain": {},
    "probabilities": {"probabilities": True},
    "top3": {"topn": 3},
    "probabilities_top3": {"probabilities": True, "topn": 3},
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("input")
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "predict_confidence.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from machamp_lite.predict import Predictor

    predictor = Predictor.load(args.model, device="cpu")
    work = Path(args.out).parent / ".bench_predict_confidence"
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    counts = {}
    for _ in range(args.repeats):
        for name, settings in SETTINGS.items():
            output = work / f"{name}.out"
            started = time.perf_counter()
            counts[name] = predictor.predict_file(
                args.input, str(output), args.dataset, max_sents=args.sentences, **settings
            )
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "benchmark": "predict_confidence",
        "command": "python -m benchmarks.bench_predict_confidence "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "model": str(args.model),
        "input": str(args.input),
        "sentences": counts["plain"],
        "threads": args.threads,
        "repeats": args.repeats,
        "temperatures": predictor.temperatures,
        "median_seconds": {k: round(v, 3) for k, v in medians.items()},
        "over_plain": {k: round(v / medians["plain"], 3) for k, v in medians.items()},
        "machine": machine(),
    }
    for file in work.iterdir():
        file.unlink()
    work.rmdir()
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
