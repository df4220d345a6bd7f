"""Long input stays linear: window choice against the original quadratic search, inputs that
leave out the windows nothing reads from, an encoder that runs a long sentence in chunks within
max_tokens (same vectors, same gradients), and a 100k-subword sentence predicted by a real
model in a child process whose memory growth is measured."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from machamp_lite.data.tokenization import EncodedSentence, SubwordTokenizer
from machamp_lite.modules.encoder import TransformerEncoder, load_tokenizer
from machamp_lite.testing import demo_texts

from conftest import DEMO, ROOT


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_model):
    return load_tokenizer(str(tiny_model))


def reference_windows(length: int, size: int, overlap: float) -> list[tuple[int, int]]:
    """The window layout as first written: a stride loop, the last window moved back."""
    if length <= size:
        return [(0, length)]
    stride = max(1, int(size * (1.0 - overlap)))
    spans, start = [], 0
    while True:
        end = min(start + size, length)
        spans.append((end - size, end) if end - start < size else (start, end))
        if end >= length:
            return spans
        start += stride


def reference_choices(length: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The original quadratic search: for every subword, every window; the window where the
    subword is farthest from an edge wins, the first one on ties."""
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


def tokenizer_with(hf_tokenizer, size: int, overlap: float) -> SubwordTokenizer:
    """A SubwordTokenizer whose window holds ``size`` subwords (beyond the tiny model's 62)."""
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=8, window_overlap=overlap)
    tokenizer.window_length = size
    tokenizer.max_input_length = size + 2
    return tokenizer


def test_window_choices_equal_the_quadratic_search(hf_tokenizer):
    rng = random.Random(12)
    overlaps = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999]
    checked = 0
    for _ in range(1500):
        size = rng.choice([2, 3, 4, 5, 6, 7, 10, 31, 62, rng.randint(2, 300)])
        overlap = rng.choice([*overlaps, rng.random()])
        length = rng.randint(1, 4 * size + 40)
        tokenizer = tokenizer_with(hf_tokenizer, size, overlap)
        spans = reference_windows(length, size, overlap)
        assert tokenizer.windows(length) == spans, (size, overlap, length)
        chosen, positions = tokenizer.window_choices(length)
        expected = reference_choices(length, spans)
        assert list(zip(chosen.tolist(), positions.tolist())) == expected, (size, overlap, length)
        checked += length > size
    assert checked > 1000  # most cases have several windows


def test_window_choice_of_a_million_subwords_takes_no_time(hf_tokenizer):
    """The quadratic search took minutes here; the linear one a fraction of a second."""
    tokenizer = tokenizer_with(hf_tokenizer, 510, 0.5)
    chosen, positions = tokenizer.window_choices(1_000_000)
    starts = tokenizer.window_starts(1_000_000)
    assert len(chosen) == 1_000_000 and len(starts) == 3921
    assert np.array_equal(starts[chosen] + positions, np.arange(1_000_000))


def read_rows(tokenizer, sentence: EncodedSentence, inputs: dict, pooling: str):
    """For each subword pooling reads, in order: its row and its position after the prefix."""
    width = inputs["input_ids"].shape[1]
    offset = len(tokenizer.prefix_ids)
    if pooling == "mean":
        flat = inputs["mean_src"]
    else:
        flat = inputs["word_index"][0, : sentence.num_words]
    return (flat // width).tolist(), (flat % width - offset).tolist()


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
@pytest.mark.parametrize("overlap", [0.0, 0.5, 0.95])
def test_every_subword_is_read_from_the_window_the_search_chooses(hf_tokenizer, pooling, overlap):
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=12, window_overlap=overlap)
    size = tokenizer.window_length
    words = " ".join(demo_texts()).split()[:120] + ["a." * 30] + ["x"] * 7
    sentence = tokenizer.encode(words)
    length = len(sentence.subword_ids)
    spans = reference_windows(length, size, overlap)
    expected = reference_choices(length, spans)
    if pooling == "first":
        read = sentence.word_starts
    elif pooling == "last":
        read = [end - 1 for end in sentence.word_ends]
    else:
        read = list(range(length))
    inputs = tokenizer.build_inputs([sentence], pooling)
    used = sorted({expected[j][0] for j in read})  # the windows pooling reads from, in order
    assert inputs["input_ids"].shape == (len(used), size + 2)
    assert tokenizer.input_length(sentence, pooling) == len(used) * (size + 2)
    rows, columns = read_rows(tokenizer, sentence, inputs, pooling)
    assert [(used[row], column) for row, column in zip(rows, columns)] == [
        expected[j] for j in read
    ]
    body = inputs["input_ids"][:, 1 : size + 1]
    for row, window in enumerate(used):
        start, end = spans[window]
        assert body[row].tolist() == sentence.subword_ids[start:end]


