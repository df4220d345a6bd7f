"""MaChAmp's recipe against machamp-lite's on real data (issue 14): MaChAmp's own
``configs/ner.json`` on DaN+ news (Danish NER, 4,383 training sentences) with
multilingual-e5-small, trained once with MaChAmp's v0.4.2 parameter file (so the MaChAmp
profile beneath it) and once with machamp-lite's default recipe, for the same number of
epochs. Both runs go through the real command line, one after the other (or side by side with
``--parallel``, one thread each), and the JSON holds each epoch's dev span F1 and time.

    python -m benchmarks.bench_machamp_profile [--epochs 3] [--parallel]
        [--out benchmarks/results/machamp_profile_danplus.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import (
    child_environment,
    default_data_dir,
    find_models,
    machine,
)

ROOT = Path(__file__).resolve().parent.parent
MACHAMP = ROOT / "tests" / "machamp_configs"
RESULTS = Path(__file__).resolve().parent / "results"


def configs(folder: Path, data: Path, model: str, epochs: int) -> dict[str, list[str]]:
    """The two runs' command-line arguments. MaChAmp's files change only in the data paths,
    the encoder and the number of epochs (the same for both recipes)."""
    ner = (MACHAMP / "ner.json").read_text(encoding="utf-8")
    ner = ner.replace("data/da_news_train.tsv", str(data / "danplus" / "da_news_train.tsv"))
    ner = ner.replace("data/da_news_dev.tsv", str(data / "danplus" / "da_news_dev.tsv"))
    (folder / "ner.json").write_text(ner, encoding="utf-8")
    params = (MACHAMP / "params-nodiv-1.json").read_text(encoding="utf-8")
    params = params.replace('"bert-base-multilingual-cased"', json.dumps(model))
    params = params.replace('"num_epochs": 20', f'"num_epochs": {epochs}')
    (folder / "machamp.json").write_text(params, encoding="utf-8")
    own = {"transformer_model": model, "training": {"num_epochs": epochs}}
    (folder / "lite.json").write_text(json.dumps(own), encoding="utf-8")
    return {
        recipe: ["--dataset_configs", str(folder / "ner.json"), "--parameters_config", str(path)]
        for recipe, path in (
            ("machamp_profile", folder / "machamp.json"),
            ("machamp_lite", folder / "lite.json"),
        )
    }


def command(arguments: list[str], output: Path, recipe: str, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "machamp_lite",
        "train",
        *arguments,
        "--name",
        recipe,
        "--output_dir",
        str(output),
        "--device",
        "cpu",
        "--threads",
        str(threads),
    ]


def curve(run_dir: Path) -> dict[str, Any]:
    report = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    epochs = []
    for record in report["epochs"]:
        [(_, result)] = record["dev"].items()
        epochs.append(
            {
                "epoch": record["epoch"],
                "dev_span_f1": result["score"],
                "train_seconds": round(record["train_seconds"], 1),
                "epoch_seconds": round(record["epoch_seconds"], 1),
                "learning_rate": record["learning_rate"],
            }
        )
    return {
        "epochs": epochs,
        "best_epoch": report["best_epoch"],
        "best_dev_span_f1": report["best_dev_sum"],
        "training_seconds": round(report["training_seconds"], 1),
        "trainable_parameters": report["trainable_parameters"],
        "peak_rss_mb": report["peak_rss_mb"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--parallel", action="store_true", help="both runs at once, 1 thread each")
    parser.add_argument("--out", default=str(RESULTS / "machamp_profile_danplus.json"))
    args = parser.parse_args(argv)
    data = default_data_dir()
    model = find_models().get("ME5_SMALL")
    if not model or not (data / "danplus" / "da_news_train.tsv").is_file():
        raise SystemExit("needs multilingual-e5-small (../shared/tools/get-models) and DaN+")
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    before = machine()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        runs = configs(folder, data, model, args.epochs)
        threads = 1 if args.parallel else 2
        processes = {}
        for recipe, arguments in runs.items():
            cmd = command(arguments, folder / "logs", recipe, threads)
            processes[recipe] = subprocess.Popen(cmd, env=child_environment())
            if not args.parallel:
                processes[recipe].wait()
        for recipe, process in processes.items():
            if process.wait() != 0:
                raise SystemExit(f"the {recipe} run failed (exit {process.returncode})")
        results = {recipe: curve(next((folder / "logs" / recipe).iterdir())) for recipe in runs}
    report = {
        "benchmark": "machamp_profile_danplus",
        "started": started,
        "command": "python -m benchmarks.bench_machamp_profile " + " ".join(argv or sys.argv[1:]),
        "machine": before,
        "load_average_after": machine()["load_average"],
        "data": "DaN+ da_news train (4,383 sentences) / dev (564), outer NER level (column 1)",
        "encoder": "multilingual-e5-small",
        "epochs": args.epochs,
        "threads_per_run": threads,
        "parallel": args.parallel,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
