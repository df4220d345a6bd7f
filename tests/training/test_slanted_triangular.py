"""MaChAmp's slanted-triangular schedule: the rate of each optimizer step for the heads and the
encoder, checked against values worked out by hand from Howard & Ruder's formula with
MaChAmp's step numbering (the first update uses step 1); discriminative fine-tuning; gradual
unfreezing (the encoder gets no update in epoch 1, parameters frozen by the configuration never
train); an exact resume of rates and frozen parameters; options refused with other types."""

from __future__ import annotations

import io
import json
from fractions import Fraction as F

import pytest
import torch
from torch import nn

from machamp_lite.config import load_params
from machamp_lite.errors import ConfigError
from machamp_lite.training.optimization import (
    build_optimizer,
    build_scheduler,
    check_schedule,
    freezes_encoder,
)
from machamp_lite.training.slanted_triangular import SlantedTriangular
from machamp_lite.training.trainer import Trainer

from conftest import DEMO, build_trainer, write

ENCODER_LR, HEADS_LR, RATIO = 1e-3, 1e-2, 32
OPTIMIZER = {"lr": ENCODER_LR, "decoder_lr": HEADS_LR, "weight_decay": 0.01}
SLANTED = {"type": "slanted_triangular", "cut_frac": 0.3, "ratio": RATIO}

# 3 epochs of 4 optimizer steps. One triangle over all 12 steps: the peak at
# int(12 * 0.3) = 3, so steps 1-2 rise by thirds and steps 4-12 fall by ninths to 0.
WHOLE_RUN = [F(1, 3), F(2, 3), F(1)] + [F(9 - k, 9) for k in range(1, 10)]
# Gradual unfreezing: a triangle over epoch 1 alone (peak at int(4 * 0.3) = 1, then thirds),
# then one over the 8 steps of epochs 2-3 (peak at int(8 * 0.3) = 2, then sixths).
FROZEN_EPOCH = [F(1), F(2, 3), F(1, 3), F(0)]
REST = [F(1, 2), F(1)] + [F(6 - k, 6) for k in range(1, 7)]


def rate(base: float, height: F) -> float:
    """The formula: base * (1 + height * (ratio - 1)) / ratio."""
    return base * float((1 + height * (RATIO - 1)) / RATIO)


class Toy(nn.Module):
    """Named like the real model: a 'pretrained' transformer with an input embedding frozen by
    the configuration (as encoder.freeze_embeddings does), and one decoder."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Module()
        self.encoder.transformer = nn.Module()
        self.encoder.transformer.embeddings = nn.Embedding(5, 3)
        self.encoder.transformer.embeddings.weight.requires_grad_(False)
        self.encoder.transformer.layer = nn.Linear(3, 3)
        self.decoders = nn.ModuleDict({"ner": nn.Linear(3, 2)})

    def loss(self) -> torch.Tensor:
        hidden = self.encoder.transformer.layer(self.encoder.transformer.embeddings.weight)
        return self.decoders["ner"](hidden).pow(2).sum()


def heads_and_encoder_rates(optimizer) -> tuple[float, float]:
    """Each part's rate; its groups with and without weight decay must agree."""
    rates = {}
    for group in optimizer.param_groups:
        rates.setdefault(group["part"], set()).add(group["lr"])
    assert all(len(values) == 1 for values in rates.values()), rates
    return rates["heads"].pop(), rates["encoder"].pop()


def train_toy(model, optimizer, scheduler, epochs, steps_per_epoch, log, start_epoch=1):
    """The trainer's calling order: optimizer step, ``step()``; ``end_epoch()`` after each
    epoch. Logs each step's rates (the ones its update used) and the trainable parameters."""
    for epoch in range(start_epoch, epochs + 1):
        for _ in range(steps_per_epoch):
            optimizer.zero_grad(set_to_none=True)
            model.loss().backward()
            trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
            log.append((epoch, heads_and_encoder_rates(optimizer), trainable))
            optimizer.step()
            scheduler.step()
        scheduler.end_epoch()
    return log


def toy_run(settings, epochs=3, steps_per_epoch=4):
    model = Toy()
    optimizer = build_optimizer(model, OPTIMIZER)
    scheduler = build_scheduler(optimizer, settings, steps_per_epoch, epochs)
    return model, train_toy(model, optimizer, scheduler, epochs, steps_per_epoch, [])


def assert_rates(log, heights, heads_base, encoder_base):
    assert len(log) == len(heights)
    for step, ((_, (heads, encoder), _), height) in enumerate(zip(log, heights), 1):
        assert heads == pytest.approx(rate(heads_base, height), rel=1e-12), step
        assert encoder == pytest.approx(rate(encoder_base, height), rel=1e-12), step


def test_one_triangle_over_the_whole_run_starting_at_step_1():
    _, log = toy_run(SLANTED)
    assert_rates(log, WHOLE_RUN, HEADS_LR, ENCODER_LR)
    assert log[2][1] == (HEADS_LR, ENCODER_LR)  # the peak is exactly the base rate
    assert log[-1][1][1] == pytest.approx(ENCODER_LR / RATIO)


