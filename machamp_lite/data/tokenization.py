"""Words to subwords with a fast Hugging Face tokenizer, and subwords to model inputs.

All subword concerns live here and in the encoder: special tokens, sliding windows over input
longer than the model's maximum, and the indices that pool subword vectors back to words. Every
word gets at least one subword (an empty tokenization becomes the unknown token), so outputs
stay aligned one-to-one with the input words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain

import torch

from .readers import gc_paused

POOLING_MODES = ("first", "last", "mean")
# Distinct words per tokenizer call when filling the word cache.
CHUNK_WORDS = 2048


@dataclass
class EncodedSentence:
    """Subword ids of one sentence (no special tokens) and each word's subword range."""

    subword_ids: list[int]
    word_starts: list[int]
    word_ends: list[int]  # exclusive

    @property
    def num_words(self) -> int:
        return len(self.word_starts)


class SubwordTokenizer:
    """Wraps a fast tokenizer: caches word tokenizations and builds windowed model inputs."""

    def __init__(self, tokenizer, max_input_length: int = 512, window_overlap: float = 0.5):
        self.tokenizer = tokenizer
        model_max = getattr(tokenizer, "model_max_length", None) or max_input_length
        if model_max > 100_000:  # tokenizers without a limit report a huge sentinel
            model_max = max_input_length
        self.max_input_length = min(max_input_length, model_max)
        prefix, suffix = self._special_layout()
        self.prefix_ids, self.suffix_ids = prefix, suffix
        self.window_length = self.max_input_length - len(prefix) - len(suffix)
        if self.window_length < 2:
            raise ValueError(f"max_input_length {max_input_length} leaves no room for subwords")
        self.window_overlap = window_overlap
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._cache: dict[str, list[int]] = {}
        self._words_independent = self._check_word_independence()

    def _special_layout(self) -> tuple[list[int], list[int]]:
        """The special tokens a single sequence gets before and after its subwords, found by
        tokenizing a probe with and without them (works across tokenizer classes and versions)."""
        plain = self.tokenizer("hello", add_special_tokens=False)["input_ids"]
        full = self.tokenizer("hello", add_special_tokens=True)["input_ids"]
        for at in range(len(full) - len(plain) + 1):
            if full[at : at + len(plain)] == plain:
                return full[:at], full[at + len(plain) :]
        return [], []

    def _check_word_independence(self) -> bool:
        """True when tokenizing words one by one equals tokenizing them as a pre-split sentence,
        which lets us tokenize each distinct word once (WordPiece, SentencePiece)."""
        probe = ["Hello", "wörld", "4_", "#", "naïve", "東京", "New-York", "it's"]
        joint = self.tokenizer(probe, is_split_into_words=True, add_special_tokens=False)[
            "input_ids"
        ]
        single = [
            i for w in probe for i in self.tokenizer(w, add_special_tokens=False)["input_ids"]
        ]
        # The word cache is filled by pre-split chunks (_chunk_pieces): check that path too.
        chunked = [i for pieces in self._chunk_pieces([probe])[0] for i in pieces]
        return joint == single == chunked

    def word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Subword ids for each word; a word with no subwords gets the unknown token."""
        if self._words_independent:
            self._cache_words(words)
            return [self._cache[w] for w in words]
        encoding = self.tokenizer([list(words)], is_split_into_words=True, add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in words]
        for token_id, word_id in zip(encoding["input_ids"][0], encoding.word_ids(0)):
            if word_id is not None:
                pieces[word_id].append(token_id)
        return [p or [self.unk_id] for p in pieces]

    def _cache_words(self, words: Iterable[str]) -> None:
        """Tokenize the distinct words not cached yet, many at once.

        The words go to the tokenizer as pre-split chunks of ``CHUNK_WORDS``, not one call per
        word: the per-word cost of an Encoding object and its conversion to Python then no
        longer dominates (it made tokenizing the 264k distinct words of the seven MultiCoNER
        train sets about twice as slow). Words are independent here (checked at construction),
        so a word's pieces do not depend on its neighbours in a chunk."""
        cache = self._cache
        missing = [w for w in dict.fromkeys(words) if w not in cache]
        chunks = [missing[i : i + CHUNK_WORDS] for i in range(0, len(missing), CHUNK_WORDS)]
        unk = [self.unk_id]
        for chunk, chunk_pieces in zip(chunks, self._chunk_pieces(chunks)):
            for word, pieces in zip(chunk, chunk_pieces):
                cache[word] = pieces or unk

    def _chunk_pieces(self, chunks: list[list[str]]) -> list[list[list[int]]]:
        """For each chunk of words, each word's subword ids (no special tokens), from one
        batched tokenizer call that the Rust tokenizer may spread over threads.

        Calls the Rust tokenizer directly when it has no truncation or padding set, which skips
        the wrapper's conversion to Python and its warning about sequences longer than the
        model (a chunk is not a model input); otherwise the wrapper."""
        if not chunks:
            return []
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None and backend.truncation is None and backend.padding is None:
            encodings = backend.encode_batch(chunks, is_pretokenized=True, add_special_tokens=False)
            pairs = [(e.ids, e.word_ids) for e in encodings]
        else:
            encoded = self.tokenizer(chunks, is_split_into_words=True, add_special_tokens=False)
            pairs = [(encoded["input_ids"][i], encoded.word_ids(i)) for i in range(len(chunks))]
        result = []
        for chunk, (ids, word_ids) in zip(chunks, pairs):
            pieces: list[list[int]] = [[] for _ in chunk]
            for token_id, word_id in zip(ids, word_ids):
                if word_id is not None:
                    pieces[word_id].append(token_id)
            result.append(pieces)
        return result

    def encode(self, words: Sequence[str]) -> EncodedSentence:
        return self._assemble(self.word_pieces(words))

    @staticmethod
    def _assemble(pieces: list[list[int]]) -> EncodedSentence:
        """One sentence from its words' subword ids; the loops run in C (chain, accumulate)."""
        ends = list(accumulate(map(len, pieces)))
        starts = [0, *ends[:-1]] if ends else []
        return EncodedSentence(list(chain.from_iterable(pieces)), starts, ends)

    def encode_many(self, sentences: Sequence[Sequence[str]]) -> list[EncodedSentence]:
        if not self._words_independent:
            return [self.encode(words) for words in sentences]
        self._cache_words(chain.from_iterable(sentences))
        lookup = self._cache.__getitem__
        with gc_paused():  # three new lists per sentence, no cycles: see gc_paused
            return [self._assemble(list(map(lookup, words))) for words in sentences]

    def windows(self, length: int) -> list[tuple[int, int]]:
        """Subword ranges covering ``length`` subwords, each at most ``window_length`` long."""
        size = self.window_length
        if length <= size:
            return [(0, length)]
        stride = max(1, int(size * (1.0 - self.window_overlap)))
        spans, start = [], 0
        while True:
            end = min(start + size, length)
            spans.append((end - size, end) if end - start < size else (start, end))
            if end >= length:
                return spans
            start += stride

    def build_inputs(self, batch: Sequence[EncodedSentence], pooling: str = "first") -> dict:
        """Model inputs for a batch: windows stacked along the batch axis, and for each word the
        flat position(s) of its subword vector(s) in the stacked output.

        Built as Python lists and turned into each tensor with one call: a sentence that fits
        one window (nearly all) needs no per-subword bookkeeping, only its row's offset."""
        prefix, suffix = self.prefix_ids, self.suffix_ids
        rows: list[list[int]] = []
        # Per sentence: its first row, and for a sentence split into windows, the (row offset,
        # position) each subword is read from (the window where it is farthest from an edge).
        placements: list[tuple[int, list[tuple[int, int]] | None]] = []
        for sentence in batch:
            ids = sentence.subword_ids
            first_row = len(rows)
            if len(ids) <= self.window_length:
                rows.append(prefix + ids + suffix)
                placements.append((first_row, None))
                continue
            spans = self.windows(len(ids))
            rows.extend(prefix + ids[start:end] + suffix for start, end in spans)
            placements.append((first_row, self._window_choices(len(ids), spans)))
        width = max(map(len, rows))
        pad = self.pad_id
        input_ids = torch.tensor(
            [row + [pad] * (width - len(row)) for row in rows], dtype=torch.long
        )
        row_lengths = torch.tensor([len(row) for row in rows], dtype=torch.long)
        attention = (torch.arange(width) < row_lengths[:, None]).long()
        num_words = max(s.num_words for s in batch)
        word_counts = torch.tensor([s.num_words for s in batch], dtype=torch.long)
        word_mask = torch.arange(num_words) < word_counts[:, None]
        offset = len(prefix)
        index_rows: list[list[int]] = []
        mean_src: list[int] = []
        mean_dst: list[int] = []
        for b, (sentence, (first_row, chosen)) in enumerate(zip(batch, placements)):
            flat: Sequence[int]
            if chosen is None:
                start = first_row * width + offset
                flat = range(start, start + len(sentence.subword_ids))
            else:
                flat = [(first_row + k) * width + offset + pos for k, pos in chosen]
            if pooling == "last":
                picks = [flat[e - 1] for e in sentence.word_ends]
            else:
                picks = [flat[s] for s in sentence.word_starts]
            if pooling == "mean":
                for w, (s, e) in enumerate(zip(sentence.word_starts, sentence.word_ends)):
                    mean_src.extend(flat[s:e])
                    mean_dst.extend([b * num_words + w] * (e - s))
            index_rows.append(picks + [0] * (num_words - len(picks)))
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "word_index": torch.tensor(index_rows, dtype=torch.long).view(len(batch), num_words),
            "word_mask": word_mask,
        }
        if pooling == "mean":
            inputs["mean_src"] = torch.tensor(mean_src, dtype=torch.long)
            inputs["mean_dst"] = torch.tensor(mean_dst, dtype=torch.long)
        return inputs

    @staticmethod
    def _window_choices(length: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """For each subword of a sentence split into ``spans``: the window it is read from (the
        one where it is farthest from an edge, the first on ties) and its position there."""
        chosen = []
        for j in range(length):
            best, best_margin = 0, -1
            for k, (start, end) in enumerate(spans):
                if start <= j < end:
                    margin = min(j - start, end - 1 - j)
                    if margin > best_margin:
                        best, best_margin = k, margin
            chosen.append((best, j - spans[best][0]))
        return chosen
