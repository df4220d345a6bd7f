"""The contract every registered decoder keeps, checked once for all of them (plugins registered
at collection time included): the trainer and the predictor rely on exactly this and on
nothing task-specific, so a new task type that passes here fits into training, prediction and
archives. Behaviour particular to one decoder is tested in its own file."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch

from machamp_lite.decoders.codecs import (
    ArcCodec,
    BioCodec,
    EditScriptCodec,
    LabelCodec,
    MultiLabelCodec,
    NumberCodec,
)
from machamp_lite.decoders.probdistr import DistributionCodec
from machamp_lite.decoders.tok import SegmentationCodec
from machamp_lite.registry import decoders, load_plugins
from machamp_lite.testing import random_word_batch

DIM = 8

# Two sentences (words, gold labels) per codec, of different lengths so that padding counts.
SAMPLES: dict[type[LabelCodec], list[tuple[list[str], Any]]] = {
    BioCodec: [
        (["Anna", "Smith", "visited", "New", "York"], ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]),
        (["in", "Rome"], ["O", "B-LOC"]),
    ],
    MultiLabelCodec: [
        (["she", "sees", "."], ["Case=Nom|Number=Sing", "Number=Sing|Person=3", "_"]),
        (["dogs"], ["Number=Plur"]),
    ],
    ArcCodec: [
        (["the", "dog", "barks", "."], ["2\tdet", "3\tnsubj", "0\troot", "3\tpunct"]),
        (["go", "!"], ["0\troot", "1\tpunct"]),
    ],
    NumberCodec: [(["a", "good", "film"], "3.5"), (["bad"], "-1.25")],
    DistributionCodec: [(["a", "good", "film"], "0.25\t0.75"), (["bad"], "1.0\t0.0")],
    SegmentationCodec: [(["do", "n't", "go"], ["merge", "split", "split"]), (["!"], ["split"])],
    EditScriptCodec: [
        (["The", "dogs", "were", "barking"], ["the", "dog", "be", "bark"]),
        (["Geese", "went"], ["goose", "go"]),
    ],
}
# A codec not listed above (a plugin's, or the plain one) gets plain labels of its level.
PLAIN = {
    "token": [(["the", "dog", "barks"], ["DET", "NOUN", "VERB"]), (["go", "!"], ["VERB", "PUNCT"])],
    "sentence": [(["a", "good", "film"], "positive"), (["bad"], "negative")],
}


def samples(codec: LabelCodec) -> list[tuple[list[str], Any]]:
    for klass in type(codec).__mro__:
        if klass in SAMPLES:
            return SAMPLES[klass]
    return PLAIN[codec.level]


def per_label(codec: LabelCodec, labels: Any) -> list[Any]:
    return labels if codec.level == "token" else [labels]


load_plugins()
DECODERS = [pytest.param(component, id=name) for name, component in decoders.items()]


def build(decoder_class, seed: int = 0):
    """The decoder on a vocabulary built from its samples, as training builds it, with the
    samples' words, targets and random word vectors."""
    codec = decoder_class.codec
    words = [w for w, _ in samples(codec)]
    targets = [codec.gold_to_targets(w, labels) for w, labels in samples(codec)]
    counts: Counter = Counter()
    for value in targets:
        counts.update(codec.vocabulary_items(value))
    torch.manual_seed(seed)
    decoder = decoder_class(DIM, codec.build_vocabulary(counts)).eval()
    vectors, mask = random_word_batch([len(w) for w in words], dim=DIM, seed=seed)
    return decoder, words, targets, vectors, mask


def gold_of(decoder, targets: list, num_words: int) -> torch.Tensor:
    return decoder.codec.to_tensor(decoder.vocabulary, targets, num_words)


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_the_codec_accepts_its_labels_and_round_trips_them(decoder_class):
    codec = decoder_class.codec
    assert codec.level in ("token", "sentence") and codec.label_width >= 1
    for words, labels in samples(codec):
        assert all(codec.validate(label) is None for label in per_label(codec, labels))
        assert codec.normalise(labels) == (labels, 0)  # the samples are normal already
        targets = codec.gold_to_targets(words, labels)
        assert codec.targets_to_labels(words, targets) == labels
        assert isinstance(codec.vocabulary_items(targets), list)
    assert codec.validate("") is not None


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_the_loss_is_a_finite_scalar_that_trains_the_decoder(decoder_class):
    decoder, words, targets, vectors, mask = build(decoder_class)
    loss = decoder.train().loss(vectors, mask, gold_of(decoder, targets, vectors.shape[1]))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_decode_gives_one_valid_label_per_word_or_sentence(decoder_class):
    decoder, words, _, vectors, mask = build(decoder_class)
    codec = decoder.codec
    predicted = decoder.decode(vectors, mask)
    assert len(predicted) == len(words)
    for sentence_words, value in zip(words, predicted):
        labels = codec.targets_to_labels(sentence_words, value)
        if codec.level == "token":
            assert len(value) == len(labels) == len(sentence_words)
        # What is written back must read again as this task's label.
        assert all(codec.validate(label) is None for label in per_label(codec, labels))


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_a_state_dict_loaded_into_a_fresh_decoder_predicts_the_same(decoder_class):
    decoder, _, targets, vectors, mask = build(decoder_class)
    with torch.no_grad():  # move the weights away from any initialisation
        for parameter in decoder.parameters():
            parameter.add_(torch.randn_like(parameter))
    fresh = decoder_class(DIM, decoder.vocabulary)
    fresh.load_state_dict(decoder.state_dict())
    fresh.eval()
    assert fresh.decode(vectors, mask) == decoder.decode(vectors, mask)
    gold = gold_of(decoder, targets, vectors.shape[1])
    assert torch.equal(fresh.loss(vectors, mask, gold), decoder.loss(vectors, mask, gold))


@pytest.mark.parametrize("decoder_class", DECODERS)
def test_the_loss_is_the_mean_over_sentences_of_each_sentences_loss(decoder_class):
    decoder, _, targets, vectors, mask = build(decoder_class)
    lengths = mask.sum(dim=1).tolist()

    def alone(i: int) -> torch.Tensor:
        n = lengths[i]
        gold = gold_of(decoder, [targets[i]], n)
        return decoder.loss(vectors[i : i + 1, :n], mask[i : i + 1, :n], gold)

    # Twice the same sentence costs what it costs once: a mean, not a sum, over sentences.
    n = lengths[0]
    twice = decoder.loss(
        vectors[:1, :n].repeat(2, 1, 1),
        mask[:1, :n].repeat(2, 1),
        gold_of(decoder, [targets[0], targets[0]], n),
    )
    assert torch.allclose(twice, alone(0), atol=1e-5)
    # Sentences of different lengths: padding counts for nothing and each sentence weighs the
    # same (token losses are summed per sentence, not averaged over the batch's words).
    both = decoder.loss(vectors, mask, gold_of(decoder, targets, vectors.shape[1]))
    assert torch.allclose(both, (alone(0) + alone(1)) / 2, atol=1e-5)
