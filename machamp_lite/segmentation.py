"""Learned word segmentation (MaChAmp's ``tok`` task): the raw text of a sentence cut into
*pieces*, and per piece whether a token ends there.

machamp-lite's decoders label words, so segmentation is made a word-level task over pieces of
the UD ``# text = ...`` line: the text split at whitespace, and each chunk further into runs of
letters, digits and marks and single other characters (punctuation, symbols). Every token
boundary that falls between two pieces can then be learned as the piece's label: ``split``
(a gold token ends with the piece) or ``merge`` (the token goes on into the next piece). A
gold boundary inside a piece (English ``do|n't`` inside the piece ``don``) cannot be learned;
such boundaries are counted and logged, as MaChAmp has the same limit inside its subwords.

The ``conllu_pieces`` reader gives a tok task this view of a CoNLL-U file; the surface tokens
(a multiword token's range line, not its syntactic words) are the gold tokens. A dataset with a
tok task beside word-level tasks is split in two when configs are read
(:func:`split_segmentation_datasets`): the word tasks keep the dataset's name, the tok task gets
a dataset ``NAME-TASK`` of the same files read as pieces.
"""

from __future__ import annotations

import copy
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from .data.conllu_reader import CONLLU_FIELDS, ConlluReader
from .data.reader_base import WriterSettings
from .data.sentence import Sentence, TaskColumn
from .data.text import iter_lines, read_text
from .errors import DataError
from .registry import readers

logger = logging.getLogger("machamp_lite")

SPLIT = "split"  # a token ends with this piece
MERGE = "merge"  # the token goes on into the next piece
PIECES_READER = "conllu_pieces"
_TEXT = re.compile(r"^\s*#\s*text\s*=\s?(.*)$")


def _joins(char: str) -> bool:
    """Letters, digits and combining marks form runs; every other character is a piece."""
    return unicodedata.category(char)[0] in "LNM"


