"""``regression``: a float per sentence, MSE loss, compact string predictions, -MSE score."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.regression import Regressor, format_number
from machamp_lite.metrics.regression import MeanSquaredError, PearsonCorrelation
from machamp_lite.registry import decoders, load_plugins, metrics


def test_registered_with_negative_mse_as_default_score():
    load_plugins()
    assert decoders.get("regression") is Regressor
    assert Regressor.codec.level == "sentence"
    assert metrics.get(Regressor.default_metric) is MeanSquaredError
    assert metrics.get("pearson") is PearsonCorrelation


@pytest.mark.parametrize("label", ["3.5", "-1", "1e-3", " 2 ", "0"])
def test_numbers_are_valid_labels(label):
    assert Regressor.codec.validate(label) is None


@pytest.mark.parametrize("label", ["good", "", "nan", "inf", "3,5"])
def test_other_labels_are_rejected_with_a_clear_message(label):
    assert "number" in Regressor.codec.validate(label)


def test_float_strings_in_a_vocabulary_break_nothing_and_are_not_counted():
    assert Regressor.codec.vocabulary_items("3.5") == []
    vocabulary = LabelVocabulary.from_counts(Counter(["3.5", "1", "0.25"]))
    assert Regressor.codec.to_tensor(vocabulary, ["3.5", "-1"], 7).tolist() == [3.5, -1.0]
    assert Regressor(4, LabelVocabulary([])).projection.out_features == 1


def test_loss_is_the_mean_squared_error_over_sentences_of_the_mean_word_vector():
    decoder = Regressor(3, LabelVocabulary([])).eval()
    with torch.no_grad():
        decoder.projection.weight.copy_(torch.tensor([[1.0, 2.0, 0.0]]))
        decoder.projection.bias.fill_(0.5)
    vectors = torch.tensor([[[1.0, 0, 0], [3.0, 1, 0]], [[2.0, 2, 9], [9.0, 9, 9]]])
    mask = torch.tensor([[True, True], [True, False]])
    # Means: (2, 0.5, 0) -> 3.5; (2, 2, 9) -> 6.5 (the padded word is left out).
    assert decoder.decode(vectors, mask) == ["3.5", "6.5"]
    gold = Regressor.codec.to_tensor(decoder.vocabulary, ["1.5", "6.5"], 2)
    assert decoder.loss(vectors, mask, gold).item() == pytest.approx((2.0**2 + 0.0) / 2)


def test_predictions_are_compact_strings():
    assert format_number(3.5) == "3.5"
    assert format_number(2.0) == "2.0"
    assert format_number(1 / 3) == "0.333333"
    assert format_number(-1234567.0) == "-1234570.0"
    assert float(format_number(1e-9)) == 1e-9


def test_mse_metric_reports_negative_mse_as_score_and_pearson():
    metric = MeanSquaredError()
    metric.update(["1", "2", "3"], ["1.5", "2", "2"])
    result = metric.compute()
    assert result["mse"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert result["score"] == pytest.approx(-result["mse"])
    assert result["mae"] == pytest.approx(0.5)
    assert result["rmse"] == pytest.approx(math.sqrt(result["mse"]))
    assert result["pearson"] == pytest.approx(math.sqrt(3) / 2)  # cov 1/2, var 2 and 1/6
    perfect = MeanSquaredError()
    perfect.update(["1", "2"], ["1.0", "2.0"])
    assert perfect.compute()["score"] == 0.0


def test_pearson_metric_is_zero_when_undefined():
    metric = PearsonCorrelation()
    metric.update(["1", "2", "3"], ["2", "2", "2"])
    assert metric.compute()["pearson"] is None and metric.compute()["score"] == 0.0
    metric.update(["4"], ["5"])
    assert metric.compute()["score"] > 0
