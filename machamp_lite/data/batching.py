"""Length-bucketed batches bounded by ``batch_size`` and ``max_tokens``, one dataset per batch,
and MaChAmp's sampling smoothing across datasets."""

from __future__ import annotations

import random
from collections.abc import Sequence


def make_batches(
    lengths: Sequence[int],
    batch_size: int,
    max_tokens: int,
    rng: random.Random | None = None,
) -> list[list[int]]:
    """Group sentence indices into batches of similar length.

    Sentences are sorted by length (ties broken randomly when ``rng`` is given), then cut
    greedily so that each batch holds at most ``batch_size`` sentences and its padded size
    (longest length x sentences) stays within ``max_tokens``. A sentence longer than
    ``max_tokens`` gets a batch of its own rather than being dropped.
    """
    order = list(range(len(lengths)))
    if rng is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        length = lengths[index]
        new_longest = max(longest, length)
        if current and (
            len(current) >= batch_size or new_longest * (len(current) + 1) > max_tokens
        ):
            batches.append(current)
            current, new_longest = [], length
        current.append(index)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def smoothed_batch_counts(sizes: dict[str, int], alpha: float) -> dict[str, int]:
    """How many batches to draw from each dataset per epoch.

    With ``alpha`` = 1 every dataset contributes all its batches. Below 1, each dataset's share
    is proportional to ``size ** alpha`` (MaChAmp's smoothing), keeping the epoch's total number
    of batches: small datasets are oversampled and large ones undersampled.
    """
    if alpha >= 1.0 or len(sizes) < 2:
        return dict(sizes)
    total = sum(sizes.values())
    weights = {name: size**alpha for name, size in sizes.items()}
    norm = sum(weights.values())
    return {name: max(1, round(total * weight / norm)) for name, weight in weights.items()}


def epoch_schedule(
    batches_per_dataset: dict[str, list[list[int]]], alpha: float, rng: random.Random
) -> list[tuple[str, list[int]]]:
    """The epoch's (dataset, batch) sequence, datasets interleaved at random."""
    counts = smoothed_batch_counts({n: len(b) for n, b in batches_per_dataset.items()}, alpha)
    schedule: list[tuple[str, list[int]]] = []
    for name, batches in batches_per_dataset.items():
        if not batches:
            continue
        wanted = counts[name]
        picked = list(batches)
        rng.shuffle(picked)
        while len(picked) < wanted:
            extra = list(batches)
            rng.shuffle(extra)
            picked.extend(extra)
        schedule.extend((name, batch) for batch in picked[:wanted])
    rng.shuffle(schedule)
    return schedule