def piece_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each piece of ``text``: whitespace separates, runs of letters, digits
    and marks stay together, and any other character is a piece of its own."""
    spans: list[tuple[int, int]] = []
    start = None  # the start of the current run of joining characters
    for i, char in enumerate(text):
        if char.isspace() or not _joins(char):
            if start is not None:
                spans.append((start, i))
                start = None
            if not char.isspace():
                spans.append((i, i + 1))
        elif start is None:
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def token_spans(
    text: str, tokens: Sequence[str], path: str | None = None, line: int | None = None
) -> list[tuple[int, int]]:
    """(start, end) of each token in ``text``: the tokens, without their spaces, must spell the
    text without its spaces. A mismatch is a DataError at ``path``, ``line``."""
    spans = []
    position = 0
    for number, token in enumerate(tokens, start=1):
        start = end = None
        for char in token:
            if char.isspace():
                continue
            while position < len(text) and text[position].isspace():
                position += 1
            if position >= len(text) or text[position] != char:
                found = text[position : position + 10] if position < len(text) else "its end"
                raise DataError(
                    f"token {number} ({token!r}) does not match the '# text' comment at "
                    f"character {position + 1} ({found!r}): the tokens (without spaces) must "
                    "spell the text (without spaces) for the tok task to learn from it; fix "
                    "the text or the tokens, or leave the tok task out for this file",
                    path,
                    line,
                )
            start = position if start is None else start
            position += 1
            end = position
        if start is None or end is None:
            raise DataError(
                f"token {number} is empty or only spaces; the tok task needs every token to "
                "hold a character of the text",
                path,
                line,
            )
        spans.append((start, end))
    if text[position:].strip():
        raise DataError(
            f"the '# text' comment goes on after the last token ({text[position:].strip()[:20]!r}"
            "): the tokens (without spaces) must spell the text (without spaces)",
            path,
            line,
        )
    return spans


def piece_labels(
    pieces: Sequence[tuple[int, int]], tokens: Sequence[tuple[int, int]]
) -> tuple[list[str], int]:
    """Each piece's label (``split`` where a gold token ends with it, else ``merge``) and the
    number of gold boundaries that fall inside a piece (the model cannot learn those)."""
    ends = {end for _, end in tokens}
    inside = sum(1 for start, end in pieces for boundary in ends if start < boundary < end)
    return [SPLIT if end in ends else MERGE for _, end in pieces], inside


def segment(
    text: str,
    pieces: Sequence[tuple[int, int]],
    labels: Sequence[str],
    split_at_spaces: bool = True,
) -> list[tuple[int, int]]:
    """The token spans of ``text`` from its pieces and their predicted labels. A token also ends
    at the text's end and, with ``split_at_spaces`` (the tok task's ``pre_split``), where
    whitespace follows a piece: the encoder sees pieces as words and cannot tell whether a
    space separated them, so the space decides there."""
    spans: list[tuple[int, int]] = []
    start = None
    for index, ((begin, end), label) in enumerate(zip(pieces, labels)):
        start = begin if start is None else start
        last = index == len(pieces) - 1
        if label != MERGE or last or (split_at_spaces and pieces[index + 1][0] > end):
            spans.append((start, end))
            start = None
    return spans


def text_of(sentence: Sentence) -> tuple[str | None, int]:
    """The sentence's text from its ``# text = ...`` comment and that comment's line (None and
    the sentence's first line without one)."""
    for comment, number in zip(sentence.comments, sentence.comment_lines):
        match = _TEXT.match(comment)
        if match:
            return match.group(1).strip(), number
    return None, sentence.start_line


def surface_tokens(block: Sequence[tuple[int, str]], word_idx: int) -> list[tuple[int, str]]:
    """(line number, form) of each surface token of a CoNLL-U block: a multiword token's range
    line stands for the words it covers; empty nodes are not tokens."""
    tokens = []
    covered = 0  # the last word ID that a range line covers
    for number, line in block:
        if line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        word_id = fields[0].strip()
        form = fields[word_idx] if word_idx < len(fields) else "_"
        if "-" in word_id:
            covered = int(word_id.split("-")[1])
            tokens.append((number, form))
        elif word_id.isdigit() and int(word_id) > covered:
            tokens.append((number, form))
    return tokens


@readers.register(PIECES_READER)
class PiecesReader(ConlluReader):
    """CoNLL-U read as pieces of each sentence's ``# text`` for a segmentation task: the words
    are the pieces, and each task's labels are ``split``/``merge`` per piece. Each piece keeps
    the line of the gold token its last character belongs to."""

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        checked = super().read(path, [], require_labels=False)  # the file is valid CoNLL-U
        lines = list(iter_lines(read_text(path, self.encoding)))
        sentences, inside, boundaries, spaced = [], 0, 0, 0
        for sentence in checked:
            start = sentence.start_line
            text, line = text_of(sentence)
            if not text:
                raise DataError(
                    "this sentence has no '# text = ...' comment (or an empty one); a tok task "
                    "learns segmentation from it: add the sentence's text (UD treebanks have "
                    "it), or leave the tok task out for this file",
                    path,
                    line,
                )
            end = start - 1
            while end < len(lines) and lines[end][1].strip():
                end += 1
            tokens = surface_tokens(lines[start - 1 : end], self.word_idx)
            spans = token_spans(text, [form for _, form in tokens], path, line)
            pieces = piece_spans(text)
            labels, count = piece_labels(pieces, spans)
            inside += count
            boundaries += len(spans)
            spaced += sum(1 for a, b in spans if any(c.isspace() for c in text[a:b]))
            owner, numbers = 0, []
            for _, piece_end in pieces:
                while spans[owner][1] < piece_end:
                    owner += 1
                numbers.append(tokens[owner][0])
            sentences.append(
                Sentence(
                    [text[a:b] for a, b in pieces],
                    {t.name: list(labels) for t in tasks} if require_labels else {},
                    path,
                    numbers,
                    sentence.sent_id,
                    sentence.comments,
                    sentence.comment_lines,
                    start,
                )
            )
        # A warning when some cannot be learned: reading precedes the run's train.log, and the
        # console shows warnings before the run's logging is set up.
        logger.log(
            logging.WARNING if inside else logging.INFO,
            "%s: %d of %d token boundaries (%.2f%%) fall inside a piece and cannot be learned "
            "by the tok task; %d tokens hold spaces",
            path,
            inside,
            boundaries,
            100.0 * inside / max(boundaries, 1),
            spaced,
        )
        return sentences

    def writer_settings(self) -> WriterSettings:
        """Dev predictions go into the MISC column (the tok task's column_idx -1) of the token
        lines: each line gets the label of its token's last piece."""
        return WriterSettings("tab", self.encoding, self.word_idx, "_", len(CONLLU_FIELDS))


def _segments(task: Any) -> bool:
    """Whether a task's type reads its data as pieces (its codec names the reader)."""
    from .decoders.codecs import codec_for
    from .registry import decoders

    task_type = task.get("task_type") if isinstance(task, dict) else None
    if not isinstance(task_type, str) or task_type not in decoders:
        return False
    return getattr(codec_for(task_type), "view_reader", None) == PIECES_READER


def split_segmentation_datasets(
    datasets: Mapping[str, dict[str, Any]], problems: Any
) -> dict[str, dict[str, Any]]:
    """The datasets with each segmentation task given the pieces view of its dataset's files:
    a dataset of only such tasks is read with the pieces reader; one with word tasks beside
    them keeps its name and its word tasks, and each segmentation task gets a dataset
    ``NAME-TASK`` of the same files (so metrics.json reports ``NAME-TASK/TASK``)."""
    result: dict[str, dict[str, Any]] = {}
    for name, dataset in datasets.items():
        given = dataset.get("tasks")
        tasks: dict[str, Any] = given if isinstance(given, dict) else {}
        pieces = [task for task, spec in tasks.items() if _segments(spec)]
        if not pieces:
            result[name] = dataset
            continue
        if dataset.get("reader") not in (None, "conllu", PIECES_READER):
            problems.add(
                f"{dataset.get('source')}, dataset {name!r}: task {pieces[0]!r} learns "
                f"segmentation from CoNLL-U '# text' comments, but the dataset's reader is "
                f"{dataset['reader']!r}; remove the 'reader' key or set it to \"conllu\""
            )
            continue
        for task in pieces:  # token F1 beside the task's metric, as CoNLL 2018 scores tokens
            if tasks[task].get("metric") != "token_f1":
                tasks[task].setdefault("additional_metrics", ["token_f1"])
        others = {task: spec for task, spec in tasks.items() if task not in pieces}
        if not others:
            result[name] = {**dataset, "reader": PIECES_READER}
            continue
        result[name] = {**dataset, "tasks": others}
        for task in pieces:
            derived = f"{name}-{task}"
            if derived in datasets or derived in result:
                problems.add(
                    f"{dataset.get('source')}, dataset {name!r}: task {task!r} is trained as "
                    f"dataset {derived!r} (its pieces view), and that name is taken; rename "
                    "one of them"
                )
                continue
            copied = copy.deepcopy(dataset)
            copied.update(name=derived, reader=PIECES_READER, tasks={task: tasks[task]})
            result[derived] = copied
    return result


def is_pieces_dataset(dataset: Mapping[str, Any]) -> bool:
    """Whether a (resolved) dataset is read as pieces for segmentation."""
    return dataset.get("reader") == PIECES_READER
