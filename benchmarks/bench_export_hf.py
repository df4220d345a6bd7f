"""How much span F1 a CRF model gives up when it is exported (``machamp-lite export --format
hf``) and run by a ``transformers`` token-classification pipeline, which takes each word's best
label on its own instead of the CRF's best sequence.

A ``seq_bio`` model is trained briefly with all-MiniLM-L6-v2 on the first MultiCoNER English
train sentences, then the same dev sentences are labelled three ways and scored with
machamp-lite's span F1 (conlleval):

- ``machamp_lite``: ``Predictor.predict``, Viterbi decoding under the BIO constraints;
- ``pipeline``: the exported folder in ``pipeline("token-classification",
  aggregation_strategy="first")`` on the pre-split words, its entity groups mapped back to
  words (what a user of the export gets);
- ``argmax``: the exported ``AutoModelForTokenClassification``'s best label for each word's
  first subword, read as conlleval reads tags (an ``I-`` after ``O`` starts a span).

    python -m benchmarks.bench_export_hf [--train_sents 2000] [--dev_sents 500] [--epochs 2]
        [--threads 2] [--out benchmarks/results/export_hf.json]

About ten minutes on 2 CPU cores shared with other work. Needs ../shared/data and the offline
encoders (../shared/tools/get-models, or $MINILM).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import default_data_dir, find_models, load_average, machine

RESULTS = Path(__file__).resolve().parent / "results"
TRAIN = "multiconer2022/EN-English/en_train.conll"
DEV = "multiconer2022/EN-English/en_dev.conll"


def read_conll(path: Path, limit: int) -> tuple[list[list[str]], list[list[str]]]:
    """Words and tags of the first ``limit`` sentences: the first and last field of each token
    line, ``# id`` lines skipped (data README)."""
    words: list[list[str]] = []
    tags: list[list[str]] = []
    current: list[list[str]] = [[], []]
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        fields = line.split()
        if not fields:
            if current[0]:
                words.append(current[0])
                tags.append(current[1])
                current = [[], []]
                if len(words) == limit:
                    break
        elif not line.startswith("# id"):
            current[0].append(fields[0])
            current[1].append(fields[-1])
    return words, tags


def groups_to_tags(words: list[str], groups: list[dict[str, Any]]) -> list[str]:
    """The pipeline's entity groups (character offsets in the words joined by spaces) as one
    BIO tag per word."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    tags = ["O"] * len(words)
    for group in groups:
        covered = [
            i
            for i, start in enumerate(starts)
            if start < group["end"] and start + len(words[i]) > group["start"]
        ]
        for k, i in enumerate(covered):
            tags[i] = ("B-" if k == 0 else "I-") + group["entity_group"]
    return tags


def invalid_transitions(sentences: list[list[str]]) -> int:
    """``I-X`` tags whose previous tag is neither ``B-X`` nor ``I-X`` (the CRF forbids them)."""
    count = 0
    for tags in sentences:
        previous = "O"
        for tag in tags:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                count += 1
            previous = tag
    return count


def first_subword_argmax(folder: Path, sentences: list[list[str]]) -> list[list[str]]:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    labels = model.config.id2label
    result = []
    for words in sentences:
        inputs = tokenizer(words, is_split_into_words=True, return_tensors="pt", truncation=True)
        with torch.no_grad():
            best = model(**inputs).logits[0].argmax(-1).tolist()
        tags = ["O"] * len(words)
        seen = set()
        for position, word in enumerate(inputs.word_ids(0)):
            if word is not None and word not in seen:
                seen.add(word)
                tags[word] = labels[best[position]]
        result.append(tags)
    return result


def score(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    from machamp_lite.metrics.span_f1 import span_f1

    result = span_f1(gold, predicted)
    micro = {k: round(float(result["micro"][k]), 4) for k in ("precision", "recall", "f1")}
    return {**micro, "macro_f1": round(float(result["macro"]["f1"]), 4)}


def measure(model: str, data_dir: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    import machamp_lite
    from machamp_lite.export_hf import export_hf

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    dataset = {
        "en": {
            "train_data_path": str(data_dir / TRAIN),
            "word_idx": 0,
            "max_sents": args.train_sents,
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        }
    }
    params = {"transformer_model": model, "training": {"num_epochs": args.epochs}}
    (work / "dataset.json").write_text(json.dumps(dataset))
    (work / "params.json").write_text(json.dumps(params))
    started = time.perf_counter()
    run = machamp_lite.train(
        [str(work / "dataset.json")],
        str(work / "params.json"),
        output_dir=str(work / "logs"),
        device="cpu",
        seed=1,
        threads=args.threads,
    )
    train_seconds = time.perf_counter() - started
    words, gold = read_conll(data_dir / DEV, args.dev_sents)

    started = time.perf_counter()
    predictor = machamp_lite.Predictor.load(run / "model", "cpu")
    crf = [labels["ner"] for labels in predictor.predict(words)]
    crf_seconds = time.perf_counter() - started

    export_hf(run / "model", work / "hf", task="ner")
    folder = work / "hf" / "token_classification"
    started = time.perf_counter()
    tagger = pipeline("token-classification", model=str(folder), device="cpu")
    found = tagger(words, is_split_into_words=True, aggregation_strategy="first", batch_size=32)
    grouped = [groups_to_tags(w, groups) for w, groups in zip(words, found)]
    pipeline_seconds = time.perf_counter() - started
    argmax = first_subword_argmax(folder, words)
    return {
        "train_seconds": round(train_seconds, 1),
        "predict_seconds": {
            "machamp_lite": round(crf_seconds, 1),
            "pipeline": round(pipeline_seconds, 1),
        },
        "span_f1": {
            "machamp_lite": score(gold, crf),
            "pipeline": score(gold, grouped),
            "argmax": score(gold, argmax),
        },
        "invalid_bio_transitions": {
            "machamp_lite": invalid_transitions(crf),
            "argmax": invalid_transitions(argmax),
        },
        "words_labelled_differently": {
            "pipeline": sum(a != b for s, t in zip(crf, grouped) for a, b in zip(s, t)),
            "argmax": sum(a != b for s, t in zip(crf, argmax) for a, b in zip(s, t)),
            "of": sum(map(len, words)),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_sents", type=int, default=2000)
    parser.add_argument("--dev_sents", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", default=str(RESULTS / "export_hf.json"))
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    model = find_models().get("MINILM")
    if not (data_dir / TRAIN).is_file() or not model:
        print(f"needs {data_dir / TRAIN} and the MiniLM encoder ($MINILM)", file=sys.stderr)
        return 2
    description = machine()
    with tempfile.TemporaryDirectory(prefix="bench-export-hf-") as work:
        results = measure(model, data_dir, args, Path(work))
    report = {
        "benchmark": "export_hf",
        "command": "python -m benchmarks.bench_export_hf " + " ".join(sys.argv[1:] or argv or []),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": description,
        "load_average_end": load_average(),
        "model": "all-MiniLM-L6-v2, seq_bio (CRF), default_params.json otherwise, seed 1",
        "data": {"train": TRAIN, "dev": DEV},
        "train_sents": args.train_sents,
        "dev_sents": args.dev_sents,
        "epochs": args.epochs,
        "threads": args.threads,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["results"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
