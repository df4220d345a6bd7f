"""Which sentences share a training batch, and in what order an epoch sees the batches.

Three switches of MaChAmp's sampler decide it, beside the bounds ``batch_size`` (sentences) and
``max_tokens`` (padded subword positions) and the dataset ``sampling_smoothing``:

- ``sort_by_size``: cut a dataset's batches from its sentences sorted by length, so a batch
  pads little; off, they are cut in the order the sentences come in.
- ``shuffle``: randomness, redrawn every epoch: ties in length broken at random (or, unsorted,
  the sentences in random order), the datasets' batches interleaved at random, an over- or
  undersampled dataset's batches drawn at random. Off, an epoch is a fixed function of the
  data: the same batches in the same order every epoch.
- ``diverse``: batches mix the sentences of all datasets (``diverse_batches``) instead of
  holding one dataset's sentences each (``make_batches`` then ``epoch_schedule``).

Nothing here depends on torch: every function maps lengths to indices, so it is tested alone.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
Item = tuple[str, int]  # a dataset name and the index of one of its sentences


def cut_batches(
    items: Sequence[T], lengths: Sequence[int], batch_size: int, max_tokens: int
) -> list[list[T]]:
    """Cut ``items`` (with their ``lengths``), in the order given, into consecutive batches.

    A batch grows until one more item would make it hold more than ``batch_size`` items or pad
    to more than ``max_tokens`` positions (its longest length x its items): the padded size,
    not the sum of lengths, is what the encoder computes and holds in memory. An item longer
    than ``max_tokens`` gets a batch of its own rather than being dropped.
    """
    batches: list[list[T]] = []
    current: list[T] = []
    longest = 0
    for item, length in zip(items, lengths):
        new_longest = max(longest, length)
        if current and (
            len(current) >= batch_size or new_longest * (len(current) + 1) > max_tokens
        ):
            batches.append(current)
            current, new_longest = [], length
        current.append(item)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


def make_batches(
    lengths: Sequence[int],
    batch_size: int,
    max_tokens: int,
    rng: random.Random | None = None,
    sort_by_size: bool = True,
) -> list[list[int]]:
    """One dataset's batches of sentence indices, cut by ``cut_batches``.

    With ``rng`` (``shuffle``) the sentences are first put in random order; ``sort_by_size``
    then sorts them by length, a stable sort, so equal lengths stay in that random order and
    the batches differ between epochs. Without ``rng`` ties keep the data order, and without
    sorting the batches follow the data (or the random) order.
    """
    order = list(range(len(lengths)))
    if rng is not None:
        rng.shuffle(order)
    if sort_by_size:
        order.sort(key=lambda i: lengths[i])
    return cut_batches(order, [lengths[i] for i in order], batch_size, max_tokens)


def smoothed_counts(sizes: dict[str, int], alpha: float) -> dict[str, int]:
    """How many units (batches, or sentences for diverse batches) to draw from each dataset.

    With ``alpha`` = 1 every dataset contributes all its units. Below 1, each dataset's share
    is proportional to ``size ** alpha`` (MaChAmp's smoothing), keeping the epoch's total:
    small datasets are oversampled and large ones undersampled. An empty dataset gets none.
    """
    if alpha >= 1.0 or len(sizes) < 2:
        return dict(sizes)
    total = sum(sizes.values())
    weights = {name: size**alpha if size else 0.0 for name, size in sizes.items()}
    norm = sum(weights.values())
    return {
        name: max(1, round(total * weight / norm)) if sizes[name] else 0
        for name, weight in weights.items()
    }


def pick(size: int, wanted: int, rng: random.Random | None) -> list[int]:
    """``wanted`` indices out of ``range(size)``: whole passes over all of them, then part of
    one more, so no index is drawn twice before every index was drawn once.

    With ``rng`` each pass is a fresh random order, so an undersampled dataset sees different
    sentences each epoch. Without it the passes are in order and the last, partial pass is
    spread evenly over the data, so an undersampled dataset whose batches are sorted by length
    is not always cut down to its shortest sentences.
    """
    if size == 0 or wanted == 0:
        return []
    if rng is not None:
        picked = list(range(size))
        rng.shuffle(picked)
        while len(picked) < wanted:
            extra = list(range(size))
            rng.shuffle(extra)
            picked.extend(extra)
        return picked[:wanted]
    passes, rest = divmod(wanted, size)
    return list(range(size)) * passes + [j * size // rest for j in range(rest)]


def interleave(streams: dict[str, list[T]]) -> list[tuple[str, T]]:
    """Merge the streams without randomness, each spread evenly over the whole: item ``k`` of
    a stream of ``n`` lands at fraction ``(k + 0.5) / n`` of the result (ties in stream
    order). Every stretch of the result then holds the streams in proportion to their sizes,
    where concatenating them would train on one dataset after the other."""
    keyed = [
        ((2 * k + 1) / (2 * len(items)), position, name, item)
        for position, (name, items) in enumerate(streams.items())
        for k, item in enumerate(items)
    ]
    keyed.sort(key=lambda entry: (entry[0], entry[1]))
    return [(name, item) for _, _, name, item in keyed]


def epoch_schedule(
    batches_per_dataset: dict[str, list[list[int]]], alpha: float, rng: random.Random | None
) -> list[tuple[str, list[int]]]:
    """The epoch's (dataset, batch) sequence, each batch of one dataset.

    Each dataset contributes its smoothed number of batches (``pick``). With ``rng`` they are
    interleaved at random; without, in an even, fixed interleave (``interleave``).
    """
    counts = smoothed_counts({n: len(b) for n, b in batches_per_dataset.items()}, alpha)
    if rng is None:
        streams = {
            name: [batches[i] for i in pick(len(batches), counts[name], None)]
            for name, batches in batches_per_dataset.items()
            if batches
        }
        return interleave(streams)
    schedule: list[tuple[str, list[int]]] = []
    for name, batches in batches_per_dataset.items():
        if batches:
            chosen = pick(len(batches), counts[name], rng)
            schedule.extend((name, batches[i]) for i in chosen)
    rng.shuffle(schedule)
    return schedule


def diverse_batches(
    lengths_per_dataset: Mapping[str, Sequence[int]],
    batch_size: int,
    max_tokens: int,
    alpha: float,
    rng: random.Random | None,
) -> list[list[Item]]:
    """The epoch's batches when a batch may mix datasets (MaChAmp's ``diverse``).

    Smoothing counts sentences here, as a batch no longer belongs to one dataset: each dataset
    contributes exactly its smoothed number of sentences (``pick``), which are pooled, in
    random order with ``rng`` and in the even fixed interleave without, and cut in that order
    by ``cut_batches``. The pool is not sorted by length, as in MaChAmp: sorting would put
    datasets of different sentence lengths back into batches of their own.
    """
    counts = smoothed_counts({n: len(v) for n, v in lengths_per_dataset.items()}, alpha)
    streams = {
        name: pick(len(lengths), counts[name], rng)
        for name, lengths in lengths_per_dataset.items()
        if lengths
    }
    if rng is None:
        pool = interleave(streams)
    else:
        pool = [(name, index) for name, picked in streams.items() for index in picked]
        rng.shuffle(pool)
    pool_lengths = [lengths_per_dataset[name][index] for name, index in pool]
    return cut_batches(pool, pool_lengths, batch_size, max_tokens)