def test_discriminative_fine_tuning_lowers_the_encoder_one_step_of_decay_factor():
    _, log = toy_run({**SLANTED, "discriminative_fine_tuning": True, "decay_factor": 0.5})
    assert_rates(log, WHOLE_RUN, HEADS_LR, ENCODER_LR * 0.5)


def test_gradual_unfreezing_makes_a_triangle_of_epoch_1_then_one_of_the_rest():
    _, log = toy_run({**SLANTED, "gradual_unfreezing": True})
    assert_rates(log, FROZEN_EPOCH + REST, HEADS_LR, ENCODER_LR)


def test_both_options_together():
    settings = {**SLANTED, "gradual_unfreezing": True, "discriminative_fine_tuning": True}
    _, log = toy_run({**settings, "decay_factor": 0.38})
    assert_rates(log, FROZEN_EPOCH + REST, HEADS_LR, ENCODER_LR * 0.38)


def test_epoch_1_trains_only_the_heads_and_configuration_frozen_weights_never_train():
    model = Toy()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, OPTIMIZER)
    scheduler = build_scheduler(optimizer, {**SLANTED, "gradual_unfreezing": True}, 4, 3)
    train_toy(model, optimizer, scheduler, 1, 4, [])
    after_1 = {n: p.detach().clone() for n, p in model.named_parameters()}
    for name in ("encoder.transformer.layer.weight", "encoder.transformer.layer.bias"):
        assert torch.equal(after_1[name], before[name]), name  # no update, no weight decay
        assert name not in optimizer.state[dict(model.named_parameters())[name]]
    assert not torch.equal(after_1["decoders.ner.weight"], before["decoders.ner.weight"])
    log = train_toy(model, optimizer, scheduler, 3, 4, [], start_epoch=2)
    after_3 = dict(model.named_parameters())
    layer = "encoder.transformer.layer.weight"
    assert not torch.equal(after_3[layer], after_1[layer])
    frozen = "encoder.transformer.embeddings.weight"
    assert torch.equal(after_3[frozen], before[frozen]) and not after_3[frozen].requires_grad
    everything_but_frozen = sorted(n for n in before if n != frozen)
    assert all(trainable == everything_but_frozen for _, _, trainable in log)


def test_trainable_parameters_per_epoch_with_gradual_unfreezing():
    _, log = toy_run({**SLANTED, "gradual_unfreezing": True})
    by_epoch = {epoch: trainable for epoch, _, trainable in log}
    assert by_epoch[1] == ["decoders.ner.bias", "decoders.ner.weight"]
    encoder = ["encoder.transformer.layer.bias", "encoder.transformer.layer.weight"]
    assert by_epoch[2] == by_epoch[3] == by_epoch[1] + encoder


