"""BitDropout: torch's dropout semantics (drop rate, scaling, gradient, seeding) from cheaper
random draws, and the swap that puts it into a model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from machamp_lite.modules.bit_dropout import (
    BitDropout,
    keep_mask,
    lane_threshold,
    use_bit_dropout,
)

ELEMENTS = 400_000


def _sigma(p: float, n: int) -> float:
    return (p * (1 - p) / n) ** 0.5


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_each_lane_of_a_word_drops_at_the_asked_rate(p):
    torch.manual_seed(0)
    keep = keep_mask(torch.Size([ELEMENTS]), p, torch.device("cpu"))
    lanes = keep.view(-1, 4)  # element i sits in lane i % 4 of word i // 4
    for lane in range(4):
        dropped = 1.0 - lanes[:, lane].float().mean().item()
        assert abs(dropped - p) < 5 * _sigma(p, lanes.shape[0]), (lane, dropped)


def test_the_threshold_rounds_p_to_sixteen_bits():
    assert lane_threshold(0.0) == -32768
    assert lane_threshold(0.5) == 0
    assert lane_threshold(0.1) == -32768 + 6554  # 0.100006
    assert lane_threshold(1.0) == 32768  # no int16 value reaches it: everything dropped


def test_kept_values_are_scaled_so_the_mean_is_unchanged():
    torch.manual_seed(1)
    dropout = BitDropout(0.25).train()
    x = torch.full((ELEMENTS,), 2.0)
    y = dropout(x)
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - 16384 / 65536)))
    assert abs(y.mean().item() - 2.0) < 5 * 2.0 * _sigma(0.25, ELEMENTS) / 0.75


def test_gradient_is_the_same_mask_and_scale_as_the_output():
    torch.manual_seed(2)
    x = torch.randn(8, 33, 17, requires_grad=True)
    y = BitDropout(0.4).train()(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    factor = torch.where(y != 0, y / x, torch.zeros_like(y))
    assert torch.allclose(grad, factor, atol=1e-6)
    nonzero = grad[grad != 0]
    assert 0 < nonzero.numel() < grad.numel()
    assert torch.allclose(nonzero, torch.tensor(1 / (1 - 26214 / 65536)))


def test_the_same_seed_gives_the_same_mask_and_another_seed_another():
    x = torch.ones(64, 129)
    dropout = BitDropout(0.5).train()
    torch.manual_seed(3)
    first = dropout(x)
    torch.manual_seed(3)
    again = dropout(x)
    torch.manual_seed(4)
    other = dropout(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_evaluation_p_zero_and_p_one_behave_as_torch_dropout():
    x = torch.randn(5, 7)
    assert torch.equal(BitDropout(0.5).eval()(x), x)
    assert torch.equal(BitDropout(0.0).train()(x), x)
    assert torch.count_nonzero(BitDropout(1.0).train()(x)) == 0


def test_odd_sizes_and_non_contiguous_inputs_keep_their_shape():
    torch.manual_seed(5)
    x = torch.randn(3, 5, 7).transpose(0, 2)  # 105 elements, not a multiple of four
    y = BitDropout(0.2).train()(x)
    assert y.shape == x.shape
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / (1 - 13107 / 65536))


def test_the_swap_replaces_plain_dropout_only_and_keeps_p():
    class OwnDropout(nn.Dropout):
        pass

    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.1)))
    model.append(OwnDropout(0.2))
    assert use_bit_dropout(model) == 2
    assert type(model[1]) is BitDropout and model[1].p == 0.3
    assert type(model[2][0]) is BitDropout and model[2][0].p == 0.1
    assert type(model[3]) is OwnDropout
    assert use_bit_dropout(model) == 0  # a second swap finds nothing left to replace


@pytest.mark.parametrize("setting, expected", [("true", BitDropout), ("false", nn.Dropout)])
def test_training_bit_dropout_decides_the_dropout_of_the_trained_model(
    tmp_path, tiny_model, setting, expected
):
    import json

    from machamp_lite.config import load_params

    from conftest import DEMO, build_trainer, write

    dataset = write(
        tmp_path / "data.json",
        json.dumps(
            {
                "demo": {
                    "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
                    "max_sents": 20,
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
    )
    params = load_params(
        None, [f"transformer_model={tiny_model}", f"training.bit_dropout={setting}"]
    )
    trainer = build_trainer(dataset, params, tmp_path)
    kinds = {type(m) for m in trainer.model.modules() if isinstance(m, nn.Dropout)}
    assert kinds == {expected}
    record = trainer.train_epoch(1)  # a training epoch runs with it
    assert record["optimizer_steps"] > 0 and record["train_loss"] > 0
