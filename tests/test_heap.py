"""heap.trim: freed heap pages go back to the system where glibc allows it."""

from __future__ import annotations

import sys

import pytest

from machamp_lite import heap


def resident_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


@pytest.mark.skipif(heap._malloc_trim() is None, reason="needs glibc's malloc_trim (Linux)")
def test_trim_returns_the_pages_of_freed_blocks_below_a_live_one():
    # 64 KiB blocks sit below glibc's mmap threshold, so they come from the heap; the last one
    # stays alive and pins the top of the heap, so free() alone cannot shrink it.
    blocks = [bytearray(b"x" * 65536) for _ in range(1600)]
    keep = blocks[-1]
    del blocks
    before = resident_mb()
    assert heap.trim() is True
    after = resident_mb()
    assert len(keep) == 65536
    assert before - after > 50, (before, after)


def test_trim_is_a_no_op_without_glibc(monkeypatch):
    heap._malloc_trim.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert heap.trim() is False
    finally:
        heap._malloc_trim.cache_clear()
