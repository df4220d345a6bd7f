"""Time ``span_f1`` on an input the size of the MultiCoNER multilingual test set, to check that
dev scoring and ``evaluate`` stay cheap next to prediction."""

from __future__ import annotations

import glob
import json
import os
import random
import time
from typing import Any

from machamp_lite.metrics.span_f1 import span_f1

# The MultiCoNER 2022 multilingual test set, rounded: about 472k sentences and 4.6M tokens.
SENTENCES = 472_000
TOKENS = 4_600_000
CORRUPTION_RATE = 0.10
SEED = 13
_TYPES = ("PER", "LOC", "CORP", "GRP", "PROD", "CW")


def _default_data_dir() -> str:
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(repo), "shared", "data")


def _read_dev_tags(data_dir: str) -> tuple[list[list[str]], list[str]]:
    """Tag sequences of every ``multiconer2022/*/*_dev.conll``: the last field of each token line,
    sentences split at blank lines, ``# id`` comment lines skipped."""
    paths = sorted(glob.glob(os.path.join(data_dir, "multiconer2022", "*", "*_dev.conll")))
    sentences: list[list[str]] = []
    for path in paths:
        current: list[str] = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                fields = line.split()
                if not fields:
                    if current:
                        sentences.append(current)
                        current = []
                elif not line.startswith("# "):
                    current.append(fields[-1])
        if current:
            sentences.append(current)
    return sentences, paths


def _random_bio(rng: random.Random, n_sentences: int, n_tokens: int) -> list[list[str]]:
    """Random well-formed IOB2 sentences with the target mean length, when no data is at hand."""
    mean = n_tokens / n_sentences
    sentences = []
    for _ in range(n_sentences):
        length = max(1, int(rng.expovariate(1 / mean) + 0.5))
        tags = []
        i = 0
        while i < length:
            if rng.random() < 0.7:
                tags.append("O")
                i += 1
                continue
            chunk_type = rng.choice(_TYPES)
            span = min(length - i, 1 + int(rng.expovariate(1.0)))
            tags.append("B-" + chunk_type)
            tags.extend(["I-" + chunk_type] * (span - 1))
            i += span
        sentences.append(tags)
    return sentences


def _fit_size(pool: list[list[str]], n_sentences: int, n_tokens: int) -> list[list[str]]:
    """Repeat the pool to ``n_sentences`` sentences, keeping a prefix of each so that the total
    is about ``n_tokens`` (dev sentences are longer on average than the test set's; rounding
    error is carried over so the totals match closely)."""
    pool_tokens = sum(map(len, pool))
    scale = min(1.0, n_tokens / (n_sentences / len(pool) * pool_tokens))
    out: list[list[str]] = []
    carry = 0.0
    for i in range(n_sentences):
        tags = pool[i % len(pool)]
        wanted = len(tags) * scale + carry
        keep = max(1, min(len(tags), round(wanted)))
        carry = wanted - keep
        out.append(tags if keep == len(tags) else tags[:keep])
    return out


def _corrupt(
    rng: random.Random, gold: list[list[str]], vocabulary: list[str], rate: float
) -> list[list[str]]:
    """Predictions: each tag replaced, with probability ``rate``, by another tag of the data."""
    predicted = []
    uniform = rng.random
    choice = rng.choice
    for tags in gold:
        new = list(tags)
        for i, tag in enumerate(new):
            if uniform() < rate:
                replacement = choice(vocabulary)
                while replacement == tag:
                    replacement = choice(vocabulary)
                new[i] = replacement
        predicted.append(new)
    return predicted


def run(quick: bool = True, data_dir: str | None = None) -> dict[str, Any]:
    """Build the input, then time ``span_f1`` once (quick) or take the best of three runs."""
    rng = random.Random(SEED)
    directory = data_dir if data_dir is not None else _default_data_dir()
    pool, paths = _read_dev_tags(directory) if os.path.isdir(directory) else ([], [])
    if pool:
        source = (
            f"tag sequences of {len(pool)} sentences from {len(paths)} MultiCoNER 2022 dev files "
            f"in {os.path.join(directory, 'multiconer2022')}, repeated and shortened to size"
        )
        gold = _fit_size(pool, SENTENCES, TOKENS)
    else:
        source = (
            f"random IOB2 sequences: no multiconer2022/*/*_dev.conll under {directory} "
            "(not real data)"
        )
        gold = _random_bio(rng, SENTENCES, TOKENS)
    vocabulary = sorted({tag for tags in pool or gold for tag in tags})
    predicted = _corrupt(rng, gold, vocabulary, CORRUPTION_RATE)
    n_tokens = sum(map(len, gold))

    timings = []
    result: dict[str, Any] = {}
    for _ in range(1 if quick else 3):
        started = time.perf_counter()
        result = span_f1(gold, predicted)
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    return {
        "span_f1_seconds_472k_sentences": round(seconds, 3),
        "sentences": len(gold),
        "tokens": n_tokens,
        "tokens_per_s": round(n_tokens / seconds),
        "runs": len(timings),
        "corruption_rate": CORRUPTION_RATE,
        "micro_f1_of_corrupted_predictions": round(result["score"], 4),
        "data": source,
        "real_data": bool(pool),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
