"""Span (chunk) precision, recall and F1 with conlleval's chunk rules, for dev scoring during
training and for the ``evaluate`` command."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import DataError
from ..registry import metrics
from .base import Metric

Chunk = tuple[str, int, int]

# Scheme names accepted by the public functions, mapped to the canonical scheme. The IOB family
# shares one set of rules because conlleval reads IOB1 and IOB2 with the same code.
_SCHEME_ALIASES = {
    "iob": "iob",
    "iob1": "iob",
    "iob2": "iob",
    "bio": "iob",
    "bioes": "bioes",
    "iobes": "bioes",
    "bilou": "bilou",
}

# Per canonical scheme: prefix -> (always opens a chunk, the next token must open a new one).
# BILOU's L and U behave exactly like BIOES's E and S.
_PREFIX_RULES: dict[str, dict[str, tuple[bool, bool]]] = {
    "iob": {"B": (True, False), "I": (False, False)},
    "bioes": {"B": (True, False), "I": (False, False), "E": (False, True), "S": (True, True)},
    "bilou": {"B": (True, False), "I": (False, False), "L": (False, True), "U": (True, True)},
}

# "O" is the usual outside tag; conlleval's rules also exempt "." from the type-change test, so
# "." behaves exactly like "O" and is accepted as outside too.
OUTSIDE_TAGS = frozenset({"O", "."})
_OUTSIDE: tuple[None, bool, bool] = (None, False, False)

# Parsed tags per canonical scheme: tag -> (type or None when outside, opens, closes). Filled
# lazily; only valid tags are stored, so the tables stay as small as the tag vocabularies.
_TAG_TABLES: dict[str, dict[str, tuple[str | None, bool, bool]]] = {
    name: dict.fromkeys(OUTSIDE_TAGS, _OUTSIDE) for name in _PREFIX_RULES
}


class InvalidTagError(DataError, ValueError):
    """A tag that cannot be parsed under the scheme.

    It is a ``ValueError`` for library callers and a ``DataError`` so that the command line
    reports it as one message. ``sentence_index`` is ``None`` when the tags were not scored as
    part of a corpus (a direct ``extract_chunks`` call).
    """

    def __init__(
        self, tag: Any, token_index: int, sentence_index: int | None = None, scheme: str = "iob"
    ):
        where = f"token {token_index}"
        if sentence_index is not None:
            where = f"sentence {sentence_index}, {where}"
        allowed = ", ".join(f"{p}-" for p in _PREFIX_RULES[_canonical_scheme(scheme)])
        super().__init__(
            f"invalid tag {tag!r} at {where} under scheme {scheme!r}: expected 'O' or a prefix "
            f"({allowed}) followed by a non-empty type, e.g. 'B-PER'"
        )
        self.tag = tag
        self.token_index = token_index
        self.sentence_index = sentence_index
        self.scheme = scheme

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the error picklable (for worker processes): the default would pass the message.
        return (type(self), (self.tag, self.token_index, self.sentence_index, self.scheme))


class SequenceLengthError(DataError, ValueError):
    """Gold and predicted tag sequences of one sentence (or two corpora) differ in length."""


def _canonical_scheme(scheme: str) -> str:
    try:
        return _SCHEME_ALIASES[scheme.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown tagging scheme {scheme!r}; expected one of: {', '.join(_SCHEME_ALIASES)}"
        ) from None


def _parse_tag(tag: Any, scheme: str, canonical: str, token_index: int) -> tuple[str, bool, bool]:
    """Parse and cache a tag that is not in the table yet; split on the first '-' only, so that
    types may themselves contain '-'."""
    if isinstance(tag, str):
        prefix, dash, chunk_type = tag.partition("-")
        rule = _PREFIX_RULES[canonical].get(prefix)
        if dash and chunk_type and rule is not None:
            parsed = (chunk_type, rule[0], rule[1])
            _TAG_TABLES[canonical][tag] = parsed
            return parsed
    raise InvalidTagError(tag, token_index, None, scheme)


def _chunks(tags: Sequence[str], scheme: str, canonical: str) -> list[Chunk]:
    # A token outside a chunk closes any open chunk. A non-outside token opens a new chunk when
    # the previous token is outside (or this is the first token), when its type differs from
    # the open chunk's, when its prefix always opens (B, S/U), or when the previous token's
    # prefix always closes (E/L, S/U). Otherwise it continues the open chunk. This is exactly
    # conlleval's startOfChunk/endOfChunk (with the usual S/E extension): under those rules a
    # chunk ends precisely where the next one starts or at an outside tag, so every non-outside
    # token belongs to exactly one chunk.
    table = _TAG_TABLES[canonical]
    found: list[Chunk] = []
    append = found.append
    open_type: str | None = None
    start = 0
    prev_closes = False
    index = 0
    for tag in tags:
        parsed = table.get(tag)
        if parsed is None:
            parsed = _parse_tag(tag, scheme, canonical, index)
        chunk_type, opens, closes = parsed
        if chunk_type is None:
            if open_type is not None:
                append((open_type, start, index))
                open_type = None
        elif opens or prev_closes or chunk_type != open_type:
            if open_type is not None:
                append((open_type, start, index))
            open_type = chunk_type
            start = index
        prev_closes = closes
        index += 1
    if open_type is not None:
        append((open_type, start, index))
    return found


def extract_chunks(tags: Sequence[str], scheme: str = "iob") -> list[Chunk]:
    """Chunks of one sentence as ``(type, start, end_exclusive)``, in order, non-overlapping.

    Scheme ``"iob"`` (aliases ``iob1``, ``iob2``, ``bio``) follows conlleval, so IOB1 and IOB2
    both work: ``B-X`` always starts a chunk; ``I-X`` starts one after an outside tag, at the
    sentence start or after a chunk of another type (a span-initial ``I-`` is a span, as
    conlleval counts it); a chunk ends at an outside tag, at ``B-`` or at a change of type.

    Scheme ``"bioes"`` (alias ``iobes``) adds conlleval's E/S extension: ``S-X`` is always a
    one-token chunk, ``E-X`` ends its chunk, and a token after ``E-``/``S-`` starts a new one.
    Inconsistent sequences are read the same lenient way rather than rejected: ``B-X`` without
    an ``E-X`` still ends at ``O`` or at the sentence end, ``I-X``/``E-X`` after ``O`` start a
    chunk. Scheme ``"bilou"`` is the same with ``L-`` for ``E-`` and ``U-`` for ``S-``.

    ``O`` and ``.`` are outside tags. Any other tag must be ``PREFIX-TYPE`` with a prefix of the
    scheme and a non-empty type; it is split on the first ``-`` (``B-LOC-deriv`` has type
    ``LOC-deriv``). Anything else raises :class:`InvalidTagError`.
    """
    return _chunks(tags, scheme, _canonical_scheme(scheme))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _prf(correct: int, gold: int, predicted: int) -> tuple[float, float, float]:
    # 2c/(g+p) equals 2PR/(P+R) and is 0 when there is nothing to match, as in conlleval.
    return (
        _ratio(correct, predicted),
        _ratio(correct, gold),
        _ratio(2 * correct, gold + predicted),
    )


_eq = operator.eq


@dataclass
class SpanCounts:
    """Additive counts behind every reported number, so corpora scored in parts (batches, files,
    worker processes) combine exactly: ``a + b`` (or ``a.merge(b)``) counts the concatenation.

    ``sentences`` counts the sentences added; it is also the index reported in an
    :class:`InvalidTagError`, i.e. the position of the bad sentence in the data scored so far.
    """

    correct: dict[str, int] = field(default_factory=dict)
    gold: dict[str, int] = field(default_factory=dict)
    predicted: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    correct_tokens: int = 0
    sentences: int = 0

    def add_sentence(
        self, gold: Sequence[str], predicted: Sequence[str], scheme: str = "iob"
    ) -> None:
        """Count one sentence; gold and predicted must have one tag per token each."""
        if len(gold) != len(predicted):
            raise SequenceLengthError(
                f"sentence {self.sentences}: {len(gold)} gold tags but {len(predicted)} "
                "predicted tags"
            )
        canonical = _canonical_scheme(scheme)
        try:
            gold_chunks = _chunks(gold, scheme, canonical)
            same = gold == predicted
            predicted_chunks = gold_chunks if same else _chunks(predicted, scheme, canonical)
        except InvalidTagError as error:
            # Re-raise with the sentence's position so the message points at the bad line.
            raise InvalidTagError(error.tag, error.token_index, self.sentences, scheme) from None

        n = len(gold)
        self.tokens += n
        self.correct_tokens += n if same else sum(map(_eq, gold, predicted))
        self.sentences += 1

        gold_counts = self.gold
        for chunk in gold_chunks:
            chunk_type = chunk[0]
            gold_counts[chunk_type] = gold_counts.get(chunk_type, 0) + 1
        correct_counts = self.correct
        predicted_counts = self.predicted
        if same:
            for chunk in gold_chunks:
                chunk_type = chunk[0]
                predicted_counts[chunk_type] = predicted_counts.get(chunk_type, 0) + 1
                correct_counts[chunk_type] = correct_counts.get(chunk_type, 0) + 1
            return
        for chunk in predicted_chunks:
            chunk_type = chunk[0]
            predicted_counts[chunk_type] = predicted_counts.get(chunk_type, 0) + 1
        if gold_chunks and predicted_chunks:
            # A chunk is correct only when type, start and end all match; chunks within one
            # sentence are distinct, so the set intersection counts each match once.
            for chunk in set(gold_chunks).intersection(predicted_chunks):
                chunk_type = chunk[0]
                correct_counts[chunk_type] = correct_counts.get(chunk_type, 0) + 1

    def merge(self, other: SpanCounts) -> SpanCounts:
        """Add ``other``'s counts into this object (in place) and return it."""
        for mine, theirs in (
            (self.correct, other.correct),
            (self.gold, other.gold),
            (self.predicted, other.predicted),
        ):
            for chunk_type, count in theirs.items():
                mine[chunk_type] = mine.get(chunk_type, 0) + count
        self.tokens += other.tokens
        self.correct_tokens += other.correct_tokens
        self.sentences += other.sentences
        return self

    def __add__(self, other: SpanCounts) -> SpanCounts:
        if not isinstance(other, SpanCounts):
            return NotImplemented
        return SpanCounts().merge(self).merge(other)

    def result(self) -> dict[str, Any]:
        """Scores as a plain JSON-able dict (fractions between 0 and 1, 0.0 on division by zero).

        ``micro`` pools all chunks. ``macro`` is the unweighted mean over the types found in gold
        or prediction of each type's precision, recall and F1; in particular macro F1 is the
        mean of the per-type F1 values, not the F1 of macro precision and macro recall.
        ``per_type[T]["support"]`` is the number of gold chunks of T. ``accuracy`` is the
        fraction of tokens whose predicted tag string equals the gold one (outside tags
        included), as conlleval reports it. ``score`` is micro F1.
        """
        total_correct = sum(self.correct.values())
        total_gold = sum(self.gold.values())
        total_predicted = sum(self.predicted.values())
        micro = _prf(total_correct, total_gold, total_predicted)

        per_type: dict[str, dict[str, float | int]] = {}
        for chunk_type in sorted(set(self.gold) | set(self.predicted)):
            gold = self.gold.get(chunk_type, 0)
            precision, recall, f1 = _prf(
                self.correct.get(chunk_type, 0), gold, self.predicted.get(chunk_type, 0)
            )
            per_type[chunk_type] = {
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": gold,
            }
        n_types = len(per_type)
        macro = {
            key: (sum(scores[key] for scores in per_type.values()) / n_types if n_types else 0.0)
            for key in ("precision", "recall", "f1")
        }
        return {
            "micro": {"precision": micro[0], "recall": micro[1], "f1": micro[2]},
            "macro": macro,
            "per_type": per_type,
            "accuracy": _ratio(self.correct_tokens, self.tokens),
            "counts": {
                "gold": total_gold,
                "predicted": total_predicted,
                "correct": total_correct,
                "tokens": self.tokens,
                "correct_tokens": self.correct_tokens,
            },
            "score": micro[2],
        }


