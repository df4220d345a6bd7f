"""``multiseq``: several labels per word, sigmoid + binary cross-entropy, ``|``-joined output."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.codecs import join_labels
from machamp_lite.decoders.multiseq import MultiLabelTagger
from machamp_lite.metrics.multiseq import MultiLabelAccuracy
from machamp_lite.registry import decoders, load_plugins, metrics
from machamp_lite.testing import random_word_batch as batch

FEATS = LabelVocabulary(["Case=Nom", "Number=Plur", "Number=Sing", "Person=3"])
CODEC = MultiLabelTagger.codec


def test_registered_with_its_metric():
    load_plugins()
    assert decoders.get("multiseq") is MultiLabelTagger
    assert metrics.get(MultiLabelTagger.default_metric) is MultiLabelAccuracy


def test_labels_split_on_bars_and_underscore_means_none():
    targets = CODEC.gold_to_targets(["she", "."], ["Case=Nom|Number=Sing", "_"])
    assert targets == [["Case=Nom", "Number=Sing"], []]
    assert CODEC.vocabulary_items(targets) == ["Case=Nom", "Number=Sing"]
    assert CODEC.targets_to_labels(["she", "."], targets) == [
        "Case=Nom|Number=Sing",
        "_",
    ]


def test_joined_labels_have_one_stable_order_like_ud_feats():
    assert join_labels(["Number=Sing", "Case=Nom"]) == "Case=Nom|Number=Sing"
    assert join_labels(["Number=Sing", "NumType=Card"]) == "Number=Sing|NumType=Card"
    assert join_labels([]) == "_"


@pytest.mark.parametrize(
    "label, ok",
    [("Case=Nom", True), ("_", True), ("A|B", True), ("", False), ("A||B", False), ("A|_", False)],
)
def test_label_check(label, ok):
    assert (CODEC.validate(label) is None) == ok


def test_targets_are_multi_hot_without_unseen_labels_or_padding():
    gold_labels = [[["Case=Nom", "Number=Sing"], [], ["Person=3"]], [["Number=Plur", "Unseen=X"]]]
    gold = CODEC.to_tensor(FEATS, gold_labels, 3)
    assert gold.shape == (2, 3, 4)
    assert gold[0, 0].tolist() == [1, 0, 1, 0] and gold[1, 0].tolist() == [0, 1, 0, 0]
    assert gold[1, 1:].sum() == 0  # padding


def test_loss_is_the_binary_cross_entropy_summed_over_labels_and_words():
    decoder = MultiLabelTagger(8, FEATS).eval()
    vectors, mask = batch([3, 1])
    gold_labels = [[["Case=Nom", "Number=Sing"], [], ["Person=3"]], [["Number=Plur"]]]
    gold = CODEC.to_tensor(FEATS, gold_labels, 3)
    logits = decoder.projection(vectors)
    per_label = functional.binary_cross_entropy_with_logits(logits, gold, reduction="none")
    expected = (per_label[0].sum() + per_label[1, 0].sum()) / 2
    assert torch.allclose(decoder.loss(vectors, mask, gold), expected, atol=1e-6)


def test_decode_thresholds_each_label_and_aligns_with_words():
    decoder = MultiLabelTagger(4, FEATS).eval()
    with torch.no_grad():
        decoder.projection.weight.copy_(torch.eye(4) * 10)
        decoder.projection.bias.fill_(-5)
    vectors = torch.tensor([[[1.0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1]]])
    mask = torch.tensor([[True, True, False]])
    assert decoder.decode(vectors, mask) == [["Case=Nom|Number=Sing", "_"]]


def test_metric_counts_exact_sets_and_micro_f1():
    metric = MultiLabelAccuracy()
    metric.update(
        [["Case=Nom|Number=Sing", "_", "Person=3"]],
        [["Number=Sing|Case=Nom", "_", "Number=Plur|Person=3"]],
    )
    result = metric.compute()
    assert result["score"] == result["accuracy"] == pytest.approx(2 / 3)
    # 3 gold labels, 4 predicted, 3 right.
    assert result["micro_precision"] == pytest.approx(3 / 4)
    assert result["micro_recall"] == pytest.approx(1.0)
    assert result["micro_f1"] == pytest.approx(2 * 0.75 / 1.75)


def test_trained_on_fixed_vectors_it_predicts_every_label_set():
    torch.manual_seed(0)
    decoder = MultiLabelTagger(8, FEATS)
    vectors, mask = batch([3, 3])
    labels = [["Case=Nom", "Number=Plur|Person=3", "_"], ["_", "Case=Nom|Number=Sing", "Person=3"]]
    targets = [CODEC.gold_to_targets([], sentence) for sentence in labels]
    gold = CODEC.to_tensor(FEATS, targets, 3)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        decoder.loss(vectors, mask, gold).backward()
        optimizer.step()
    assert decoder.eval().decode(vectors, mask) == labels