def saved_and_loaded(state):
    """Through torch.save and torch.load(weights_only=True), as checkpoints are."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def drive(model, optimizer, scheduler, steps: range, log: list) -> list:
    """Global optimizer steps ``steps`` (from 0) of 4-step epochs, in the trainer's order."""
    for index in steps:
        optimizer.zero_grad(set_to_none=True)
        model.loss().backward()
        trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        log.append((index // 4 + 1, heads_and_encoder_rates(optimizer), trainable))
        optimizer.step()
        scheduler.step()
        if (index + 1) % 4 == 0:
            scheduler.end_epoch()
    return log


@pytest.mark.parametrize("stop_after", [2, 4, 6])  # mid epoch 1 (frozen), its end, mid epoch 2
def test_a_resumed_schedule_continues_with_the_same_rates_and_frozen_parameters(stop_after):
    settings = {**SLANTED, "gradual_unfreezing": True, "discriminative_fine_tuning": True}
    straight_model, straight = toy_run(settings)
    first = Toy()
    optimizer = build_optimizer(first, OPTIMIZER)
    scheduler = build_scheduler(optimizer, settings, 4, 3)
    log = drive(first, optimizer, scheduler, range(stop_after), [])
    state = saved_and_loaded(
        {"model": first.state_dict(), "opt": optimizer.state_dict(), "s": scheduler.state_dict()}
    )
    second = Toy()  # as in a fresh process: its new schedule starts frozen, as for epoch 1
    optimizer = build_optimizer(second, OPTIMIZER)
    scheduler = build_scheduler(optimizer, settings, 4, 3)
    second.load_state_dict(state["model"])
    optimizer.load_state_dict(state["opt"])
    scheduler.load_state_dict(state["s"])
    log = drive(second, optimizer, scheduler, range(stop_after, 12), log)
    assert log == straight
    assert_rates(log, FROZEN_EPOCH + REST, HEADS_LR, ENCODER_LR * 0.38)
    for name, param in straight_model.named_parameters():
        assert torch.equal(param, dict(second.named_parameters())[name]), name


@pytest.mark.parametrize("key", ["gradual_unfreezing", "discriminative_fine_tuning"])
@pytest.mark.parametrize("kind", ["linear", "constant"])
def test_the_layer_wise_options_are_refused_with_another_schedule(key, kind):
    settings = {"type": kind, "warmup_fraction": 0.1, key: True}
    with pytest.raises(ConfigError, match=rf"learning_rate_scheduler\.{key}.*'{kind}'"):
        build_scheduler(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), settings, 4, 2)
    with pytest.raises(ConfigError, match=key):
        check_schedule(settings)
    # Off, they are just the defaults' values.
    assert check_schedule({"type": kind, key: False}) == kind


def test_only_gradual_unfreezing_freezes_the_encoder():
    assert freezes_encoder({**SLANTED, "gradual_unfreezing": True})
    assert not freezes_encoder({**SLANTED, "discriminative_fine_tuning": True})
    assert not freezes_encoder({"type": "linear"})


def test_the_epoch_length_seen_replaces_the_estimate_as_machamp_does():
    """Epoch 1 took 6 steps where 4 were expected: from step 5 on the unfinished estimate
    grows with the steps (max(4, step)); after the epoch the triangle spans 3 x 6 steps."""
    model = Toy()
    optimizer = build_optimizer(model, OPTIMIZER)
    scheduler = SlantedTriangular(optimizer, 4, 3, cut_frac=0.3, ratio=RATIO)
    heights = []
    for _ in range(6):
        heights.append(scheduler.proportion(scheduler.steps + 1))
        scheduler.step()
    scheduler.end_epoch()
    heights.append(scheduler.proportion(scheduler.steps + 1))
    # Steps 1-4 of 12 (peak 3); step 5 of 15 (peak 4); step 6 of 18 (peak 5); step 7 of 18.
    expected = [F(1, 3), F(2, 3), F(1), F(8, 9), F(1) - F(1, 11), F(1) - F(1, 13), F(11, 13)]
    assert heights == pytest.approx([float(h) for h in expected], rel=1e-12)


def make_trainer(tmp_path, model_path, settings: dict) -> Trainer:
    dataset = write(
        tmp_path / "data.json",
        json.dumps(
            {
                "demo": {
                    "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
                    "max_sents": 40,
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
    )
    overrides = [
        f"training.learning_rate_scheduler.{k}={json.dumps(v)}" for k, v in settings.items()
    ]
    params = load_params(
        None,
        [
            f"transformer_model={model_path}",
            "encoder.max_input_length=64",
            "training.num_epochs=3",
            "training.accumulation_steps=2",
            "batching.batch_size=8",
            *overrides,
        ],
    )
    return build_trainer(dataset, params, tmp_path)


def test_the_trainer_counts_optimizer_steps_and_unfreezes_after_epoch_1(tmp_path, tiny_model):
    settings = {**SLANTED, "gradual_unfreezing": True}
    trainer = make_trainer(tmp_path, tiny_model, settings)
    encoder = dict(trainer.model.encoder.transformer.named_parameters())
    embeddings = trainer.model.encoder.transformer.get_input_embeddings().weight
    before = {n: p.detach().clone() for n, p in encoder.items()}
    layer = "encoder.layer.0.attention.self.query.weight"
    assert not encoder[layer].requires_grad and not embeddings.requires_grad
    first = trainer.train_epoch(1)
    # 40 sentences in batches of at most 8, two batches an optimizer step: 3 steps.
    assert first["optimizer_steps"] == 3 == trainer.scheduler.epoch_ends[-1]
    assert all(torch.equal(p, before[n]) for n, p in encoder.items())
    assert encoder[layer].requires_grad and not embeddings.requires_grad
    state = saved_and_loaded(trainer.training_state())

    resumed = make_trainer(tmp_path, tiny_model, settings)
    resumed.model.load_state_dict(trainer.model.state_dict())
    resumed.restore(state)
    flags = [p.requires_grad for p in trainer.model.parameters()]
    assert [p.requires_grad for p in resumed.model.parameters()] == flags
    assert resumed.scheduler.get_last_lr() == trainer.scheduler.get_last_lr()
    # Epoch 2 starts the second triangle: 2 x 3 steps, peak at int(6 * 0.3) = 1, so its step 1
    # is the peak, the base rates themselves.
    assert resumed.scheduler.get_last_lr() == resumed.scheduler.base_lrs
    resumed.train_epoch(2)
    changed = dict(resumed.model.encoder.transformer.named_parameters())
    assert not torch.equal(changed[layer], before[layer])
    assert torch.equal(embeddings, resumed.model.encoder.transformer.get_input_embeddings().weight)


def test_the_default_schedule_is_a_plain_step_schedule_whose_epoch_end_changes_nothing():
    model = Toy()
    optimizer = build_optimizer(model, OPTIMIZER)
    scheduler = build_scheduler(optimizer, {"type": "linear", "warmup_fraction": 0.5}, 2, 2)
    rates = []
    for _ in range(2):
        for _ in range(2):
            rates.append(heads_and_encoder_rates(optimizer)[1])
            optimizer.step()
            scheduler.step()
        scheduler.end_epoch()
    # Warmup over 2 of 4 steps from step 0, then linear decay: 1/2, 1, 2/2, 1/2.
    assert rates == pytest.approx([ENCODER_LR / 2, ENCODER_LR, ENCODER_LR, ENCODER_LR / 2])
