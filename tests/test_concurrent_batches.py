"""``map_batches``: batches labelled side by side come back paired with their own results,
the largest first; one worker keeps the plain order on the calling thread; an error is raised
to the caller and the batches not yet started are dropped."""

from __future__ import annotations

import threading
import time

import pytest

from machamp_lite.concurrent_batches import concurrency_of, map_batches


def test_one_worker_labels_in_order_on_the_calling_thread():
    seen = []

    def label(batch):
        seen.append(threading.get_ident())
        return sum(batch)

    batches = [[0, 1], [2], [3, 4, 5]]
    assert list(map_batches(label, batches, 1)) == [([0, 1], 1), ([2], 2), ([3, 4, 5], 12)]
    assert set(seen) == {threading.get_ident()}


def test_two_workers_label_two_batches_at_once_and_pair_each_with_its_result():
    both_running = threading.Barrier(2, timeout=10)
    calls = []

    def label(batch):
        if len(calls) < 2:  # the first two calls meet: they only pass if they run at once
            calls.append(batch)
            both_running.wait()
        return [index * 10 for index in batch]

    batches = [[i, i + 100] for i in range(12)]
    out = list(map_batches(label, batches, 2))
    assert sorted(b for b, _ in out) == batches
    assert all(result == [i * 10 for i in batch] for batch, result in out)
    # make_batches sorts shortest first, so the last batches are the longest: they go first.
    assert [b for b, _ in out][:2] == [batches[-1], batches[-2]]


def test_a_single_batch_is_labelled_on_the_calling_thread():
    idents = []
    out = list(map_batches(lambda b: idents.append(threading.get_ident()) or b, [[7]], 4))
    assert out == [([7], [7])] and idents == [threading.get_ident()]


def test_an_error_reaches_the_caller_and_the_batches_not_started_are_dropped():
    ran = []

    def label(batch):
        ran.append(batch)
        if batch == [19]:  # the first one submitted (the last, longest batch)
            raise ValueError("bad batch")
        time.sleep(0.05)
        return batch

    with pytest.raises(ValueError, match="bad batch"):
        list(map_batches(label, [[i] for i in range(20)], 2))
    assert len(ran) < 20


@pytest.mark.parametrize(
    ("attribute", "expected"), [(None, 1), (1, 1), (2, 2), (0, 1), (-3, 1), ("2", 1), (2.0, 1)]
)
def test_concurrency_comes_only_from_a_whole_number_above_one(attribute, expected):
    class Model:
        pass

    model = Model()
    if attribute is not None:
        model.concurrent_batches = attribute  # type: ignore[attr-defined]
    assert concurrency_of(model) == expected
