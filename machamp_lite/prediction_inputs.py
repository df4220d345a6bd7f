"""Inputs of ``predict`` that are not dataset files as a reader reads them: plain text read as
it is consumed, and the head of a file up to a given line (``--max_sents``)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .data.sentence import Sentence
from .data.text import stream_lines
from .errors import DataError


def iter_raw_text(path: str, encoding: str = "utf-8") -> Iterator[Sentence]:
    """Plain text read as consumed: one sentence per line, split on whitespace."""
    found = False
    for number, line in stream_lines(path, encoding):
        words = line.split()
        if words:
            found = True
            yield Sentence(words, {}, path, [number] * len(words))
    if not found:
        raise DataError("no sentences found", path)


@contextlib.contextmanager
def first_lines(path: str, encoding: str, last_line: int) -> Iterator[str]:
    """A temporary copy of the input up to ``last_line`` (and the blank line after it), with
    the input's name and byte-order mark: written into, it gives an output that ends after the
    last predicted sentence whatever the format (sentence-per-line files have no blank line
    where the copy could stop)."""
    from .data.text import text_codec

    with open(path, "rb") as handle:
        head = handle.read(4)
    bom, codec = text_codec(encoding, head)
    kept: list[str] = []
    after: list[str] = []  # up to two lines after last_line: is there a blank line, and more
    for number, line in stream_lines(path, encoding):
        if number <= last_line:
            kept.append(line)
            continue
        after.append(line)
        if line.strip() or len(after) == 2:
            break
    text = "\n".join(kept)
    if after:  # the input's own characters up to the end of the blank line after last_line
        text += "\n" + (after[0] + "\n" if len(after) == 2 and not after[0].strip() else "")
    with tempfile.TemporaryDirectory(prefix="machamp-lite-first-") as folder:
        copy = Path(folder) / Path(path).name
        copy.write_bytes(bom + text.encode(codec))
        yield str(copy)
