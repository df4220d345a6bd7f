"""Time ``evaluate_files`` (reading, alignment check and scoring) on generated MultiCoNER-style
files of two sizes, to check that the whole ``evaluate`` path stays linear in the input."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from typing import Any

from machamp_lite.evaluation import evaluate_files

SEED = 7
TYPES = ("PER", "LOC", "CORP", "GRP", "PROD", "CW")
MEAN_LENGTH = 10  # tokens per sentence, about MultiCoNER's test-set mean
CORRUPTION_RATE = 0.10
QUICK_SENTENCES = 20_000
FULL_SENTENCES = 472_000  # the MultiCoNER 2022 multilingual test set, rounded


def _write_pair(folder: str, n_sentences: int, rng: random.Random) -> tuple[str, str, int]:
    """A gold file and a prediction with ``CORRUPTION_RATE`` of its tags changed; returns the
    paths and the number of tokens."""
    gold_path = os.path.join(folder, f"gold_{n_sentences}.conll")
    pred_path = os.path.join(folder, f"pred_{n_sentences}.conll")
    tokens = 0
    with (
        open(gold_path, "w", encoding="utf-8") as gold,
        open(pred_path, "w", encoding="utf-8") as pred,
    ):
        for index in range(n_sentences):
            header = f"# id {index:08d}\tdomain=bench\n"
            gold.write(header)
            pred.write(header)
            length = max(1, int(rng.expovariate(1 / MEAN_LENGTH) + 0.5))
            tokens += length
            previous = "O"
            for position in range(length):
                if rng.random() < 0.75:
                    tag = "O"
                elif previous != "O" and rng.random() < 0.5:
                    tag = "I-" + previous[2:]
                else:
                    tag = "B-" + rng.choice(TYPES)
                previous = tag
                predicted = tag
                if rng.random() < CORRUPTION_RATE:
                    predicted = rng.choice(
                        ["O", "B-" + rng.choice(TYPES), "I-" + rng.choice(TYPES)]
                    )
                word = f"w{position}"
                gold.write(f"{word} _ _ {tag}\n")
                pred.write(f"{word} _ _ {predicted}\n")
            gold.write("\n")
            pred.write("\n")
    return gold_path, pred_path, tokens


def run(quick: bool = True) -> dict[str, Any]:
    """Time ``n`` and ``2n`` sentences (best of one run when quick, of three otherwise)."""
    rng = random.Random(SEED)
    small = QUICK_SENTENCES if quick else FULL_SENTENCES // 2
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in (small, 2 * small):
            gold, pred, tokens = _write_pair(folder, n, rng)
            timings = []
            for _ in range(1 if quick else 3):
                started = time.perf_counter()
                scores = evaluate_files(gold, pred)
                timings.append(time.perf_counter() - started)
            seconds = min(timings)
            results[str(n)] = {
                "sentences": n,
                "tokens": tokens,
                "seconds": round(seconds, 3),
                "tokens_per_s": round(tokens / seconds),
                "micro_f1": round(scores["micro"]["f1"], 4),
            }
    first, second = results[str(small)], results[str(2 * small)]
    return {
        "evaluate_files": results,
        # Close to 2 when the time is linear in the input (per-token cost ratio close to 1).
        "time_ratio_2x_input": round(second["seconds"] / first["seconds"], 2),
        "per_token_cost_ratio": round(first["tokens_per_s"] / second["tokens_per_s"], 2),
        "quick": quick,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--full" not in sys.argv), indent=2))
