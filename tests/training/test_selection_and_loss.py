"""Task losses are summed (with optional weights) and the best epoch is chosen by the summed
dev metric of every dataset/task."""

from __future__ import annotations

import torch
from torch import nn

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.model import MultiTaskModel
from machamp_lite.training.optimization import schedule_factor
from machamp_lite.training.selection import best_epoch, summed_score


class FixedEncoder(nn.Module):
    """Stands in for the transformer: returns given word vectors (the decoders are real)."""

    def __init__(self, vectors, mask):
        super().__init__()
        self.vectors, self.mask = vectors, mask

    def forward(self, inputs):
        return self.vectors, self.mask


def test_total_loss_is_the_weighted_sum_of_task_losses():
    torch.manual_seed(0)
    vectors = torch.randn(2, 3, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)
    a = SoftmaxTagger(4, LabelVocabulary(["x", "y"]))
    b = SoftmaxTagger(4, LabelVocabulary(["p", "q", "r"]))
    gold = {
        "a": a.codec.to_tensor(a.vocabulary, [["x", "y", "x"], ["y", "y", "x"]], 3),
        "b": b.codec.to_tensor(b.vocabulary, [["p", "q", "r"], ["r", "q", "p"]], 3),
    }
    plain = MultiTaskModel(FixedEncoder(vectors, mask), {"a": a, "b": b})
    total, losses = plain({}, gold)
    assert torch.allclose(total, losses["a"] + losses["b"])
    weighted = MultiTaskModel(FixedEncoder(vectors, mask), {"a": a, "b": b}, {"a": 1.0, "b": 0.5})
    total, losses = weighted({}, gold)
    assert torch.allclose(total, losses["a"] + 0.5 * losses["b"])


def test_best_epoch_is_chosen_by_the_sum_not_by_the_main_task():
    history = [
        {
            "epoch": 1,
            "dev_sum": summed_score({"main/ner": {"score": 0.80}, "aux/ner": {"score": 0.10}}),
        },
        {
            "epoch": 2,
            "dev_sum": summed_score({"main/ner": {"score": 0.70}, "aux/ner": {"score": 0.50}}),
        },
        {
            "epoch": 3,
            "dev_sum": summed_score({"main/ner": {"score": 0.75}, "aux/ner": {"score": 0.30}}),
        },
    ]
    assert best_epoch(history) == 2


def test_ties_keep_the_earliest_epoch_and_missing_dev_is_none():
    assert best_epoch([{"epoch": 1, "dev_sum": 1.0}, {"epoch": 2, "dev_sum": 1.0}]) == 1
    assert best_epoch([{"epoch": 1, "dev_sum": None}]) is None


def test_linear_schedule_warms_up_then_decays_to_zero():
    settings = {"type": "linear", "warmup_fraction": 0.1}
    factors = [schedule_factor(step, 100, settings) for step in range(100)]
    assert factors[0] == 0.1 and factors[9] == 1.0
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] < 0.02


def test_slanted_triangular_rises_to_one_then_falls():
    settings = {"type": "slanted_triangular", "cut_frac": 0.25, "ratio": 32}
    factors = [schedule_factor(step, 100, settings) for step in range(100)]
    peak = factors.index(max(factors))
    assert peak == 25 and max(factors) == 1.0
    assert factors[0] == 1 / 32
