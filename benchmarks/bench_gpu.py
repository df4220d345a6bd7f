"""Training and prediction speed and peak GPU memory of an encoder with xlm-roberta-large's
sizes (24 layers, hidden 1024, 250,002-row embedding matrix; random weights, since speed and
memory do not depend on them) and a CRF, on MultiCoNER sentences, in fp32 and bf16.

Each precision is one fresh ``machamp_lite.train`` process (peak memory is per process) of one
epoch with the project's batch settings (32 sentences, at most 1,024 subword positions per
batch), so the figures are what a user's run reports in its metrics.json:
``train_sentences_per_s``, ``predict_sentences_per_s``, ``peak_gpu_allocated_mb`` and
``peak_gpu_reserved_mb``. The issue's goal for bf16 on one H100: at least 1,500 training
sentences/s within 12 GB.

    python -m benchmarks.bench_gpu [--train_sents 3000] [--dev_sents 500]
        [--precisions fp32 bf16] [--settings KEY=VALUE ...] [--data_dir D]

The tokenizer is a WordPiece vocabulary of 30,000 trained on the same MultiCoNER text, so the
sentences are cut into a similar number of subwords as XLM-R's tokenizer cuts them; its ids
index the first rows of the full-size embedding matrix. ``--shape tiny`` runs the same path
with a 2-layer model (for the smoke test on a CPU). Results go to
``benchmarks/results/gpu-<shape>-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import (
    DEV_LANGUAGES,
    TRAIN_LANGUAGES,
    default_data_dir,
    dev_file,
    load_average,
    machine,
    train_file,
    train_in_child,
)

RESULTS = Path(__file__).resolve().parent / "results"
GOAL = {"bf16_train_sentences_per_s": 1500.0, "bf16_peak_gpu_mb": 12 * 1024.0}


def shapes() -> dict[str, tuple[int, dict[str, int]]]:
    """Tokenizer vocabulary and model sizes of each shape."""
    from machamp_lite.testing import TINY_SIZES, XLMR_LARGE_SIZES

    return {"xlmr-large": (30000, XLMR_LARGE_SIZES), "tiny": (400, TINY_SIZES)}


def corpus(data_dir: str, per_language: int = 20000) -> list[str]:
    """Up to ``per_language`` sentences of each MultiCoNER train file (words joined by spaces),
    to train the tokenizer on."""
    texts: list[str] = []
    for language in TRAIN_LANGUAGES:
        taken = 0
        words: list[str] = []
        with open(Path(data_dir, train_file(language)), encoding="utf-8") as lines:
            for line in lines:
                if line.strip() and not line.startswith("# id"):
                    words.append(line.split()[0])
                elif words:
                    texts.append(" ".join(words))
                    words, taken = [], taken + 1
                    if taken == per_language:
                        break
        if words:
            texts.append(" ".join(words))
    return texts


def build(folder: Path, shape: str, data_dir: str) -> Path:
    from machamp_lite.testing import build_random_model

    vocabulary, sizes = shapes()[shape]
    return build_random_model(folder, corpus(data_dir), vocabulary, sizes)


def run(
    shape: str,
    data_dir: str,
    precisions: list[str],
    train_sents: int,
    dev_sents: int,
    settings: list[str],
    device: str | None,
) -> dict[str, Any]:
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        model = str(build(Path(tmp) / shape, shape, data_dir))
        for precision in precisions:
            overrides = [f"training.precision={precision}", *settings]
            runs[precision] = train_in_child(
                model, data_dir, overrides, train_sents, dev_sents, device
            )
    table = [
        {
            "precision": precision,
            "device": row.get("device"),
            "train_sentences_per_s": row["train_sentences_per_s"],
            "predict_sentences_per_s": row["predict_sentences_per_s"],
            "peak_gpu_allocated_mb": row.get("peak_gpu_allocated_mb"),
            "peak_gpu_reserved_mb": row.get("peak_gpu_reserved_mb"),
            "peak_rss_mb": row["peak_rss_mb"],
            "parameters": row["parameters"],
            "train_sentences": row["epochs"][0]["train_sentences"],
            "dev_sentences": row["dev_sentences"],
        }
        for precision, row in runs.items()
    ]
    return {"table": table, "runs": runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="xlmr-large", choices=["xlmr-large", "tiny"])
    parser.add_argument("--data_dir", default=None, help="default: ../shared/data")
    parser.add_argument("--train_sents", type=int, default=3000, help="per train file")
    parser.add_argument("--dev_sents", type=int, default=500, help="per dev file")
    parser.add_argument("--precisions", nargs="*", default=["fp32", "bf16"])
    parser.add_argument("--settings", nargs="*", default=[], help="more overrides KEY=VALUE")
    parser.add_argument("--device", default=None, help="default: cuda when present")
    parser.add_argument("--results_dir", default=str(RESULTS))
    args = parser.parse_args(argv)
    data_dir = str(args.data_dir or default_data_dir())
    missing = [
        path
        for path in [train_file(x) for x in TRAIN_LANGUAGES] + [dev_file(x) for x in DEV_LANGUAGES]
        if not Path(data_dir, path).exists()
    ]
    if missing:
        raise SystemExit(f"MultiCoNER file {missing[0]} not found under {data_dir} (--data_dir)")
    result: dict[str, Any] = {
        "benchmark": f"gpu-{args.shape}",
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_gpu "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(),
        "goal": GOAL,
    }
    result.update(
        run(
            args.shape,
            data_dir,
            args.precisions,
            args.train_sents,
            args.dev_sents,
            args.settings,
            args.device,
        )
    )
    result["load_average_end"] = load_average()
    folder = Path(args.results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = folder / f"gpu-{args.shape}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for row in result["table"]:
        print(json.dumps(row))
    print(f"results: {out}")
    return result


if __name__ == "__main__":
    main()
