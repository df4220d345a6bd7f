"""Tests for words-to-subwords: special tokens, windows over long input and word pooling indices."""

from __future__ import annotations

import pytest
import torch

from machamp_lite.data.tokenization import SubwordTokenizer
from machamp_lite.modules.encoder import load_tokenizer

SENTENCES = [
    ["When", "does", "the", "shop", "open", "tomorrow", "?"],
    ["Nadine", "Scholl", "wuchs", "in", "Bonn", "auf", "und", "zog", "später", "nach"],
    ["4_", "#", "Norfolk", "Wildlife", "Trust", "東京", "naïve", "it's", "New-York"],
    ["x"],
]


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


@pytest.fixture
def subwords(hf_tokenizer):
    return SubwordTokenizer(hf_tokenizer, max_input_length=64)


def long_sentence(n: int = 40) -> list[str]:
    words = [w for s in SENTENCES for w in s]
    return [words[i % len(words)] for i in range(n)]


def test_special_token_layout_is_found(subwords, hf_tokenizer):
    assert subwords.prefix_ids == [hf_tokenizer.cls_token_id]
    assert subwords.suffix_ids == [hf_tokenizer.sep_token_id]
    assert subwords.max_input_length == 64  # the tokenizer's model_max_length
    assert subwords.window_length == 62


def test_every_word_gets_at_least_one_subword(subwords, hf_tokenizer):
    words = ["a", "\u200b", "\x07", "", "Bonn", "\u00ad"]
    pieces = subwords.word_pieces(words)
    assert len(pieces) == len(words)
    assert all(len(p) >= 1 for p in pieces)
    assert pieces[1] == [hf_tokenizer.unk_token_id]
    assert pieces[2] == [hf_tokenizer.unk_token_id]
    encoded = subwords.encode(words)
    assert encoded.num_words == len(words)
    assert all(e > s for s, e in zip(encoded.word_starts, encoded.word_ends))


def test_slow_path_also_gives_every_word_a_subword(hf_tokenizer):
    slow = SubwordTokenizer(hf_tokenizer, max_input_length=64)
    slow._words_independent = False
    pieces = slow.word_pieces(["a", "\u200b", "b"])
    assert pieces[1] == [hf_tokenizer.unk_token_id]
    assert all(pieces)


def test_word_cache_fast_path_matches_the_tokenizer(subwords, hf_tokenizer):
    assert subwords._words_independent  # the fast path is what this test checks
    for words in SENTENCES:
        encoded = subwords.encode(words)
        plain = hf_tokenizer(words, is_split_into_words=True, add_special_tokens=False)
        assert encoded.subword_ids == plain["input_ids"]
        word_ids = plain.word_ids()
        for w, (start, end) in enumerate(zip(encoded.word_starts, encoded.word_ends)):
            assert word_ids[start:end] == [w] * (end - start)
        full = hf_tokenizer(words, is_split_into_words=True)["input_ids"]
        assert subwords.prefix_ids + encoded.subword_ids + subwords.suffix_ids == full


def test_fast_and_slow_paths_agree(subwords, hf_tokenizer):
    slow = SubwordTokenizer(hf_tokenizer, max_input_length=64)
    slow._words_independent = False
    batch = [*SENTENCES, ["a", "\u200b", "b"]]
    assert [vars(e) for e in subwords.encode_many(batch)] == [
        vars(e) for e in slow.encode_many(batch)
    ]


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("length", [1, 5, 6, 7, 12, 13, 31])
def test_windows_cover_everything_and_are_never_too_long(hf_tokenizer, overlap, length):
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=8, window_overlap=overlap)
    size = tokenizer.window_length
    assert size == 6
    spans = tokenizer.windows(length)
    covered = set()
    for start, end in spans:
        assert 0 <= start < end <= length
        assert end - start <= size
        covered.update(range(start, end))
    assert covered == set(range(length))
    if length <= size:
        assert spans == [(0, length)]


