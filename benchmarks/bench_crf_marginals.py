"""Time the CRF's confidences against what the CRF already does, on MultiCoNER-shaped batches:
exact token marginals, span probabilities of the Viterbi path's entities, and both from one
pass, beside Viterbi decoding and the loss (forward + backward), at 1 and 2 torch threads.

    python -m benchmarks.bench_crf_marginals [--repeats 200] [--batches 8]
        [--out benchmarks/results/crf_marginals.json]

Batches: 32 sentences, 13 labels (B/I of 6 types + O, BIO-constrained), lengths 5-40 drawn
from the sentence lengths of MultiCoNER 2022's English train set (the histogram below, so no
data is needed), random emissions (normal, standard deviation 3) and random transition
scores. The issue's target: marginals at most 2x Viterbi (`marginals_over_viterbi`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_crf import median_ms
from benchmarks.bench_train_predict import load_average, machine
from machamp_lite.modules.crf import ConditionalRandomField, bio_transition_constraints
from machamp_lite.modules.crf_marginals import spans_from_paths

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 32
LABELS = ["O"] + [f"{prefix}-{kind}" for kind in range(6) for prefix in "BI"]
# Sentences of each length 5..40 in MultiCoNER 2022 EN-English/en_train.conll (15,300
# sentences; the 2 to 4 word ones and the three of 41 are left out).
LENGTH_COUNTS = {
    5: 32, 6: 183, 7: 348, 8: 567, 9: 763, 10: 853, 11: 835, 12: 933, 13: 984, 14: 1005,
    15: 893, 16: 882, 17: 872, 18: 760, 19: 700, 20: 657, 21: 579, 22: 519, 23: 470, 24: 441,
    25: 372, 26: 369, 27: 287, 28: 228, 29: 215, 30: 148, 31: 115, 32: 77, 33: 64, 34: 36,
    35: 18, 36: 14, 37: 4, 38: 7, 39: 8, 40: 1,
}  # fmt: skip
SEED = 16


def make_batches(count: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """`count` (emissions, tags, mask) batches, each padded to its own longest sentence."""
    generator = torch.Generator().manual_seed(SEED)
    lengths = torch.tensor(list(LENGTH_COUNTS), dtype=torch.long)
    weights = torch.tensor(list(LENGTH_COUNTS.values()), dtype=torch.float)
    batches = []
    for _ in range(count):
        drawn = lengths[torch.multinomial(weights, BATCH, True, generator=generator)]
        steps = int(drawn.max())
        emissions = torch.randn(BATCH, steps, len(LABELS), generator=generator) * 3
        tags = torch.randint(len(LABELS), (BATCH, steps), generator=generator)
        mask = torch.arange(steps)[None, :] < drawn[:, None]
        batches.append((emissions, tags, mask))
    return batches


def make_crf() -> ConditionalRandomField:
    torch.manual_seed(SEED)
    crf = ConditionalRandomField(len(LABELS), bio_transition_constraints(LABELS))
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_(0.0, 1.0)
    return crf


def contenders(
    crf: ConditionalRandomField, batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
) -> dict[str, Callable[[], object]]:
    """Each timed call runs over every batch; spans are the Viterbi path's, found beforehand."""
    spans = [spans_from_paths(crf.viterbi_decode(em, mask), LABELS) for em, _, mask in batches]
    leaves = [em.clone().requires_grad_() for em, _, _ in batches]

    def viterbi() -> None:
        for em, _, mask in batches:
            crf.viterbi_decode(em, mask)

    def marginals() -> None:
        for em, _, mask in batches:
            crf.marginals(em, mask)

    def span_probabilities() -> None:
        for (em, _, mask), rows in zip(batches, spans):
            crf.span_probabilities(em, mask, rows)

    def confidences() -> None:
        for (em, _, mask), rows in zip(batches, spans):
            crf.confidences(em, mask, rows)

    def loss() -> None:
        for leaf, (_, tags, mask) in zip(leaves, batches):
            leaf.grad = None
            crf.negative_log_likelihood(leaf, tags, mask).backward()

    return {
        "viterbi": viterbi,
        "marginals": marginals,
        "span_probabilities": span_probabilities,
        "marginals_and_spans": confidences,
        "loss_forward_backward": loss,
    }


def run(repeats: int = 200, batch_count: int = 8) -> dict[str, Any]:
    crf = make_crf()
    batches = make_batches(batch_count)
    entities = sum(
        len(spans_from_paths(crf.viterbi_decode(em, mask), LABELS)) for em, _, mask in batches
    )
    result: dict[str, Any] = {
        "benchmark": "crf_marginals",
        "machine": machine(),
        "batch": BATCH,
        "num_tags": len(LABELS),
        "constrained": True,
        "batches": batch_count,
        "words_per_batch": round(sum(int(m.sum()) for _, _, m in batches) / batch_count, 1),
        "viterbi_entities_per_batch": round(entities / batch_count, 1),
        "repeats": repeats,
        "unit": "median ms per batch of 32 sentences",
        "target": "marginals at most 2x Viterbi",
    }
    threads_before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            functions = contenders(crf, batches)
            medians = median_ms(functions, repeats, warmup=1)
            ms = {name: value / batch_count for name, value in medians.items()}
            viterbi = ms["viterbi"]
            result[f"threads_{threads}"] = {
                "ms": {name: round(value, 3) for name, value in ms.items()},
                "over_viterbi": {name: round(value / viterbi, 2) for name, value in ms.items()},
                "marginals_over_loss": round(ms["marginals"] / ms["loss_forward_backward"], 2),
            }
    finally:
        torch.set_num_threads(threads_before)
    result["marginals_over_viterbi"] = max(
        result[f"threads_{t}"]["over_viterbi"]["marginals"] for t in (1, 2)
    )
    result["target_met"] = result["marginals_over_viterbi"] <= 2.0
    result["load_average_end"] = load_average()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--out", default=str(RESULTS / "crf_marginals.json"))
    args = parser.parse_args()
    if args.repeats < 1 or args.batches < 1:
        parser.error("--repeats and --batches must be at least 1")
    result = run(args.repeats, args.batches)
    result["command"] = (
        f"python -m benchmarks.bench_crf_marginals --repeats {args.repeats} "
        f"--batches {args.batches}"
    )
    text = json.dumps(result, indent=2) + "\n"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)  # never a half-written result
    print(text, end="")


if __name__ == "__main__":
    main()
