"""The measured effect of each memory and speed lever on a real training run: peak RSS (on a
GPU, peak allocated and reserved memory), training and prediction sentences/s, trainable
parameters and dev F1, for multilingual-e5-small on a MultiCoNER subset.

Each setting is one fresh ``machamp_lite.train`` process (peak memory is per process) of one
epoch, run one after another on the same data and seed, so the rows differ only in the lever:

- ``baseline``: every lever off (trainable embeddings and layers, torch's dropout, no
  checkpointing, fp32, max_tokens 1024);
- ``freeze_embeddings``, ``freeze_layers`` (the embeddings and a sixth of the layers:
  ``encoder.freeze_layers=null``), ``bit_dropout``, ``gradient_checkpointing``,
  ``max_tokens_256``, ``bf16``: one lever on;
- ``all``: freezing the embeddings, checkpointing, max_tokens 256 and bf16 together;
- ``viterbi_in_training``: the baseline with ``training.train_metrics`` on, which decodes every
  training batch (Viterbi for a CRF) to report a training score.

    python -m benchmarks.bench_levers [--train_sents 100] [--dev_sents 20]
        [--settings baseline bf16 ...] [--out benchmarks/results/levers.json]

With ``--train_sents 100`` (700 training sentences) the whole table takes about eight minutes on
2 CPU cores. On a GPU machine the same command measures GPU memory as well (the run report
holds ``peak_gpu_allocated_mb`` and ``peak_gpu_reserved_mb``).
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import (
    default_data_dir,
    find_models,
    load_average,
    machine,
    train_in_child,
)

RESULTS = Path(__file__).resolve().parent / "results"

ALL_OFF = [
    "encoder.freeze_embeddings=false",
    "encoder.freeze_layers=0",
    "training.bit_dropout=false",
    "encoder.gradient_checkpointing=false",
    "training.precision=fp32",
    "training.train_metrics=false",
    "batching.max_tokens=1024",
]
LEVERS = {
    "baseline": [],
    "viterbi_in_training": ["training.train_metrics=true"],
    "freeze_embeddings": ["encoder.freeze_embeddings=true"],
    "freeze_layers": ["encoder.freeze_layers=null"],
    "bit_dropout": ["training.bit_dropout=true"],
    "gradient_checkpointing": ["encoder.gradient_checkpointing=true"],
    "max_tokens_256": ["batching.max_tokens=256"],
    "bf16": ["training.precision=bf16"],
    "all": [
        "encoder.freeze_embeddings=true",
        "encoder.gradient_checkpointing=true",
        "batching.max_tokens=256",
        "training.precision=bf16",
    ],
}


def overrides_for(setting: str) -> list[str]:
    """The baseline's overrides with this setting's levers replacing theirs."""
    chosen = LEVERS[setting]
    keys = {item.split("=", 1)[0] for item in chosen}
    return [item for item in ALL_OFF if item.split("=", 1)[0] not in keys] + chosen


def run(
    settings: list[str],
    data_dir: str,
    model: str,
    train_sents: int,
    dev_sents: int,
    device: str | None = None,
) -> dict[str, Any]:
    rows = {
        setting: train_in_child(
            model, data_dir, overrides_for(setting), train_sents, dev_sents, device
        )
        for setting in settings
    }
    baseline = rows.get("baseline")
    table = []
    for setting, row in rows.items():
        entry = {
            "setting": setting,
            "overrides": row["settings"]["overrides"],
            "peak_rss_mb": row["peak_rss_mb"],
            "peak_gpu_allocated_mb": row.get("peak_gpu_allocated_mb"),
            "peak_gpu_reserved_mb": row.get("peak_gpu_reserved_mb"),
            "train_sentences_per_s": row["train_sentences_per_s"],
            "predict_sentences_per_s": row["predict_sentences_per_s"],
            "trainable_parameters": row["trainable_parameters"],
            "dev_micro_f1": row["dev_micro_f1_last"],
        }
        if baseline:
            for key in ("peak_rss_mb", "train_sentences_per_s", "peak_gpu_reserved_mb"):
                if entry.get(key) and baseline.get(key):
                    entry[f"{key}_vs_baseline"] = round(entry[key] / baseline[key], 3)
        table.append(entry)
    return {"table": table, "runs": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", default=None, help="default: ../shared/data")
    parser.add_argument("--model", default=None, help="default: $ME5_SMALL or get-models")
    parser.add_argument("--train_sents", type=int, default=100, help="per train file")
    parser.add_argument("--dev_sents", type=int, default=20, help="per dev file")
    parser.add_argument("--settings", nargs="*", default=list(LEVERS), choices=list(LEVERS))
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--out", default=str(RESULTS / "levers.json"))
    args = parser.parse_args(argv)
    model = args.model or find_models().get("ME5_SMALL")
    if not model:
        raise SystemExit("multilingual-e5-small not found: set ME5_SMALL or add ../shared")
    data_dir = str(args.data_dir or default_data_dir())
    result: dict[str, Any] = {
        "benchmark": "levers",
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench_levers "
        f"--train_sents {args.train_sents} --dev_sents {args.dev_sents}",
        "machine": machine(),
        "transformer_model": model,
    }
    result.update(
        run(args.settings, data_dir, model, args.train_sents, args.dev_sents, args.device)
    )
    result["load_average_end"] = load_average()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for entry in result["table"]:
        print(json.dumps({k: v for k, v in entry.items() if k != "overrides"}))
    print(f"results: {out}")
    return result


if __name__ == "__main__":
    main()
