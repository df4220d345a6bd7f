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

import numpy as np
import torch

from .context import encode_many_with_context
from .masking import MaskingVocabulary, hide_tokens
from .readers import gc_paused
from .segments import join_segments, pair_layout

POOLING_MODES = ("first", "last", "mean")
# Distinct words per tokenizer call when filling the word cache.
CHUNK_WORDS = 2048


@dataclass
class EncodedSentence:
    """Subword ids of one sentence (no special tokens) and each word's subword range.

    A sentence pair (text in several columns) keeps the separators that the tokenizer's pair
    template puts between its segments inside ``subword_ids``, in no word's range, so windows
    and pooling treat it as one sequence; ``type_ids`` then gives each subword's token type
    (segment 0, 1, 0, ...), or is None when the template gives every segment type 0.
    """

    subword_ids: list[int]
    word_starts: list[int]
    word_ends: list[int]  # exclusive
    type_ids: list[int] | None = None
    # Masked language modelling: per subword, the id it had before it was hidden, -100 where
    # it was not; None for a sentence nobody corrupted (``corrupt_sentences``).
    masked_targets: list[int] | None = None

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
        self._pair = pair_layout(tokenizer, prefix, suffix)

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

    def encode(
        self, words: Sequence[str], segments: Sequence[int] | None = None
    ) -> EncodedSentence:
        """One sentence; ``segments`` (the first word of each text segment) makes it a pair."""
        if segments is None:
            return self._assemble(self.word_pieces(words))
        return self._assemble_segments(self.word_pieces(words), segments)

    @staticmethod
    def _assemble(pieces: list[list[int]]) -> EncodedSentence:
        """One sentence from its words' subword ids; the loops run in C (chain, accumulate)."""
        ends = list(accumulate(map(len, pieces)))
        starts = [0, *ends[:-1]] if ends else []
        return EncodedSentence(list(chain.from_iterable(pieces)), starts, ends)

    def _assemble_segments(
        self, pieces: list[list[int]], segments: Sequence[int]
    ) -> EncodedSentence:
        """Several texts as one input, as the tokenizer's pair template joins them (see
        ``segments.join_segments``)."""
        return EncodedSentence(*join_segments(pieces, segments, self._pair))

    def encode_many(
        self,
        sentences: Sequence[Sequence[str]],
        segments: Sequence[Sequence[int] | None] | None = None,
        contexts: Sequence[Sequence[str] | None] | None = None,
    ) -> list[EncodedSentence]:
        """Each sentence's subwords; ``segments[i]`` (None: one segment) as in ``encode``,
        ``contexts[i]`` (None: none) as in ``context.encode_with_context``."""
        if contexts is not None and any(contexts):
            return encode_many_with_context(self, sentences, segments, contexts)
        if segments is not None and any(s is not None for s in segments):
            if self._words_independent:  # one tokenizer pass over every distinct word
                self._cache_words(chain.from_iterable(sentences))
            return [self.encode(words, starts) for words, starts in zip(sentences, segments)]
        if not self._words_independent:
            return [self.encode(words) for words in sentences]
        self._cache_words(chain.from_iterable(sentences))
        lookup = self._cache.__getitem__
        with gc_paused():  # three new lists per sentence, no cycles: see gc_paused
            return [self._assemble(list(map(lookup, words))) for words in sentences]

    def window_starts(self, length: int) -> np.ndarray:
        """First subword of each window over ``length`` subwords. Windows start every ``stride``
        subwords; the last one ends at the sentence's end (moved back to stay full). When the
        sentence is longer than a window every window holds exactly ``window_length`` subwords,
        and the starts strictly increase."""
        size = self.window_length
        if length <= size:
            return np.zeros(1, dtype=np.int64)
        stride = max(1, int(size * (1.0 - self.window_overlap)))
        regular = -(-(length - size) // stride)  # windows that end before the sentence does
        starts = np.empty(regular + 1, dtype=np.int64)
        starts[:regular] = np.arange(regular, dtype=np.int64) * stride
        starts[regular] = length - size
        return starts

    def windows(self, length: int) -> list[tuple[int, int]]:
        """Subword ranges covering ``length`` subwords, each at most ``window_length`` long."""
        if length <= self.window_length:
            return [(0, length)]
        size = self.window_length
        return [(start, start + size) for start in self.window_starts(length).tolist()]

    def window_choices(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``length`` subwords: the window it is read from (the one where it is
        farthest from an edge, the first on ties) and its position in that window.

        Linear in ``length`` plus the number of windows. Subword j's margin in window k is
        min(j - s_k, s_k + size - 1 - j): the first term falls and the second rises as k grows
        (the starts s_k strictly increase), so over k the margin strictly rises while the
        second term is the smaller, then strictly falls. The best window is therefore the last
        one whose second term is at most its first (2 s_k <= 2 j - size + 1, that is
        j >= s_k + size // 2), or the window after it when that one's margin is larger; the
        windows that do not contain j have negative margins and never win."""
        size = self.window_length
        starts = self.window_starts(length)
        if len(starts) == 1:
            positions = np.arange(length, dtype=np.int64)
            return np.zeros(length, dtype=np.int64), positions
        # candidate[j]: how many windows have s_k + size // 2 <= j, minus one (-1: none).
        thresholds = np.minimum(starts + size // 2, length)
        candidate = np.cumsum(np.bincount(thresholds, minlength=length + 1)[:length]) - 1
        subword = np.arange(length, dtype=np.int64)
        following = np.minimum(candidate + 1, len(starts) - 1)
        here = starts[np.maximum(candidate, 0)]
        there = starts[following]
        margin_here = np.minimum(subword - here, here + size - 1 - subword)
        margin_there = np.minimum(subword - there, there + size - 1 - subword)
        take_next = (candidate < 0) | (margin_there > margin_here)
        chosen = np.where(take_next, following, candidate)
        return chosen, subword - starts[chosen]

    def _read_subwords(self, sentence: EncodedSentence, pooling: str) -> np.ndarray:
        """The subwords whose vectors pooling reads, in the order it reads them: each word's
        first or last subword, or (mean) every subword of each word in turn."""
        starts = np.asarray(sentence.word_starts, dtype=np.int64)
        if pooling == "first":
            return starts
        ends = np.asarray(sentence.word_ends, dtype=np.int64)
        if pooling == "last":
            return ends - 1
        return _concatenated_ranges(starts, ends)

    def _placement(self, sentence: EncodedSentence, pooling: str):
        """Where a sentence longer than one window is read from: the starts of the windows that
        pooling reads from (the others are not encoded at all), and for each subword that
        pooling reads, the row among those windows and the position in it."""
        length = len(sentence.subword_ids)
        starts = self.window_starts(length)
        chosen, positions = self.window_choices(length)
        read = self._read_subwords(sentence, pooling)
        window = chosen[read]
        used = np.zeros(len(starts), dtype=bool)
        used[window] = True
        row_of_window = np.cumsum(used) - 1
        return starts[used], row_of_window[window], positions[read]

    def input_length(self, sentence: EncodedSentence, pooling: str = "first") -> int:
        """Padded model positions a sentence needs (all the windows it is read from), for
        max_tokens budgets."""
        length = len(sentence.subword_ids)
        specials = len(self.prefix_ids) + len(self.suffix_ids)
        if length <= self.window_length:
            return length + specials
        kept_starts, _, _ = self._placement(sentence, pooling)
        return len(kept_starts) * (self.window_length + specials)

    def build_inputs(self, batch: Sequence[EncodedSentence], pooling: str = "first") -> dict:
        """Model inputs for a batch: windows stacked along the batch axis, and for each word the
        flat position(s) of its subword vector(s) in the stacked output.

        A sentence that fits one window (nearly all) is one row built as a Python list; all
        such rows become a tensor in one call, and their word positions come from a few numpy
        operations over the whole batch. A longer sentence is split into overlapping windows
        with numpy (no per-subword Python objects), and only the windows that pooling reads
        from become rows: one huge token pooled by its first subword costs one window."""
        prefix, suffix = self.prefix_ids, self.suffix_ids
        size, offset = self.window_length, len(prefix)
        specials = len(prefix) + len(suffix)
        pad = self.pad_id
        width = specials + min(size, max(len(s.subword_ids) for s in batch))
        num_words = max(s.num_words for s in batch)
        rows: list[list[int]] = []  # padded rows of the sentences that fit one window
        row_lengths: list[int] = []
        short: list[tuple[int, int, int]] = []  # (sentence, row, words) of those sentences
        word_starts: list[int] = []  # and their words' subword ranges, one after the other
        word_ends: list[int] = []
        # (sentence, first row, window starts, positions read) of the sentences with windows
        windowed: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for b, sentence in enumerate(batch):
            ids = sentence.subword_ids
            if len(ids) <= size:
                short.append((b, len(row_lengths), sentence.num_words))
                rows.append(prefix + ids + suffix + [pad] * (width - specials - len(ids)))
                row_lengths.append(len(ids) + specials)
                word_starts.extend(sentence.word_starts)
                word_ends.extend(sentence.word_ends)
            else:
                kept_starts, window_rows, positions = self._placement(sentence, pooling)
                first_row = len(row_lengths)
                read = (window_rows + first_row) * width + offset + positions
                windowed.append((b, first_row, kept_starts, read))
                row_lengths.extend([width] * len(kept_starts))
        word_index = np.zeros(len(batch) * num_words, dtype=np.int64)
        mean_src: list[np.ndarray] = []
        mean_dst: list[np.ndarray] = []
        if short:
            sentence_of, row_of, words_of = (np.asarray(c, dtype=np.int64) for c in zip(*short))
            # each word's slot in the [batch * words] output, and where its row starts
            slots = np.repeat(sentence_of * num_words - (np.cumsum(words_of) - words_of), words_of)
            slots += np.arange(len(word_starts), dtype=np.int64)
            row_start = np.repeat(row_of * width + offset, words_of)
            starts = np.asarray(word_starts, dtype=np.int64) + row_start
            ends = np.asarray(word_ends, dtype=np.int64) + row_start
            word_index[slots] = ends - 1 if pooling == "last" else starts
            if pooling == "mean":
                mean_src.append(_concatenated_ranges(starts, ends))
                mean_dst.append(np.repeat(slots, ends - starts))
        for b, _, _, read in windowed:
            sentence = batch[b]
            slots = np.arange(sentence.num_words, dtype=np.int64) + b * num_words
            if pooling == "mean":
                counts = np.asarray(sentence.word_ends) - np.asarray(sentence.word_starts)
                mean_src.append(read)
                mean_dst.append(np.repeat(slots, counts))
                # word_index holds each word's first subword, as with first pooling
                read = read[np.minimum(np.cumsum(counts) - counts, max(len(read) - 1, 0))]
            word_index[slots] = read
        if not windowed:
            input_ids = torch.tensor(rows, dtype=torch.long)
        else:
            ids_array = np.full((len(row_lengths), width), pad, dtype=np.int64)
            if rows:
                ids_array[[row for _, row, _ in short]] = np.asarray(rows, dtype=np.int64)
            for b, first_row, kept_starts, _ in windowed:
                subword_ids = np.asarray(batch[b].subword_ids, dtype=np.int64)
                block = ids_array[first_row : first_row + len(kept_starts)]
                block[:, :offset] = prefix
                block[:, offset : offset + size] = subword_ids[
                    kept_starts[:, None] + np.arange(size, dtype=np.int64)
                ]
                block[:, offset + size :] = suffix
            input_ids = torch.from_numpy(ids_array)
        attention = (torch.arange(width) < torch.tensor(row_lengths)[:, None]).long()
        word_counts = torch.tensor([s.num_words for s in batch], dtype=torch.long)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "word_index": torch.from_numpy(word_index).view(len(batch), num_words),
            "word_mask": torch.arange(num_words) < word_counts[:, None],
        }
        if any(sentence.masked_targets is not None for sentence in batch):
            # Per "word", which is a subword in the subword view: what the decoder scores.
            targets = torch.full((len(batch), num_words), -100, dtype=torch.long)
            for b, sentence in enumerate(batch):
                if sentence.masked_targets is not None:
                    targets[b, : len(sentence.masked_targets)] = torch.tensor(
                        sentence.masked_targets, dtype=torch.long
                    )
            inputs["masked_targets"] = targets
        if any(sentence.type_ids is not None for sentence in batch):
            inputs["token_type_ids"] = self._token_types(
                batch, short, windowed, len(row_lengths), width
            )
        if pooling == "mean":
            src, dst = np.concatenate(mean_src), np.concatenate(mean_dst)
            if windowed and short:  # in sentence order, as index_add_ then sums in that order
                order = np.argsort(dst, kind="stable")
                src, dst = src[order], dst[order]
            inputs["mean_src"] = torch.from_numpy(src)
            inputs["mean_dst"] = torch.from_numpy(dst)
        return inputs

    def _token_types(self, batch, short, windowed, rows: int, width: int) -> torch.Tensor:
        """Token types in the layout of ``build_inputs``'s ``input_ids``, for a batch with pairs:
        each row's special tokens take the type of the row's first and last subword (which in a
        whole pair is what the tokenizer's template gives them; a window of a long pair starts
        and ends as its text does, as in MaChAmp's split inputs), padding and single sentences
        type 0."""
        before, after, size = len(self.prefix_ids), len(self.suffix_ids), self.window_length
        types = np.zeros((rows, width), dtype=np.int64)
        for b, row, _ in short:
            kinds = batch[b].type_ids
            if kinds:
                end = before + len(kinds)
                types[row, :before] = kinds[0]
                types[row, before:end] = kinds
                types[row, end : end + after] = kinds[-1]
        for b, first_row, kept_starts, _ in windowed:
            if batch[b].type_ids:
                kinds = np.asarray(batch[b].type_ids, dtype=np.int64)
                block = kinds[kept_starts[:, None] + np.arange(size, dtype=np.int64)]
                rows_of = slice(first_row, first_row + len(kept_starts))
                types[rows_of, :before] = block[:, :1]
                types[rows_of, before : before + size] = block
                types[rows_of, before + size :] = block[:, -1:]
        return torch.from_numpy(types)


def subword_view(sentence: EncodedSentence) -> EncodedSentence:
    """The sentence with every subword as a "word" of its own, so that pooling, windows and
    batching stay as they are and a decoder gets one vector per subword (masked language
    modelling predicts subwords, not words)."""
    count = len(sentence.subword_ids)
    return EncodedSentence(sentence.subword_ids, list(range(count)), list(range(1, count + 1)))


def corrupt_sentences(
    sentences: Sequence[EncodedSentence],
    vocabulary: MaskingVocabulary,
    generator: torch.Generator | None = None,
) -> list[EncodedSentence]:
    """Copies of subword-view sentences with tokens hidden as BERT hides them
    (:func:`~machamp_lite.data.masking.hide_tokens`, one draw over the whole batch), each
    carrying its ``masked_targets``. Special tokens are added only when inputs are built, so
    they and the padding can never be hidden."""
    lengths = [len(s.subword_ids) for s in sentences]
    flat = torch.tensor([i for s in sentences for i in s.subword_ids], dtype=torch.long)
    corrupted, targets = hide_tokens(flat, vocabulary, generator)
    result, start = [], 0
    for sentence, length in zip(sentences, lengths):
        end = start + length
        result.append(
            EncodedSentence(
                corrupted[start:end].tolist(),
                sentence.word_starts,
                sentence.word_ends,
                masked_targets=targets[start:end].tolist(),
            )
        )
        start = end
    return result


def _concatenated_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """np.arange(s, e) for each (s, e) in turn, concatenated, without a Python loop."""
    counts = ends - starts
    shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    return np.arange(int(counts.sum()), dtype=np.int64) + shift
