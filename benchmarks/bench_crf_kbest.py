"""What ``--topn`` costs on a CRF task: k-best Viterbi (n = 3, probabilities included) against
plain viterbi_decode on one batch of 32 MultiCoNER-shaped sentences (lengths 5-40 words, the
13 BIO labels of MultiCoNER 2022's six types, BIO constraints on), one torch thread.

    python -m benchmarks.bench_crf_kbest [--repeats 50] [--out benchmarks/results/crf_kbest.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_crf import median_ms
from benchmarks.bench_train_predict import load_average, machine
from machamp_lite.modules.crf import ConditionalRandomField, bio_transition_constraints
from machamp_lite.modules.crf_kbest import kbest_viterbi

TYPES = ("PER", "LOC", "GRP", "CORP", "PROD", "CW")
LABELS = ["O"] + [f"{prefix}-{kind}" for kind in TYPES for prefix in ("B", "I")]
BATCH = 32
LENGTHS = (5, 40)
SEED = 16
OUT = Path(__file__).resolve().parent / "results" / "crf_kbest.json"


def inputs() -> tuple[ConditionalRandomField, torch.Tensor, torch.Tensor]:
    """A constrained CRF with trained-looking scores and one padded batch."""
    generator = torch.Generator().manual_seed(SEED)
    crf = ConditionalRandomField(len(LABELS), bio_transition_constraints(LABELS))
    with torch.no_grad():
        for param in crf.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    lengths = torch.randint(LENGTHS[0], LENGTHS[1] + 1, (BATCH,), generator=generator)
    lengths[0] = LENGTHS[1]
    steps = int(lengths.max())
    emissions = torch.randn(BATCH, steps, len(LABELS), generator=generator) * 3
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return crf, emissions, mask


def run(repeats: int = 50) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        crf, emissions, mask = inputs()
        functions = {
            "viterbi_decode": lambda: crf.viterbi_decode(emissions, mask),
            "kbest_n1": lambda: kbest_viterbi(crf, emissions, mask, 1),
            "kbest_n3": lambda: kbest_viterbi(crf, emissions, mask, 3),
            "kbest_n10": lambda: kbest_viterbi(crf, emissions, mask, 10),
        }
        times = median_ms(functions, repeats, warmup=5)
        best = kbest_viterbi(crf, emissions, mask, 3)
        same = [entries[0][0] for entries in best] == crf.viterbi_decode(emissions, mask)
    finally:
        torch.set_num_threads(threads)
    return {
        "batch": BATCH,
        "sentence_lengths": list(LENGTHS),
        "words": int(mask.sum()),
        "num_tags": len(LABELS),
        "constrained": True,
        "threads": 1,
        "repeats": repeats,
        "median_ms": {name: round(ms, 3) for name, ms in times.items()},
        "kbest_n3_over_viterbi": round(times["kbest_n3"] / times["viterbi_decode"], 2),
        "kbest_n1_same_paths_as_viterbi": same,
        "mean_probability_mass_of_3_best": round(
            sum(sum(p for _, p in entries) for entries in best) / BATCH, 4
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "crf_kbest",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "command": f"python -m benchmarks.bench_crf_kbest --repeats {args.repeats}",
        "machine": machine(),
    }
    result.update(run(args.repeats))
    result["load_average_end"] = load_average()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
