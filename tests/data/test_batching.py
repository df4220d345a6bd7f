"""Length-bucketed batches within batch_size and max_tokens, MaChAmp's sampling smoothing across
datasets, and the three switches of MaChAmp's sampler: shuffle, sort_by_size and diverse."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.data.batching import (
    cut_batches,
    diverse_batches,
    epoch_schedule,
    interleave,
    make_batches,
    pick,
    smoothed_counts,
)
from machamp_lite.training.batches import BatchingOptions, epoch_batches


def splits(lengths: dict[str, list[int]]) -> dict:
    """Stand-ins for DatasetSplits: the sampler reads only their lengths."""
    return {name: SimpleNamespace(lengths=values) for name, values in lengths.items()}


def options(**changes) -> BatchingOptions:
    batching = {"batch_size": 4, "max_tokens": 10_000, **changes}
    return BatchingOptions.from_params(batching)


def within_bounds(batch_lengths: list[int], size: int, tokens: int) -> bool:
    if len(batch_lengths) > size:
        return False
    # a single sentence longer than max_tokens still gets a batch
    return len(batch_lengths) == 1 or max(batch_lengths) * len(batch_lengths) <= tokens


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
        assert within_bounds([lengths[i] for i in batch], size, tokens)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.lists(st.integers(1, 300), min_size=1, max_size=60),
        min_size=1,
    ),
    st.integers(1, 20),
    st.integers(50, 2000),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from([1.0, 0.5, 0.0]),
)
def test_the_bounds_hold_in_every_mode(lengths, size, tokens, shuffle, sort, diverse, alpha):
    chosen = options(
        batch_size=size,
        max_tokens=tokens,
        shuffle=shuffle,
        sort_by_size=sort,
        diverse=diverse,
        sampling_smoothing=alpha,
    )
    batches = epoch_batches(splits(lengths), chosen, random.Random(0))
    assert batches
    for batch in batches:
        assert within_bounds([lengths[name][i] for name, i in batch], size, tokens), batch
        if not diverse:
            assert len({name for name, _ in batch}) == 1
    if alpha == 1.0:  # no smoothing: every sentence exactly once
        seen = sorted(item for batch in batches for item in batch)
        assert seen == sorted(
            (name, i) for name, values in lengths.items() for i in range(len(values))
        )


def test_batches_group_similar_lengths():
    lengths = [5] * 10 + [100] * 10
    random.Random(0).shuffle(lengths)
    batches = make_batches(lengths, 10, 10_000, random.Random(1))
    assert sorted({lengths[i] for i in b} for b in batches) == [{5}, {100}]


def test_cut_batches_keeps_the_order_and_isolates_an_over_long_item():
    items = ["a", "b", "c", "d", "e"]
    assert cut_batches(items, [2, 2, 50, 3, 3], 10, 20) == [["a", "b"], ["c"], ["d", "e"]]
    assert cut_batches(items, [1] * 5, 2, 100) == [["a", "b"], ["c", "d"], ["e"]]
    # padded size, not the sum of lengths: 3 x 6 = 18 > 16 although 2 + 2 + 6 = 10
    assert cut_batches(items[:3], [2, 2, 6], 10, 16) == [["a", "b"], ["c"]]


def test_sort_by_size_without_shuffle_sorts_stably_and_without_sorting_keeps_data_order():
    lengths = [5, 3, 5, 3, 1, 9, 3]
    sorted_batches = make_batches(lengths, 3, 10_000, None, sort_by_size=True)
    assert sorted_batches == [[4, 1, 3], [6, 0, 2], [5]]  # ties (3, 5) in data order
    assert make_batches(lengths, 3, 10_000, None, sort_by_size=False) == [[0, 1, 2], [3, 4, 5], [6]]


def test_unsorted_shuffled_batches_are_a_random_cut_of_all_sentences():
    lengths = list(range(1, 41))  # sorted data: sorting would leave it as it is
    batches = make_batches(lengths, 8, 10_000, random.Random(3), sort_by_size=False)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(40)) and flat != list(range(40))
    assert [len(b) for b in batches] == [8] * 5


def test_shuffle_false_gives_the_same_batches_in_the_same_order_every_epoch():
    lengths = {"big": [random.Random(i).randint(1, 60) for i in range(50)], "small": [7] * 9}
    for diverse in (False, True):
        for alpha in (1.0, 0.5):
            fixed = options(shuffle=False, diverse=diverse, sampling_smoothing=alpha)
            rng = random.Random(0)
            state = rng.getstate()
            epochs = [epoch_batches(splits(lengths), fixed, rng) for _ in range(3)]
            assert epochs[0] == epochs[1] == epochs[2]
            assert rng.getstate() == state  # no randomness was drawn
            # and it is a fixed function of the data: another generator changes nothing
            assert epoch_batches(splits(lengths), fixed, random.Random(99)) == epochs[0]
    shuffled = options(shuffle=True)
    rng = random.Random(0)
    assert epoch_batches(splits(lengths), shuffled, rng) != epoch_batches(
        splits(lengths), shuffled, rng
    )


def test_unshuffled_datasets_are_interleaved_evenly_not_one_after_the_other():
    batches = {"a": [[i] for i in range(6)], "b": [[i] for i in range(3)]}
    schedule = epoch_schedule(batches, 1.0, None)
    assert [name for name, _ in schedule] == ["a", "b", "a", "a", "b", "a", "a", "b", "a"]
    assert [batch for name, batch in schedule if name == "a"] == [[i] for i in range(6)]


def test_interleave_keeps_every_prefix_in_proportion():
    merged = interleave({"x": list(range(30)), "y": list(range(10)), "z": list(range(5))})
    for end in range(1, len(merged) + 1):
        counts = Counter(name for name, _ in merged[:end])
        for name, total in (("x", 30), ("y", 10), ("z", 5)):
            assert abs(counts[name] - end * total / 45) <= 1
    assert [item for name, item in merged if name == "y"] == list(range(10))


def test_pick_draws_every_index_before_any_twice():
    assert pick(10, 4, None) == [0, 2, 5, 7]  # spread over the data, not its first four
    assert pick(3, 7, None) == [0, 1, 2, 0, 1, 2, 0]
    drawn = pick(10, 25, random.Random(5))
    assert sorted(drawn[:10]) == sorted(drawn[10:20]) == list(range(10))
    assert len(set(drawn[20:])) == 5
    assert pick(0, 5, None) == [] and pick(5, 0, random.Random(0)) == []


def test_smoothing_one_uses_all_data_and_lower_alpha_flattens_the_mix():
    sizes = {"big": 900, "small": 100}
    assert smoothed_counts(sizes, 1.0) == sizes
    half = smoothed_counts(sizes, 0.5)
    assert half["small"] > 100 and half["big"] < 900
    assert abs(sum(half.values()) - 1000) <= 1
    assert half["small"] == round(1000 * 10 / (30 + 10))  # 100**0.5 / (900**0.5 + 100**0.5)
    assert smoothed_counts({"a": 10, "empty": 0}, 0.0) == {"a": 10, "empty": 0}


def test_epoch_schedule_keeps_one_dataset_per_batch_and_oversamples_small_sets():
    batches = {"big": [[i] for i in range(90)], "small": [[i] for i in range(10)]}
    schedule = epoch_schedule(batches, 0.0, random.Random(0))  # alpha 0: equal shares
    counts = Counter(name for name, _ in schedule)
    assert counts == {"big": 50, "small": 50}
    assert all(batch in batches[name] for name, batch in schedule)
    full = epoch_schedule(batches, 1.0, random.Random(0))
    assert sorted(map(tuple, (b for n, b in full if n == "big"))) == [(i,) for i in range(90)]


def test_the_defaults_draw_the_random_stream_as_before_the_switches_existed():
    """shuffle, sort_by_size on and diverse off are the sampler every earlier run used: each
    dataset's make_batches on the trainer's generator, then epoch_schedule on it."""
    lengths = {"a": [random.Random(i).randint(1, 90) for i in range(70)], "b": [4, 8, 15] * 7}
    for alpha in (1.0, 0.3):
        ours, theirs = random.Random(8), random.Random(8)
        for _ in range(2):
            got = epoch_batches(splits(lengths), options(sampling_smoothing=alpha), ours)
            per_dataset = {n: make_batches(v, 4, 10_000, theirs) for n, v in lengths.items()}
            expected = epoch_schedule(per_dataset, alpha, theirs)
            assert got == [[(name, i) for i in batch] for name, batch in expected]
        assert ours.getstate() == theirs.getstate()


def test_diverse_batches_mix_datasets():
    lengths = {"ner": [6] * 40, "pos": [6] * 40}
    for rng in (None, random.Random(1)):
        batches = diverse_batches(lengths, 8, 10_000, 1.0, rng)
        mixed = [b for b in batches if len({name for name, _ in b}) > 1]
        assert len(mixed) >= len(batches) - 1, batches
    fixed = diverse_batches(lengths, 8, 10_000, 1.0, None)
    assert all(Counter(name for name, _ in b) == {"ner": 4, "pos": 4} for b in fixed)


def test_diverse_smoothing_draws_each_dataset_its_smoothed_number_of_sentences():
    lengths = {"big": [5] * 90, "small": [5] * 10}
    # alpha 0.5: shares 90**0.5 : 10**0.5 = 3 : 1 of the 100 sentences, so 75 and 25
    for rng in (None, random.Random(2), random.Random(3)):
        batches = diverse_batches(lengths, 16, 10_000, 0.5, rng)
        seen = Counter(item for batch in batches for item in batch)
        small = [seen[("small", i)] for i in range(10)]
        big = [seen[("big", i)] for i in range(90)]
        assert sum(small) == 25 and sorted(small) == [2] * 5 + [3] * 5
        assert sum(big) == 75 and sorted(big) == [0] * 15 + [1] * 75
    no_smoothing = diverse_batches(lengths, 16, 10_000, 1.0, random.Random(4))
    assert sorted(item for b in no_smoothing for item in b) == sorted(
        (name, i) for name, v in lengths.items() for i in range(len(v))
    )
