"""Every speed and memory benchmark in one run, side by side on one machine:

- the CRF against pytorch-crf 0.7.2 (``bench_crf``: loss forward + backward and Viterbi, one
  thread, batch 32, 13 tags, T = 50 and 200);
- data preparation: reading and subword-tokenizing the seven full MultiCoNER train sets
  (``bench_tokenize``);
- training and prediction with multilingual-e5-small on the small MultiCoNER setup through
  ``machamp_lite.train`` (``bench_train_predict``): sentences/s, peak RSS, dev F1; the full run
  adds four-epoch runs with frozen and with trainable embeddings, and a per-phase profile of
  one training step;
- the in-run reference (``bench_reference``): a plain Hugging Face + pytorch-crf fine-tuning
  loop trained for as many epochs on the same data and used to predict the same dev sentences,
  so that the speed targets are ratios (``train_speedup_vs_reference``,
  ``predict_speedup_vs_reference`` and ``..._best``, over the prediction backends whose dev F1
  stays within half a point of the torch fp32 model) that hold on any machine.

    python -m benchmarks.run [--quick] [--data_dir D] [--name NAME]

The result, with the machine's description and load average, goes to
``benchmarks/results/<name>-<timestamp>.json`` and ``benchmarks/results/latest-<quick|full>.json``;
the last stdout line is a one-line JSON summary. ``--quick`` (one training epoch, one
tokenization run, short CRF timings) took about five minutes on 2 CPU cores before the
reference loop was added, and 32 minutes with it on a busy machine; the full run more than an
hour. pytorch-crf is installed
only for the benchmark (``pip install pytorch-crf==0.7.2``); without it the CRF comparison and
the reference are recorded as skipped and the speedups as null.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path
from typing import Any

from benchmarks import bench_reference, bench_tokenize, bench_train_predict
from benchmarks.bench_train_predict import (
    MACHAMP_ANCHORS,
    TARGETS,
    default_data_dir,
    find_models,
    load_average,
    machine,
)
from benchmarks.predict_backends import FP32_BACKEND

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("crf", "tokenize", "train", "reference")


def crf_part(quick: bool) -> dict[str, Any]:
    from benchmarks import bench_crf

    return bench_crf.run(quick)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return round(numerator / denominator, 2) if numerator and denominator else None


def against_reference(train: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """machamp-lite's speeds over the reference loop's, from the same run. The best prediction
    backend is the fastest whose dev F1 is within TARGETS["predict_best_f1_within_of_fp32"] of
    the torch fp32 model's (a fast backend that loses F1 does not count)."""
    backends = train.get("predict_backends") or {}
    fp32_f1 = backends.get(FP32_BACKEND, {}).get("dev_micro_f1")
    within = TARGETS["predict_best_f1_within_of_fp32"]
    eligible = {
        name: backend
        for name, backend in backends.items()
        if backend.get("sentences_per_s")
        and (
            name == FP32_BACKEND
            or (
                fp32_f1 is not None
                and backend.get("dev_micro_f1") is not None
                and abs(backend["dev_micro_f1"] - fp32_f1) <= within
            )
        )
    }
    best = max(eligible, key=lambda name: eligible[name]["sentences_per_s"], default=None)
    reference_predict = reference.get("predict_sentences_per_s")
    each = {
        name: {"skipped": backend["skipped"]}
        if "skipped" in backend
        else {
            "sentences_per_s": backend.get("sentences_per_s"),
            "dev_micro_f1": backend.get("dev_micro_f1"),
            "speedup_vs_reference": ratio(backend.get("sentences_per_s"), reference_predict),
            "eligible": name in eligible,
        }
        for name, backend in backends.items()
    }
    return {
        "train_speedup_vs_reference": ratio(
            train.get("train_sentences_per_s"), reference.get("train_sentences_per_s")
        ),
        "predict_speedup_vs_reference": ratio(
            train.get("predict_sentences_per_s"), reference_predict
        ),
        "predict_speedup_vs_reference_best": ratio(
            eligible[best]["sentences_per_s"] if best else None, reference_predict
        ),
        "predict_best_backend": best,
        "predict_best_f1": eligible[best].get("dev_micro_f1") if best else None,
        "predict_backends": each,
        "reference_train_sentences_per_s": reference.get("train_sentences_per_s"),
        "reference_predict_sentences_per_s": reference_predict,
        "reference_dev_f1": reference.get("dev_micro_f1"),
        "reference_skipped": reference.get("skipped"),
    }


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers (the last stdout line), each with whether it meets its target."""
    crf = result.get("crf", {})
    tokenize = result.get("tokenize", {})
    train = result.get("train", {}).get("default_recipe", {})
    summary: dict[str, Any] = {
        "crf_loglik_speedup_vs_pytorch_crf": crf.get("crf_loglik_speedup_vs_pytorch_crf"),
        "crf_decode_speedup_vs_pytorch_crf": crf.get("crf_decode_speedup_vs_pytorch_crf"),
        "tokenize_seconds_multiconer_train": tokenize.get("tokenize_seconds_multiconer_train"),
        "tokenize_sentences_per_s": tokenize.get("sentences_per_s"),
        "tokenize_subwords": tokenize.get("subwords"),
        "train_sentences_per_s": train.get("train_sentences_per_s"),
        "predict_sentences_per_s": train.get("predict_sentences_per_s"),
        "dev_eval_sentences_per_s": train.get("dev_eval_sentences_per_s"),
        "peak_rss_mb": train.get("peak_rss_mb"),
        "train_epochs": train.get("settings", {}).get("epochs"),
        "dev_micro_f1": train.get("dev_micro_f1_last"),
        **against_reference(train, result.get("reference", {})),
    }
    met = {}
    for key in ("tokenize_seconds_multiconer_train", "peak_rss_mb"):
        if summary.get(key) is not None:
            met[key] = summary[key] <= TARGETS[key]
    for key in (
        "train_sentences_per_s",
        "predict_sentences_per_s",
        "train_speedup_vs_reference",
        "predict_speedup_vs_reference_best",
    ):
        if summary.get(key) is not None:
            met[key] = summary[key] >= TARGETS[key]
    if summary["train_epochs"] == 4 and summary["dev_micro_f1"] is not None:
        met["dev_micro_f1_after_4_epochs"] = (
            summary["dev_micro_f1"] >= TARGETS["dev_micro_f1_after_4_epochs"]
        )
    summary["targets_met"] = met
    summary["omp_wait_policy"] = train.get("omp_wait_policy")
    summary["load_average"] = result["machine"]["load_average"]
    summary["load_average_end"] = result.get("load_average_end")
    return summary


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one epoch: 15-30 minutes on 2 cores")
    parser.add_argument("--data_dir", default=None, help="default: ../shared/data")
    parser.add_argument("--model", default=None, help="default: $ME5_SMALL or get-models")
    parser.add_argument("--name", default=None, help="result file prefix (default quick/full)")
    parser.add_argument("--results_dir", default=str(RESULTS))
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS)
    args = parser.parse_args(argv)
    quick = args.quick
    data_dir = str(args.data_dir or default_data_dir())
    model = args.model or find_models().get("ME5_SMALL")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "quick" if quick else "full",
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.run" + (" --quick" if quick else ""),
        "machine": machine(),
        "data_dir": data_dir,
        "transformer_model": model,
        "machamp_v0.4_anchors": MACHAMP_ANCHORS,
        "targets": TARGETS,
    }
    part_seconds = {}
    for part in PARTS:
        if part in args.skip:
            result[part] = {"skipped": "--skip"}
            continue
        part_start = time.perf_counter()
        if part == "crf":
            result[part] = crf_part(quick)
        elif part == "tokenize":
            result[part] = bench_tokenize.run(quick, data_dir, model)
        elif part == "reference":
            result[part] = bench_reference.run(quick, data_dir, model)
        else:
            result[part] = bench_train_predict.run(quick, data_dir, model)
        part_seconds[part] = round(time.perf_counter() - part_start, 1)
    result["seconds"] = {**part_seconds, "total": round(time.perf_counter() - started, 1)}
    result["load_average_end"] = load_average()
    result["summary"] = summarize(result)

    folder = Path(args.results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = args.name or result["benchmark"]
    path = folder / f"{name}-{stamp}.json"
    text = json.dumps(result, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    (folder / f"latest-{result['benchmark']}.json").write_text(text, encoding="utf-8")
    print(f"results: {path}")
    print(json.dumps({**result["summary"], "result_file": str(path)}))
    return result


if __name__ == "__main__":
    main()
