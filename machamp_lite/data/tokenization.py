"""Words to subwords with a fast Hugging Face tokenizer, and subwords to model inputs.

All subword concerns live here and in the encoder: special tokens, sliding windows over input
longer than the model's maximum, and the indices that pool subword vectors back to words. Every
word gets at least one subword (an empty tokenization becomes the unknown token), so outputs
stay aligned one-to-one with the input words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

POOLING_MODES = ("first", "last", "mean")


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
        return joint == single

    def word_pieces(self, words: Sequence[str]) -> list[list[int]]:
        """Subword ids for each word; a word with no subwords gets the unknown token."""
        if self._words_independent:
            missing = [w for w in dict.fromkeys(words) if w not in self._cache]
            if missing:
                ids = self.tokenizer(missing, add_special_tokens=False)["input_ids"]
                for word, pieces in zip(missing, ids):
                    self._cache[word] = pieces or [self.unk_id]
            return [self._cache[w] for w in words]
        encoding = self.tokenizer([list(words)], is_split_into_words=True, add_special_tokens=False)
        pieces: list[list[int]] = [[] for _ in words]
        for token_id, word_id in zip(encoding["input_ids"][0], encoding.word_ids(0)):
            if word_id is not None:
                pieces[word_id].append(token_id)
        return [p or [self.unk_id] for p in pieces]

    def encode(self, words: Sequence[str]) -> EncodedSentence:
        ids: list[int] = []
        starts, ends = [], []
        for pieces in self.word_pieces(words):
            starts.append(len(ids))
            ids.extend(pieces)
            ends.append(len(ids))
        return EncodedSentence(ids, starts, ends)

    def encode_many(self, sentences: Sequence[Sequence[str]]) -> list[EncodedSentence]:
        if self._words_independent:
            self.word_pieces([w for words in sentences for w in words])
        return [self.encode(words) for words in sentences]

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
        flat position(s) of its subword vector(s) in the stacked output."""
        prefix, suffix = self.prefix_ids, self.suffix_ids
        rows: list[list[int]] = []
        # For every sentence and subword: flat index of the window row and position it is read from.
        sub_positions: list[list[int]] = []
        for sentence in batch:
            n = len(sentence.subword_ids)
            spans = self.windows(n)
            first_row = len(rows)
            for start, end in spans:
                rows.append(prefix + sentence.subword_ids[start:end] + suffix)
            if len(spans) == 1:
                sub_positions.append([(first_row, len(prefix) + j) for j in range(n)])
                continue
            chosen = []
            for j in range(n):
                best, best_margin = 0, -1
                for k, (start, end) in enumerate(spans):
                    if start <= j < end:
                        margin = min(j - start, end - 1 - j)
                        if margin > best_margin:
                            best, best_margin = k, margin
                chosen.append((first_row + best, len(prefix) + j - spans[best][0]))
            sub_positions.append(chosen)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            attention[i, : len(row)] = 1
        num_words = max(s.num_words for s in batch)
        word_mask = torch.zeros((len(batch), num_words), dtype=torch.bool)
        word_index = torch.zeros((len(batch), num_words), dtype=torch.long)
        mean_src: list[int] = []
        mean_dst: list[int] = []
        for b, (sentence, positions) in enumerate(zip(batch, sub_positions)):
            flat = [row * width + pos for row, pos in positions]
            word_mask[b, : sentence.num_words] = True
            if pooling == "first":
                picks = [flat[s] for s in sentence.word_starts]
            elif pooling == "last":
                picks = [flat[e - 1] for e in sentence.word_ends]
            else:
                picks = [flat[s] for s in sentence.word_starts]
                for w, (s, e) in enumerate(zip(sentence.word_starts, sentence.word_ends)):
                    mean_src.extend(flat[s:e])
                    mean_dst.extend([b * num_words + w] * (e - s))
            word_index[b, : sentence.num_words] = torch.tensor(picks, dtype=torch.long)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "word_index": word_index,
            "word_mask": word_mask,
        }
        if pooling == "mean":
            inputs["mean_src"] = torch.tensor(mean_src, dtype=torch.long)
            inputs["mean_dst"] = torch.tensor(mean_dst, dtype=torch.long)
        return inputs