def span_f1(
    gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str = "iob"
) -> dict[str, Any]:
    """Score a corpus given as parallel lists of sentences; see :meth:`SpanCounts.result`."""
    if len(gold) != len(predicted):
        raise SequenceLengthError(
            f"{len(gold)} gold sentences but {len(predicted)} predicted sentences"
        )
    _canonical_scheme(scheme)
    counts = SpanCounts()
    add = counts.add_sentence
    for gold_tags, predicted_tags in zip(gold, predicted):
        add(gold_tags, predicted_tags, scheme)
    return counts.result()


@metrics.register("span_f1")
class SpanF1(Metric):
    """Span F1 over token-level tag sequences; ``score`` is micro F1 as in conlleval."""

    def __init__(self, scheme: str = "iob"):
        _canonical_scheme(scheme)  # fail when the config is read, not at the first dev epoch
        self.scheme = scheme
        self.counts = SpanCounts()

    def reset(self) -> None:
        self.counts = SpanCounts()

    def update(self, gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> None:
        if len(gold) != len(predicted):
            raise SequenceLengthError(
                f"{len(gold)} gold sentences but {len(predicted)} predicted sentences in a batch"
            )
        add = self.counts.add_sentence
        for gold_tags, predicted_tags in zip(gold, predicted):
            add(gold_tags, predicted_tags, self.scheme)

    def compute(self) -> dict[str, Any]:
        return self.counts.result()
