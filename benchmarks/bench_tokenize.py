"""Data preparation speed: reading the seven full MultiCoNER train sets (en de es nl ru tr ko:
107,100 sentences) and tokenizing them into subwords with the XLM-R tokenizer of
multilingual-e5-small (2.7M subwords), through the project's own path: ``read_dataset_file``
(the column reader and IOB2 normalisation), then ``SubwordTokenizer.encode_many`` on the
tokenizer from ``load_tokenizer``. MaChAmp v0.4 took 204 s for the same on this machine type.

Each measurement runs in a fresh process (the word cache and the garbage collector start
empty); loading the tokenizer is timed apart, since it does not grow with the data.

    python -m benchmarks.bench_tokenize [--repeats 3] [--data_dir D] [--code DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import (
    TRAIN_LANGUAGES,
    default_data_dir,
    find_models,
    load_average,
    machine,
    run_child,
    train_file,
    use_code,
)

MODULE = "benchmarks.bench_tokenize"
DATASET = "multiconer_train"


def measure(model: str, data_dir: str) -> dict[str, Any]:
    """One measurement in this process."""
    from machamp_lite.config import load_dataset_configs
    from machamp_lite.data.dataset import read_dataset_file
    from machamp_lite.data.tokenization import SubwordTokenizer
    from machamp_lite.modules.encoder import load_tokenizer

    config = {
        DATASET: {
            "train_data_path": [train_file(language) for language in TRAIN_LANGUAGES],
            "word_idx": 0,
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        }
    }
    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as tmp:
        path = Path(tmp) / "dataset.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        dataset = load_dataset_configs([str(path)], data_dir, [])[DATASET]
    load_before = load_average()
    start = time.perf_counter()
    tokenizer = load_tokenizer(model)
    subwords = SubwordTokenizer(tokenizer)
    loaded = time.perf_counter()
    sentences = [s for path in dataset["train_data_path"] for s in read_dataset_file(dataset, path)]
    read = time.perf_counter()
    encoded = subwords.encode_many([s.words for s in sentences])
    done = time.perf_counter()
    total = done - loaded
    return {
        "sentences": len(sentences),
        "words": sum(len(s.words) for s in sentences),
        "subwords": sum(len(e.subword_ids) for e in encoded),
        "tokenizer_load_seconds": round(loaded - start, 2),
        "read_seconds": round(read - loaded, 2),
        "subword_seconds": round(done - read, 2),
        "seconds": round(total, 2),
        "sentences_per_s": round(len(sentences) / total),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def run(
    quick: bool = True,
    data_dir: str | None = None,
    model: str | None = None,
    repeats: int | None = None,
) -> dict[str, Any]:
    """Median over fresh-process measurements (1 when quick, else 3) of read + tokenize time,
    reported as ``tokenize_seconds_multiconer_train``."""
    data_dir = str(data_dir or default_data_dir())
    model = model or find_models().get("ME5_SMALL")
    if not model:
        return {"skipped": "multilingual-e5-small not found: set ME5_SMALL or add ../shared"}
    if not Path(data_dir, train_file("en")).exists():
        return {"skipped": f"MultiCoNER not found under {data_dir} (--data_dir)"}
    repeats = repeats or (1 if quick else 3)
    runs = [run_child(MODULE, {"model": model, "data_dir": data_dir}) for _ in range(repeats)]
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {
        "tokenize_seconds_multiconer_train": best["seconds"],
        "sentences_per_s": best["sentences_per_s"],
        "sentences": best["sentences"],
        "subwords": best["subwords"],
        "seconds_each_run": [r["seconds"] for r in runs],
        "median_run": best,
        "median_seconds": statistics.median(r["seconds"] for r in runs),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--model", default=None, help="default: $ME5_SMALL or get-models")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--code", default=None, help="folder holding another machamp_lite")
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
        use_code(spec.get("code"))
        print(json.dumps(measure(spec["model"], spec["data_dir"])))
        return
    model = args.model or find_models().get("ME5_SMALL")
    data_dir = str(args.data_dir or default_data_dir())
    spec = {"model": model, "data_dir": data_dir, "code": args.code}
    runs = [run_child(MODULE, spec) for _ in range(args.repeats)]
    seconds = sorted(r["seconds"] for r in runs)
    print(json.dumps({"runs": runs, "median_seconds": seconds[len(seconds) // 2], **machine()}))


if __name__ == "__main__":
    main()
