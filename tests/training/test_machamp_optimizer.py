"""MaChAmp's optimizer settings: ``correct_bias: false`` (the AdamW of older transformers
releases, without Adam's bias correction) and weight decay on every weight
(``decay_bias_and_norm``), as MaChAmp's parameter groups apply it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from machamp_lite.training.adam_uncorrected import AdamWWithoutBiasCorrection
from machamp_lite.training.optimization import build_optimizer


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoders = nn.Linear(2, 1)


SETTINGS = {"lr": 0.1, "weight_decay": 0.01, "betas": [0.9, 0.99], "eps": 1e-6}


def one_step(settings: dict) -> tuple[torch.optim.Optimizer, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = Tiny()
    before = model.decoders.weight.detach().clone()
    optimizer = build_optimizer(model, settings)
    model.decoders.weight.grad = torch.tensor([[0.5, -2.0]])
    model.decoders.bias.grad = torch.tensor([0.25])
    optimizer.step()
    return optimizer, before, model.decoders.weight.detach()


def test_correct_bias_false_takes_the_uncorrected_step():
    optimizer, before, after = one_step({**SETTINGS, "correct_bias": False})
    assert isinstance(optimizer, AdamWWithoutBiasCorrection)
    lr, (b1, b2), eps, decay = 0.1, (0.9, 0.99), 1e-6, 0.01
    expected = []
    for weight, grad in zip(before[0].tolist(), [0.5, -2.0]):
        m, v = (1 - b1) * grad, (1 - b2) * grad * grad
        updated = weight - lr * m / (math.sqrt(v) + eps)
        expected.append(updated - lr * decay * updated)  # decay after the step
    assert after[0].tolist() == pytest.approx(expected, rel=1e-6)


def test_correct_bias_true_is_torchs_adamw():
    optimizer, before, after = one_step({**SETTINGS, "correct_bias": True})
    assert isinstance(optimizer, torch.optim.AdamW)
    # Corrected, the first step is lr * sign(grad) (after decoupled decay): not the above.
    expected = [
        (w * (1 - 0.1 * 0.01)) - 0.1 * math.copysign(1, g)
        for w, g in zip(before[0].tolist(), [0.5, -2.0])
    ]
    assert after[0].tolist() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("every_weight, bias_decay", [(False, 0.0), (True, 0.01)])
def test_decay_bias_and_norm_decides_whether_biases_decay(every_weight, bias_decay):
    optimizer = build_optimizer(Tiny(), {**SETTINGS, "decay_bias_and_norm": every_weight})
    decays = {
        tuple(p.shape): group["weight_decay"]
        for group in optimizer.param_groups
        for p in group["params"]
    }
    assert decays[(1,)] == bias_decay and decays[(1, 2)] == 0.01