def test_a_huge_token_needs_one_window_with_first_and_last_pooling(hf_tokenizer):
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=16)
    huge = "x." * 4000
    alone = tokenizer.encode([huge])
    assert len(alone.subword_ids) == 8000  # 1142 windows of 14 subwords
    between = tokenizer.encode(["before", huge, "after"])
    for pooling in ("first", "last"):
        inputs = tokenizer.build_inputs([alone], pooling)
        assert inputs["input_ids"].shape == (1, 16), pooling
        assert tokenizer.input_length(alone, pooling) == 16
        # words at both ends of a long sentence: its first and its last window
        assert tokenizer.build_inputs([between], pooling)["input_ids"].shape == (2, 16)
        assert tokenizer.input_length(between, pooling) == 32
    inputs = tokenizer.build_inputs([between], "first")
    ids = inputs["input_ids"].reshape(-1)[inputs["word_index"][0]].tolist()
    assert ids == [between.subword_ids[s] for s in between.word_starts]
    assert len(tokenizer.windows(8000)) == 1142


def test_short_sentences_give_the_rows_and_positions_they_always_had(hf_tokenizer):
    """No window needed: one row per sentence, each word read at its row's offset + start."""
    tokenizer = SubwordTokenizer(hf_tokenizer, max_input_length=64)
    text = " ".join(demo_texts()).split()
    batch = tokenizer.encode_many([text[:9], text[20:22], text[40:60], ["\u200b"]])
    width = max(len(s.subword_ids) for s in batch) + 2
    assert 40 < width <= 64  # the longest sentence fits one window, nearly filling it
    cls, sep, pad = tokenizer.prefix_ids, tokenizer.suffix_ids, tokenizer.pad_id
    for pooling in ("first", "last", "mean"):
        inputs = tokenizer.build_inputs(batch, pooling)
        expected_rows = [
            cls + s.subword_ids + sep + [pad] * (width - 2 - len(s.subword_ids)) for s in batch
        ]
        assert inputs["input_ids"].tolist() == expected_rows
        for b, s in enumerate(batch):
            reads = [e - 1 for e in s.word_ends] if pooling == "last" else s.word_starts
            assert inputs["word_index"][b, : s.num_words].tolist() == [
                b * width + 1 + r for r in reads
            ]
        if pooling == "mean":
            src = [
                b * width + 1 + j for b, s in enumerate(batch) for j, _ in enumerate(s.subword_ids)
            ]
            assert inputs["mean_src"].tolist() == src
            num_words = inputs["word_mask"].shape[1]
            dst = [
                b * num_words + w
                for b, s in enumerate(batch)
                for w, (start, end) in enumerate(zip(s.word_starts, s.word_ends))
                for _ in range(end - start)
            ]
            assert inputs["mean_dst"].tolist() == dst


def long_batch(encoder) -> dict:
    text = " ".join(demo_texts()).split()
    sentences = [text[:50], text[10:14], ["x." * 30, "y"], text[200:220]]
    return encoder.subwords.build_inputs(encoder.subwords.encode_many(sentences), encoder.pooling)


