"""The in-run reference for the speed targets (issue 17): a plain fine-tuning loop, written here
the way a user of Hugging Face transformers and pytorch-crf would write it, trained and used for
prediction on the same data, with the same encoder and threads, in the same benchmark run as
machamp-lite. The speed targets are ratios against it, so that they hold on any machine.

The loop: ``AutoModel`` + dropout + a linear layer + pytorch-crf's ``CRF`` over the first
subword of each word (labels on first subwords, -100 elsewhere, as in transformers' run_ner
example), every weight trained (the embedding matrix too), AdamW with the library's default
recipe (encoder lr 1e-4, linear layer and CRF 1e-3, weight decay 0.01 except biases and
LayerNorm weights, linear warm-up over 10% of the steps then linear decay, gradient norm
clipped at 1.0), batches of 32 sentences in file order, padded to the longest in the batch,
fp32, sentences truncated at 512 subwords (the model's positions when fewer). Prediction: the
dev sentences in batches of 32 in file order under ``torch.no_grad``, Viterbi with pytorch-crf's
``decode``; a word without a subword of its own (cut by truncation, or a character the
tokenizer drops) is labelled O, so predictions stay one per word.

It is a baseline: keep it plain, neither slowed down nor tuned. Data are read with the library's
reader from the same files and limits as ``bench_train_predict`` (same sentences, same gold
labels after IOB2 normalisation) and the dev predictions are scored with the library's span F1,
as its run scores them. Like the library's ``train_seconds``, training speed counts the epochs'
steps, not the subword tokenization of the training data before them (timed apart);
prediction speed counts everything from the words to the labels, like ``Predictor.predict``.

    python -m benchmarks.bench_reference [--epochs 1] [--train_sents 500] [--dev_sents 200]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_train_predict import (
    DATASET,
    TASK,
    default_data_dir,
    find_models,
    load_average,
    machine,
    run_child,
    train_file,
    write_configs,
)

MODULE = "benchmarks.bench_reference"
BATCH_SIZE = 32
MAX_LENGTH = 512
ENCODER_LR = 1e-4
HEAD_LR = 1e-3
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.1
GRAD_CLIP = 1.0
DROPOUT = 0.1
SEED = 1
IGNORE = -100


def missing_dependency() -> str | None:
    """Why the reference cannot run here, or None."""
    try:
        import torchcrf  # noqa: F401
    except ImportError:
        return "pytorch-crf is not installed (pip install pytorch-crf==0.7.2)"
    return None


def read_data(model: str, data_dir: str, train_sents: int, dev_sents: int) -> tuple[list, list]:
    """Train and dev sentences exactly as the library's run of bench_train_predict reads them."""
    from machamp_lite.config import load_dataset_configs
    from machamp_lite.data.dataset import read_dataset_file

    with tempfile.TemporaryDirectory(prefix="bench-reference-") as tmp:
        dataset_path, _ = write_configs(Path(tmp), model, train_sents, dev_sents, 1)
        dataset = load_dataset_configs([str(dataset_path)], data_dir, [])[DATASET]
    train = [s for path in dataset["train_data_path"] for s in read_dataset_file(dataset, path)]
    dev = [
        s
        for path in dataset["dev_data_path"]
        for s in read_dataset_file(dataset, path, limit=dataset.get("max_dev_sents", -1))
    ]
    return train, dev


