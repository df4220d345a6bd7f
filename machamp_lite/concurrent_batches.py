"""Running prediction batches side by side on the CPU's cores (issue 17, "threads").

A runtime that splits one batch's matrix products over two cores loses a good part of the
second core to synchronisation and to the single-threaded work between its products: on the
2-core machines of the benchmarks, onnxruntime ran 1.7x faster on 2 threads than on 1, and two
int8 batches at once on one thread each were 1.21x faster again (docs/performance.md, "One
batch per thread"). A model that computes one batch on one thread and is safe
to call from several threads at once says so with a ``concurrent_batches`` attribute (the
onnx backend: one onnxruntime session, whose ``run`` is thread-safe); ``map_batches`` then
labels that many batches at once. The batches are the same as in a sequential run, so the
labels are too: only the order in which batches finish changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Result = TypeVar("Result")


def concurrency_of(model: object) -> int:
    """How many batches ``model`` may compute at once: its ``concurrent_batches``, or 1."""
    workers = getattr(model, "concurrent_batches", 1)
    return workers if isinstance(workers, int) and workers > 1 else 1


def map_batches(
    label: Callable[[list[int]], Result],
    batches: Sequence[list[int]],
    workers: int,
) -> Iterator[tuple[list[int], Result]]:
    """``(batch, label(batch))`` for every batch. With more than one worker and more than one
    batch, ``workers`` threads label them, the largest batches first so that no long batch is
    left running alone at the end; otherwise one after the other, in order. An error in any
    batch is raised here, after the batches already started have finished."""
    if workers <= 1 or len(batches) <= 1:
        for batch in batches:
            yield batch, label(batch)
        return
    # make_batches sorts by length, shortest first: the last batches are the longest.
    ordered = list(reversed(batches))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batch")
    try:
        yield from zip(ordered, pool.map(label, ordered))
    finally:
        # On an error (or Ctrl-C) the batches not yet started are dropped, not run.
        pool.shutdown(wait=True, cancel_futures=True)
