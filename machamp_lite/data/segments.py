"""Text in several columns (``sent_idxs``: a question and its answer, two sentences to compare)
encoded as one input the way the model was pretrained on pairs, as MaChAmp encodes them: the
tokenizer's own pair template supplies the separators and the token types of each text.

The template is read from the tokenizer, never written down per model family, so BERT gets
``[CLS] a [SEP] b [SEP]`` with types 0 then 1, and XLM-R ``<s> a </s></s> b </s>`` without
types, from the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class PairLayout:
    """How the tokenizer's pair template joins two texts: the ids between them, and the token
    type of each text (None: both 0, so no types need to be passed). ``problem`` says why the
    template cannot be followed; pairs are then refused, never encoded some other way."""

    middle: tuple[int, ...] = ()
    types: tuple[int, int] | None = None
    problem: str | None = None


def pair_layout(tokenizer, prefix: list[int], suffix: list[int]) -> PairLayout:
    """The pair template, found by encoding two probe texts as a pair and locating each text's
    ids in the result. The template must put one text's special tokens (``prefix``,
    ``suffix``) around the pair, so windows over a long pair get them as a single text does,
    and give the first text and what follows it up to the second text one type, and the rest
    the other (BERT, XLM-R and RoBERTa do)."""
    try:
        first = tokenizer("hello", add_special_tokens=False)["input_ids"]
        second = tokenizer("world", add_special_tokens=False)["input_ids"]
        full = tokenizer("hello", "world", return_token_type_ids=True)
    except Exception as error:  # a tokenizer without pairs must still encode single texts
        return PairLayout(problem=f"it does not encode pairs ({type(error).__name__}: {error})")
    ids = list(full["input_ids"])
    types = list(full.get("token_type_ids") or [0] * len(ids))
    head = len(prefix) + len(first)
    tail = len(ids) - len(second) - len(suffix)
    if (
        tail < head
        or ids[: len(prefix)] != prefix
        or ids[len(prefix) : head] != first
        or ids[tail : tail + len(second)] != second
        or ids[tail + len(second) :] != suffix
    ):
        return PairLayout(
            problem=f"its pair template ({ids}) does not hold both texts between the special "
            f"tokens of one text ({prefix} and {suffix})"
        )
    kinds = (types[0], types[-1])
    if types != [kinds[0]] * tail + [kinds[1]] * (len(ids) - tail):
        return PairLayout(
            problem=f"its pair template's token types {types} do not follow the texts"
        )
    return PairLayout(tuple(ids[head:tail]), None if kinds == (0, 0) else kinds)


def join_segments(
    pieces: list[list[int]], segments: Sequence[int], layout: PairLayout
) -> tuple[list[int], list[int], list[int], list[int] | None]:
    """The ids of several texts as one input (without the outer special tokens), each word's
    range in them, and each id's token type (None when the template has no types).

    ``pieces`` holds each word's ids and ``segments`` the first word of each text. The template's
    separator goes between consecutive texts, in no word's range. Text k and the separator
    after it get the template's type of text ``k % 2``: two texts encode exactly as
    ``tokenizer(a, b)``, and more texts alternate, as MaChAmp's segment ids do (BERT: types
    0 0 0 1 1 0 0 for ``[CLS] a [SEP] b [SEP] c [SEP]``)."""
    if layout.problem is not None:
        raise ConfigError(
            "text in several columns (sent_idxs) cannot be encoded as one input with this "
            f"model's tokenizer: {layout.problem}"
        )
    starts = list(segments)
    ordered = all(a <= b for a, b in zip(starts, starts[1:]))
    if not starts or starts[0] != 0 or not ordered or starts[-1] > len(pieces):
        raise ValueError(f"segments {starts} are not the first words of {len(pieces)} words")
    ids: list[int] = []
    types: list[int] = []
    word_starts: list[int] = []
    word_ends: list[int] = []
    for k, (low, high) in enumerate(zip(starts, [*starts[1:], len(pieces)])):
        for word in pieces[low:high]:
            word_starts.append(len(ids))
            ids.extend(word)
            word_ends.append(len(ids))
        if k < len(starts) - 1:
            ids.extend(layout.middle)
        kind = 0 if layout.types is None else layout.types[k % 2]
        types.extend([kind] * (len(ids) - len(types)))
    return ids, word_starts, word_ends, None if layout.types is None else types