def build_tagger(model: str, num_tags: int) -> Any:
    import torch
    from torchcrf import CRF
    from transformers import AutoModel

    class Tagger(torch.nn.Module):
        """Encoder, dropout, linear layer, CRF over the first subword of each word."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(model)
            self.dropout = torch.nn.Dropout(DROPOUT)
            self.linear = torch.nn.Linear(self.encoder.config.hidden_size, num_tags)
            self.crf = CRF(num_tags, batch_first=True)

        def word_scores(self, batch: dict[str, Any], first: Any) -> tuple[Any, Any, Any]:
            """Emissions of the selected (first) subwords, moved to the left of each row, with
            their mask and the order that moved them; a row without any gets one dummy
            position, since pytorch-crf needs the first step of every row."""
            hidden = self.encoder(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            scores = self.linear(self.dropout(hidden))
            counts = first.sum(dim=1)
            width = max(int(counts.max()), 1)
            order = torch.argsort((~first).to(torch.int8), dim=1, stable=True)[:, :width]
            emissions = scores.gather(1, order.unsqueeze(-1).expand(-1, -1, scores.shape[-1]))
            mask = torch.arange(width)[None, :] < counts[:, None]
            mask[:, 0] = True
            return emissions, mask, order

        def loss(self, batch: dict[str, Any]) -> Any:
            labels = batch["labels"]
            emissions, mask, order = self.word_scores(batch, labels != IGNORE)
            tags = labels.gather(1, order).clamp(min=0)
            return -self.crf(emissions, tags, mask=mask, reduction="mean")

        def decode(self, batch: dict[str, Any], first: Any) -> list[list[int]]:
            emissions, mask, _ = self.word_scores(batch, first)
            return self.crf.decode(emissions, mask=mask)

    return Tagger()


def pad(rows: list[list[int]], value: int) -> Any:
    import torch

    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows])


def encode_train(tokenizer: Any, sentences: list, tag_ids: dict[str, int], max_length: int):
    """Subword ids with the run_ner labels: the tag on each word's first subword, -100 on the
    others and on special tokens. Sentences left without a labelled subword are dropped (a
    CRF needs at least one step)."""
    encoded = tokenizer(
        [s.words for s in sentences],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
    )
    examples = []
    for index, sentence in enumerate(sentences):
        labels, previous = [], None
        for word in encoded.word_ids(index):
            first = word is not None and word != previous
            labels.append(tag_ids[sentence.labels[TASK][word]] if first else IGNORE)
            previous = word
        if any(label != IGNORE for label in labels):
            examples.append((encoded["input_ids"][index], labels))
    return examples


def train(tagger: Any, examples: list, pad_id: int, epochs: int) -> list[float]:
    """The training loop; returns each epoch's seconds."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in tagger.named_parameters():
        no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
        groups.setdefault((name.startswith("encoder."), no_decay), []).append(parameter)
    optimizer = torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": ENCODER_LR if encoder else HEAD_LR,
                "weight_decay": 0.0 if no_decay else WEIGHT_DECAY,
            }
            for (encoder, no_decay), params in groups.items()
        ]
    )
    batches = [examples[i : i + BATCH_SIZE] for i in range(0, len(examples), BATCH_SIZE)]
    total = len(batches) * epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(WARMUP_FRACTION * total), total
    )
    tagger.train()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch_examples in batches:
            ids = pad([ids for ids, _ in batch_examples], pad_id)
            lengths = torch.tensor([len(ids) for ids, _ in batch_examples])
            batch = {
                "input_ids": ids,
                "attention_mask": (torch.arange(ids.shape[1])[None] < lengths[:, None]).long(),
                "labels": pad([labels for _, labels in batch_examples], IGNORE),
            }
            loss = tagger.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), GRAD_CLIP)
            optimizer.step()
            scheduler.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def predict(tagger: Any, tokenizer: Any, words: list[list[str]], tags: list[str], max_length: int):
    """Labels for every word of every sentence, batch by batch in file order."""
    import torch

    tagger.eval()
    predicted: list[list[str]] = []
    with torch.no_grad():
        for start in range(0, len(words), BATCH_SIZE):
            chunk = words[start : start + BATCH_SIZE]
            batch = tokenizer(
                chunk,
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            first = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
            owners = []
            for row in range(len(chunk)):
                previous, owner = None, []
                for position, word in enumerate(batch.word_ids(row)):
                    if word is not None and word != previous:
                        first[row, position] = True
                        owner.append(word)
                    previous = word
                owners.append(owner)
            paths = tagger.decode(batch, first)
            for sentence, owner, path in zip(chunk, owners, paths):
                labels = ["O"] * len(sentence)
                for word, tag in zip(owner, path):
                    labels[word] = tags[tag]
                predicted.append(labels)
    return predicted


def train_and_predict(
    model: str,
    data_dir: str,
    train_sents: int = 500,
    dev_sents: int = 200,
    epochs: int = 1,
    threads: int = 2,
    predict_repeats: int = 3,
) -> dict[str, Any]:
    """Train the reference loop and predict the dev sentences ``predict_repeats`` times (median
    seconds, as for the library); speeds, dev span F1 and peak RSS."""
    import torch
    from transformers import AutoTokenizer

    from machamp_lite.metrics.span_f1 import span_f1

    load_before = load_average()
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    train_sentences, dev_sentences = read_data(model, data_dir, train_sents, dev_sents)
    tags = sorted({tag for s in train_sentences for tag in s.labels[TASK]})
    tokenizer = AutoTokenizer.from_pretrained(model)
    tagger = build_tagger(model, len(tags))
    max_length = min(MAX_LENGTH, tagger.encoder.config.max_position_embeddings)
    start = time.perf_counter()
    examples = encode_train(
        tokenizer, train_sentences, {t: i for i, t in enumerate(tags)}, max_length
    )
    tokenize_seconds = time.perf_counter() - start
    if not examples:
        raise RuntimeError("reference: no training sentence has a word with a subword")
    epoch_seconds = train(tagger, examples, tokenizer.pad_token_id, epochs)
    dev_words = [s.words for s in dev_sentences]
    rounds, predicted = [], []
    for _ in range(predict_repeats):
        start = time.perf_counter()
        predicted = predict(tagger, tokenizer, dev_words, tags, max_length)
        rounds.append(time.perf_counter() - start)
    if [len(p) for p in predicted] != [len(w) for w in dev_words]:
        raise RuntimeError("reference prediction: not one label per dev word")
    scores = span_f1([s.labels[TASK] for s in dev_sentences], predicted)
    per_epoch = [len(examples) / seconds for seconds in epoch_seconds]
    return {
        "settings": {
            "transformer_model": model,
            "train_sentences_per_language": train_sents,
            "dev_sentences_per_language": dev_sents,
            "epochs": epochs,
            "threads": threads,
            "batch_size": BATCH_SIZE,
            "max_length": max_length,
            "encoder_lr": ENCODER_LR,
            "head_lr": HEAD_LR,
            "weight_decay": WEIGHT_DECAY,
            "warmup_fraction": WARMUP_FRACTION,
            "grad_clip": GRAD_CLIP,
            "seed": SEED,
        },
        "train_sentences": len(examples),
        "train_sentences_dropped": len(train_sentences) - len(examples),
        "train_tokenize_seconds": round(tokenize_seconds, 2),
        "epoch_seconds": [round(s, 2) for s in epoch_seconds],
        "train_sentences_per_s": round(statistics.median(per_epoch), 2),
        "dev_sentences": len(dev_words),
        "predict_rounds_seconds": [round(s, 2) for s in rounds],
        "predict_sentences_per_s": round(len(dev_words) / statistics.median(rounds), 2),
        "dev_micro_f1": scores["micro"]["f1"],
        "trainable_parameters": sum(p.numel() for p in tagger.parameters() if p.requires_grad),
        "parameters": sum(p.numel() for p in tagger.parameters()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def run(quick: bool = True, data_dir: str | None = None, model: str | None = None) -> dict:
    """The reference part of benchmarks.run, in a fresh process: as many epochs as the
    library's default-recipe run (1 quick, 4 full), or why it was skipped. One prediction
    pass: at the reference's speed it lasts minutes (about 12 sentences/s on the anchor
    setup), long enough to average the machine's load, where the library's 17 s passes need
    the median of three."""
    data_dir = str(data_dir or default_data_dir())
    model = model or find_models().get("ME5_SMALL")
    reason = missing_dependency()
    if reason is None and not model:
        reason = "multilingual-e5-small not found: set ME5_SMALL or add ../shared"
    if reason is None and not Path(data_dir, train_file("en")).exists():
        reason = f"MultiCoNER not found under {data_dir} (--data_dir)"
    if reason is not None:
        return {"skipped": reason}
    spec = {
        "model": model,
        "data_dir": data_dir,
        "epochs": 1 if quick else 4,
        "threads": 2,
        "predict_repeats": 1,
    }
    return run_child(MODULE, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--model", default=None, help="default: $ME5_SMALL or get-models")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train_sents", type=int, default=500, help="per train file")
    parser.add_argument("--dev_sents", type=int, default=200, help="per dev file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="prediction passes (median)")
    args = parser.parse_args(argv)
    for name in ("epochs", "train_sents", "dev_sents", "threads", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.child:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
        spec = json.loads(args.child)
        print(
            json.dumps(
                train_and_predict(
                    spec["model"],
                    spec["data_dir"],
                    spec.get("train_sents", 500),
                    spec.get("dev_sents", 200),
                    spec.get("epochs", 1),
                    spec.get("threads", 2),
                    spec.get("predict_repeats", 3),
                )
            )
        )
        return
    reason = missing_dependency()
    if reason:
        raise SystemExit(f"bench_reference: {reason}")
    spec = {
        "model": args.model or find_models().get("ME5_SMALL"),
        "data_dir": str(args.data_dir or default_data_dir()),
        "epochs": args.epochs,
        "train_sents": args.train_sents,
        "dev_sents": args.dev_sents,
        "threads": args.threads,
        "predict_repeats": args.repeats,
    }
    result = run_child(MODULE, spec)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