def check_inputs(tokenizer, encoded, inputs, pooling):
    input_ids = inputs["input_ids"]
    flat_ids = input_ids.reshape(-1)
    attention = inputs["attention_mask"]
    assert input_ids.shape[1] <= tokenizer.max_input_length
    for row, mask in zip(input_ids, attention):
        length = int(mask.sum())
        assert row[0] == tokenizer.prefix_ids[0]
        assert row[length - 1] == tokenizer.suffix_ids[0]
    assert inputs["word_mask"].sum(dim=1).tolist() == [e.num_words for e in encoded]
    flat_attention = attention.reshape(-1)
    for b, sentence in enumerate(encoded):
        for w in range(sentence.num_words):
            pieces = sentence.subword_ids[sentence.word_starts[w] : sentence.word_ends[w]]
            position = int(inputs["word_index"][b, w])
            assert flat_attention[position] == 1
            expected = pieces[-1] if pooling == "last" else pieces[0]
            assert int(flat_ids[position]) == expected
    if pooling == "mean":
        num_words = inputs["word_mask"].shape[1]
        src, dst = inputs["mean_src"], inputs["mean_dst"]
        assert len(src) == len(dst) == sum(len(e.subword_ids) for e in encoded)
        for b, sentence in enumerate(encoded):
            for w in range(sentence.num_words):
                chosen = src[dst == b * num_words + w]
                pieces = sentence.subword_ids[sentence.word_starts[w] : sentence.word_ends[w]]
                assert flat_ids[chosen].tolist() == pieces  # every subword once, in order
                assert bool(flat_attention[chosen].all())


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
@pytest.mark.parametrize("overlap", [0.0, 0.5])
def test_build_inputs_with_windows(hf_tokenizer, pooling, overlap):
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=8, window_overlap=overlap)
    batch = [long_sentence(40), SENTENCES[0], ["\u200b"], long_sentence(9)]
    encoded = tokenizer.encode_many(batch)
    assert len(encoded[0].subword_ids) > 3 * tokenizer.window_length  # several windows
    inputs = tokenizer.build_inputs(encoded, pooling)
    assert inputs["input_ids"].shape[0] > len(batch)
    assert inputs["input_ids"].shape[1] <= 8
    check_inputs(tokenizer, encoded, inputs, pooling)


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_build_inputs_without_windows(subwords, pooling):
    encoded = subwords.encode_many(SENTENCES)
    inputs = subwords.build_inputs(encoded, pooling)
    assert inputs["input_ids"].shape[0] == len(SENTENCES)
    assert inputs["word_index"].shape == (len(SENTENCES), max(len(s) for s in SENTENCES))
    check_inputs(subwords, encoded, inputs, pooling)
    padding = ~inputs["word_mask"]
    assert bool((inputs["word_index"][padding] == 0).all())


def test_windowed_word_is_read_from_the_window_where_it_is_most_central(hf_tokenizer):
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=8, window_overlap=0.5)
    encoded = tokenizer.encode(["x"] * 12)  # one subword per word
    assert len(encoded.subword_ids) == 12
    inputs = tokenizer.build_inputs([encoded])
    width = inputs["input_ids"].shape[1]
    rows = (inputs["word_index"][0] // width).tolist()
    # windows (0,6) (3,9) (6,12); a word is read where it has the most context on both sides
    # (ties go to the earlier window), so only the sentence's own ends sit at a window's edge
    assert tokenizer.windows(12) == [(0, 6), (3, 9), (6, 12)]
    assert rows == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    offsets = (inputs["word_index"][0] % width - len(tokenizer.prefix_ids)).tolist()
    assert offsets[0] == 0 and offsets[11] == 5
    assert all(1 <= offset <= 4 for offset in offsets[1:11])


def test_too_small_max_input_length_is_refused(hf_tokenizer):
    with pytest.raises(ValueError, match="leaves no room"):
        SubwordTokenizer(hf_tokenizer, max_input_length=3)


def test_input_ids_are_long_tensors(subwords):
    inputs = subwords.build_inputs(subwords.encode_many(SENTENCES[:2]))
    assert inputs["input_ids"].dtype == torch.long
    assert inputs["word_mask"].dtype == torch.bool