def double_encoder(tiny_model, pooling: str) -> TransformerEncoder:
    """A tiny encoder in float64 and eval mode (no dropout), so chunked and one-call results
    can be compared to rounding of float64."""
    encoder = TransformerEncoder(str(tiny_model), max_input_length=16, pooling=pooling)
    return encoder.double().eval()


def transformer_calls(encoder) -> list[tuple[int, int]]:
    shapes: list[tuple[int, int]] = []
    encoder.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    return shapes


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_chunked_encoder_gives_the_vectors_of_one_call(tiny_model, pooling):
    encoder = double_encoder(tiny_model, pooling)
    inputs = long_batch(encoder)
    rows, width = inputs["input_ids"].shape
    assert rows > 10
    calls = transformer_calls(encoder)
    with torch.no_grad():
        whole, mask = encoder(inputs)
        assert calls == [(rows, width)]
        within_budget, _ = encoder({**inputs, "max_tokens": rows * width})
        assert calls[1:] == [(rows, width)]  # a batch within the budget is one call
        del calls[:]
        for budget in (3 * width + 5, 1):  # three rows a chunk; one row (under one row's size)
            chunked, chunked_mask = encoder({**inputs, "max_tokens": budget})
            assert all(r * w <= max(budget, width) for r, w in calls)
            assert sum(r for r, _ in calls) == rows
            del calls[:]
            torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)
            assert torch.equal(chunked_mask, mask)
    assert torch.equal(within_budget, whole)


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_chunked_encoder_gives_the_gradients_of_one_call(tiny_model, pooling):
    encoder = double_encoder(tiny_model, pooling)
    inputs = long_batch(encoder)
    width = inputs["input_ids"].shape[1]
    generator = torch.Generator().manual_seed(1)
    weights = torch.randn(encoder.output_dim, dtype=torch.float64, generator=generator)
    gradients = []
    for budget in (None, 4 * width):
        encoder.zero_grad()
        vectors, mask = encoder({**inputs, "max_tokens": budget})
        loss = ((vectors @ weights).tanh() * mask).sum()
        loss.backward()
        gradients.append(
            {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}
        )
    whole, chunked = gradients
    assert whole.keys() == chunked.keys() and len(whole) > 10
    for name in whole:
        torch.testing.assert_close(chunked[name], whole[name], rtol=1e-9, atol=1e-12)


# Peak RSS growth allowed while predicting the 100k-subword sentence (peak during prediction
# minus RSS just before it), in the benchmark's child process with its model (2 layers, hidden
# 128, 510-subword windows: 100k subwords are 392 windows). Measured on the 2-core x86 machine:
# 117 MB now, most of it the CRF's per-word bookkeeping for the 37,596 words; 808 MB with the
# code before (all 392 windows of 512 positions through the transformer in one call, and
# per-subword Python tuples), where this test fails. Both start from about 384 MB after loading.
RSS_GROWTH_BOUND_MB = 300
PREDICTION_MAX_TOKENS = 4096  # the default prediction.max_tokens of the archive


@pytest.fixture(scope="module")
def window_512_archive(tmp_path_factory):
    """The benchmark's archive: the small random BERT with 512-subword windows, trained one
    epoch on 40 demo sentences."""
    from benchmarks.bench_long_sentence import train_archive

    return train_archive(tmp_path_factory.mktemp("long-input"), "small", threads=1)


@pytest.mark.slow
def test_a_100k_subword_sentence_is_predicted_in_bounded_memory(window_512_archive):
    from benchmarks.bench_long_sentence import CHILD

    command = [
        sys.executable,
        "-c",
        CHILD,
        str(window_512_archive),
        "words",
        "100000",
        str(DEMO / "multiconer_demo_train.conll"),
        "1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    assert measured["subwords"] >= 100_000
    assert measured["labels"] == measured["words"]
    growth = measured["peak_rss_mb"] - measured["rss_before_mb"]
    assert growth < RSS_GROWTH_BOUND_MB, measured
    assert measured["largest_call_positions"] <= PREDICTION_MAX_TOKENS
