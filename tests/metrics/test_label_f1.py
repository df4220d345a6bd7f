"""MaChAmp's f1_micro, f1_macro and f1_binary, on labels scored by hand. MaChAmp counts on its
label vocabulary (index 0 for padding/unknown, then the training labels in order of first
appearance), so the cases where that order changes the number are checked with and without
the training labels."""

from __future__ import annotations

import pytest

from machamp_lite.registry import metrics


def scores(name, gold, predicted, training=None):
    metric = metrics.get(name)()
    if training is not None:
        metric.use_training_labels(training)
    metric.update(gold, predicted)
    return metric.compute()


# One sentence of four words: NOUN right, VERB->NOUN wrong, DET right, NOUN->VERB wrong.
GOLD = [["NOUN", "VERB", "DET", "NOUN"]]
PRED = [["NOUN", "NOUN", "DET", "VERB"]]
# Per label: NOUN tp 1, fp 1, fn 1 (P=R=F=1/2); VERB tp 0 (all 0); DET tp 1 (all 1).


def test_f1_micro_pools_every_label_and_equals_the_accuracy():
    result = scores("f1_micro", GOLD, PRED)
    # tp 2, fp 2, fn 2.
    assert result["precision"] == result["recall"] == result["f1"] == result["score"] == 0.5
    assert result["total"] == 4
    assert scores("f1_micro", GOLD, PRED)["score"] == scores("accuracy", GOLD, PRED)["score"]


def test_f1_micro_of_sentence_labels_and_of_nothing():
    assert scores("f1_micro", ["a", "b", "b"], ["a", "a", "b"])["score"] == pytest.approx(2 / 3)
    empty = scores("f1_micro", [], [])
    assert empty["score"] == 0.0 and empty["total"] == 0


def test_f1_macro_averages_the_labels_up_to_the_last_one_that_occurs():
    # Training labels NOUN, VERB, DET, ADJ: ADJ (after DET) never occurs, so it is not averaged.
    result = scores("f1_macro", GOLD, PRED, ["NOUN", "VERB", "DET", "ADJ"])
    assert result["score"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert list(result["per_label"]) == ["NOUN", "VERB", "DET"]
    assert result["per_label"]["NOUN"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert result["labels_averaged"] == 3
    # ADJ before DET: MaChAmp's indices 1..4 all count, ADJ with F1 0.
    shifted = scores("f1_macro", GOLD, PRED, ["NOUN", "ADJ", "VERB", "DET"])
    assert shifted["score"] == pytest.approx((1 / 2 + 0 + 0 + 1) / 4)
    assert shifted["precision"] == pytest.approx((1 / 2 + 0 + 0 + 1) / 4)


def test_f1_macro_without_training_labels_averages_the_labels_met():
    assert scores("f1_macro", GOLD, PRED)["score"] == pytest.approx(1 / 2)
    # A label only in gold: a has P 1/2, R 1, F1 2/3; b has F1 0.
    result = scores("f1_macro", ["a", "b"], ["a", "a"])
    assert result["score"] == pytest.approx(1 / 3)
    assert result["per_label"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_f1_macro_leaves_out_a_gold_label_training_never_saw():
    # X is MaChAmp's unknown entry: not averaged, but predicting a for it is a false positive.
    result = scores("f1_macro", ["a", "X", "b"], ["a", "a", "b"], ["a", "b"])
    assert list(result["per_label"]) == ["a", "b"]
    assert result["per_label"]["a"]["precision"] == 0.5
    assert result["score"] == pytest.approx((2 / 3 + 1) / 2)


def test_f1_macro_of_nothing_is_zero():
    result = scores("f1_macro", [], [], ["a", "b"])
    assert result["score"] == 0.0 and result["labels_averaged"] == 0 and result["per_label"] == {}


SENTIMENT_GOLD = ["pos", "neg", "pos", "neg", "pos"]
SENTIMENT_PRED = ["pos", "pos", "neg", "neg", "pos"]


def test_f1_binary_takes_the_first_training_label_as_positive_as_machamp_does():
    # A training file that starts with "neg": MaChAmp's index 1 is neg. neg: tp 1, fp 1, fn 1.
    result = scores("f1_binary", SENTIMENT_GOLD, SENTIMENT_PRED, ["neg", "pos"])
    assert result["positive_label"] == "neg"
    assert result["precision"] == result["recall"] == result["score"] == 0.5
    # One that starts with "pos": pos has tp 2, fp 1, fn 1.
    result = scores("f1_binary", SENTIMENT_GOLD, SENTIMENT_PRED, ["pos", "neg"])
    assert result["positive_label"] == "pos"
    assert result["score"] == pytest.approx(2 / 3)


def test_f1_binary_positive_label_chosen_outright_or_the_first_gold_label():
    metric = metrics.get("f1_binary")()
    metric.use_training_labels(["pos", "neg"])
    metric.use_positive_label("neg")
    metric.update(SENTIMENT_GOLD, SENTIMENT_PRED)
    assert metric.compute()["positive_label"] == "neg" and metric.compute()["score"] == 0.5
    alone = scores("f1_binary", SENTIMENT_GOLD, SENTIMENT_PRED)
    assert alone["positive_label"] == "pos" and alone["score"] == pytest.approx(2 / 3)


def test_f1_binary_without_positives_and_of_nothing():
    result = scores("f1_binary", ["neg", "neg"], ["neg", "neg"], ["pos", "neg"])
    assert result["positive_label"] == "pos"
    assert (result["precision"], result["recall"], result["score"]) == (0.0, 0.0, 0.0)
    empty = scores("f1_binary", [], [], ["pos", "neg"])
    assert empty["score"] == 0.0 and empty["positive_label"] == "pos" and empty["total"] == 0
    assert scores("f1_binary", [], [])["positive_label"] is None


def test_f1_binary_is_zero_for_a_third_label_as_in_machamp():
    # The third training label occurs: not binary, score 0 with the reason.
    result = scores("f1_binary", ["a", "b", "c"], ["a", "b", "c"], ["a", "b", "c"])
    assert result["score"] == 0.0 and "3 occur" in result["note"]
    # It is in training but not in this data: still binary.
    result = scores("f1_binary", ["a", "b"], ["a", "a"], ["a", "b", "c"])
    assert result["score"] == pytest.approx(2 / 3) and "note" not in result


def test_token_and_sentence_lengths_must_match():
    with pytest.raises(ValueError, match="differ in length"):
        scores("f1_macro", [["a", "b"]], [["a"]])
    with pytest.raises(ValueError, match="differ in length"):
        scores("f1_micro", ["a"], [])
