"""Context the encoder reads but does not label (issue 18): a sentence followed by neighbouring
or retrieved text, joined as the tokenizer joins a pair of texts, where only the sentence's words
get ranges, so only they get vectors, predictions and loss.

The context is cut, never the sentence: it keeps its words up to the last whole one that fits
one window with the sentence (``SubwordTokenizer.window_length``), so a context longer than the
model's input changes nothing, and a sentence that fills a window alone gets none and is
windowed as any long sentence is.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .segments import join_segments

if TYPE_CHECKING:
    from .sentence import Sentence
    from .tokenization import EncodedSentence, SubwordTokenizer


def encode_with_context(
    subwords: SubwordTokenizer, words: Sequence[str], context: Sequence[str] | None
) -> EncodedSentence:
    """One sentence and its context (None or no words: exactly ``subwords.encode(words)``)."""
    from .tokenization import EncodedSentence

    pieces = subwords.word_pieces(words)
    if not context:
        return subwords._assemble(pieces)
    layout = subwords._pair
    if layout.problem is not None:
        raise ConfigError(
            f"context cannot be given to this model: its tokenizer has no usable pair template "
            f"({layout.problem})"
        )
    room = subwords.window_length - sum(map(len, pieces)) - len(layout.middle)
    kept: list[int] = []
    for word in subwords.word_pieces(context):
        if len(kept) + len(word) > room:
            break
        kept.extend(word)
    if not kept:
        return subwords._assemble(pieces)
    ids, starts, ends, types = join_segments([*pieces, kept], [0, len(pieces)], layout)
    return EncodedSentence(ids, starts[: len(pieces)], ends[: len(pieces)], types)


def encode_many_with_context(
    subwords: SubwordTokenizer,
    sentences: Sequence[Sequence[str]],
    segments: Sequence[Sequence[int] | None] | None,
    contexts: Sequence[Sequence[str] | None],
) -> list[EncodedSentence]:
    """Each sentence with ``contexts[i]``; one context per sentence, and no sentence pairs."""
    if len(contexts) != len(sentences):
        raise ValueError(f"{len(contexts)} contexts for {len(sentences)} sentences")
    if segments is not None and any(s is not None for s in segments):
        raise ConfigError("context cannot be combined with text in several columns (sent_idxs) yet")
    if subwords._words_independent:  # one tokenizer pass over every distinct word
        subwords._cache_words(chain.from_iterable(sentences))
        subwords._cache_words(chain.from_iterable(c for c in contexts if c))
    return [encode_with_context(subwords, w, c) for w, c in zip(sentences, contexts)]


def encode_sentences(encoder, sentences: Sequence[Sentence]) -> list[EncodedSentence]:
    """The encoder's encodings of ``sentences``. Where a sentence is a pair (text read from
    several columns) the encoder is given where each text starts; otherwise it is called with
    the words alone, as an encoder that knows nothing of pairs is. A sentence's ``context``
    reaches the encoder as its ``contexts``."""
    words = [s.words for s in sentences]
    segments = [s.segments for s in sentences]
    contexts = [s.context for s in sentences]
    pairs = any(starts is not None for starts in segments)
    if any(contexts):  # only then: an encoder that knows nothing of context still works
        return encoder.encode_many(words, segments if pairs else (), contexts)
    if pairs:
        return encoder.encode_many(words, segments)
    return encoder.encode_many(words)
