"""Length-bucketed batches within batch_size and max_tokens, one dataset per batch, and
MaChAmp's sampling smoothing across datasets."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.data.batching import epoch_schedule, make_batches, smoothed_batch_counts


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 300), min_size=1, max_size=200),
    st.integers(1, 40),
    st.integers(50, 2000),
    st.integers(0, 5),
)
def test_every_sentence_lands_in_exactly_one_batch_within_the_bounds(lengths, size, tokens, seed):
    batches = make_batches(lengths, size, tokens, random.Random(seed))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= size
        if len(batch) > 1:  # a single sentence longer than max_tokens still gets a batch
            assert max(lengths[i] for i in batch) * len(batch) <= tokens


def test_batches_group_similar_lengths():
    lengths = [5] * 10 + [100] * 10
    random.Random(0).shuffle(lengths)
    batches = make_batches(lengths, 10, 10_000, random.Random(1))
    assert sorted({lengths[i] for i in b} for b in batches) == [{5}, {100}]


def test_smoothing_one_uses_all_data_and_lower_alpha_flattens_the_mix():
    sizes = {"big": 900, "small": 100}
    assert smoothed_batch_counts(sizes, 1.0) == sizes
    half = smoothed_batch_counts(sizes, 0.5)
    assert half["small"] > 100 and half["big"] < 900
    assert abs(sum(half.values()) - 1000) <= 1
    assert half["small"] == round(1000 * 10 / (30 + 10))  # 100**0.5 / (900**0.5 + 100**0.5)


def test_epoch_schedule_keeps_one_dataset_per_batch_and_oversamples_small_sets():
    batches = {"big": [[i] for i in range(90)], "small": [[i] for i in range(10)]}
    schedule = epoch_schedule(batches, 0.0, random.Random(0))  # alpha 0: equal shares
    counts = Counter(name for name, _ in schedule)
    assert counts == {"big": 50, "small": 50}
    assert all(batch in batches[name] for name, batch in schedule)
    full = epoch_schedule(batches, 1.0, random.Random(0))
    assert sorted(map(tuple, (b for n, b in full if n == "big"))) == [(i,) for i in range(90)]
