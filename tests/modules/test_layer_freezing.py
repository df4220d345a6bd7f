"""``encoder.freeze_layers``: the embeddings and the lowest N transformer layers stop training,
the backward pass stops at layer N, and a count the model cannot have is one clear error."""

from __future__ import annotations

import pytest
import torch
from multitask_helpers import build, collate, dataset, sentences, seq, train_one_step
from test_hostile_input import dataset_config, train_cli
from torch import nn

from machamp_lite.errors import ConfigError
from machamp_lite.modules.layer_freezing import freeze_lower_layers, transformer_layers
from machamp_lite.training.optimization import build_optimizer

from conftest import one_error


def test_the_embeddings_and_the_lowest_layer_stay_fixed_while_the_layer_above_learns(tiny_model):
    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 1})
    before = train_one_step(model)
    changed = {
        name
        for name, value in model.named_parameters()
        if not torch.equal(before[name], value.detach())
    }
    prefix = "encoder.transformer."
    below = (prefix + "embeddings.", prefix + "encoder.layer.0.")
    frozen = [n for n in before if n.startswith(below)]
    trained = [n for n in before if n.startswith(prefix + "encoder.layer.1.")]
    assert frozen and trained
    assert not changed & set(frozen)
    assert set(trained) <= changed  # every weight of the trained layer moved
    assert "decoders.ner.projection.weight" in changed
    # The position embeddings are frozen too: otherwise the backward pass would still have to
    # go through the frozen layer to reach them.
    assert prefix + "embeddings.position_embeddings.weight" in frozen


def test_no_gradient_reaches_below_the_first_trained_layer(tiny_model):
    """What makes a step cheaper: the frozen layer's output is not part of the graph, so the
    backward pass computes nothing for it or below it."""
    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 1})
    layers = transformer_layers(model.encoder.transformer)
    outputs: dict[int, torch.Tensor] = {}
    for index, layer in enumerate(layers):
        layer.register_forward_hook(
            lambda _module, _args, output, index=index: outputs.__setitem__(
                index, output[0] if isinstance(output, tuple) else output
            )
        )
    model.train()
    model.encoder(collate(model, sentences(2)))
    assert not outputs[0].requires_grad
    assert outputs[1].requires_grad


def test_zero_changes_nothing_and_every_layer_may_be_frozen(tiny_model):
    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 0})
    assert all(p.requires_grad for p in model.encoder.transformer.parameters())

    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 2})
    layers = transformer_layers(model.encoder.transformer)
    assert not any(p.requires_grad for layer in layers for p in layer.parameters())
    before = train_one_step(model)  # the decoder still learns
    assert not torch.equal(
        before["decoders.ner.projection.weight"], model.decoders["ner"].projection.weight
    )


def test_more_layers_than_the_model_has_is_refused_with_the_model_s_count(tiny_model):
    with pytest.raises(ConfigError, match=r"freeze_layers is 3, but the model has 2 .*0 to 2"):
        build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 3})


@pytest.mark.parametrize("count", [-1, 1.5, True, "2"])
def test_a_count_that_is_not_a_whole_number_is_refused(count):
    with pytest.raises(ConfigError, match="whole number >= 0"):
        freeze_lower_layers(nn.Module(), count)


def test_a_whole_float_from_a_config_counts_as_its_integer():
    model = _bert(12)
    assert freeze_lower_layers(model, 2.0) == 2


def test_a_model_whose_layer_stack_cannot_be_found_is_refused():
    class TwoStacks(nn.Module):
        config = type("Config", (), {"num_hidden_layers": 2})()

        def __init__(self):
            super().__init__()
            self.left = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.right = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    with pytest.raises(ConfigError, match="cannot tell which modules of TwoStacks"):
        freeze_lower_layers(TwoStacks(), 1)


def test_the_command_line_refuses_too_many_layers_in_one_line(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    code = train_cli(
        params, tmp_path / "logs", config, extra=("--override", "encoder.freeze_layers=5")
    )
    error = one_error(capsys, code)
    assert "encoder.freeze_layers is 5, but the model has 2 transformer layers" in error
    assert not (tmp_path / "logs").exists()  # nothing half-written


def test_a_negative_count_is_refused_before_anything_is_created(tmp_path, tiny_model, capsys):
    from machamp_lite.config import load_params

    with pytest.raises(ConfigError, match="encoder.freeze_layers' must be"):
        load_params(None, ["encoder.freeze_layers=-2"])


def _bert(layers: int):
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return BertModel(config)


@pytest.mark.parametrize(("layers", "frozen"), [(12, 2), (24, 4), (6, 1), (5, 0), (2, 0)])
def test_null_freezes_a_sixth_of_the_layers_rounded_down(layers, frozen):
    model = _bert(layers)
    assert freeze_lower_layers(model, None) == frozen
    stack = transformer_layers(model)
    assert stack is not None
    trained = [any(p.requires_grad for p in layer.parameters()) for layer in stack]
    assert trained == [False] * frozen + [True] * (layers - frozen)
    assert all(p.requires_grad for p in model.embeddings.parameters()) == (frozen == 0)


def test_null_trains_every_layer_of_a_model_whose_stack_cannot_be_found():
    from transformers import AlbertConfig, AlbertModel

    # ALBERT shares one layer group across its 12 layers: there is no stack of 12 modules
    model = AlbertModel(
        AlbertConfig(
            vocab_size=50,
            embedding_size=8,
            hidden_size=16,
            num_hidden_layers=12,
            num_attention_heads=2,
            intermediate_size=32,
        )
    )
    assert freeze_lower_layers(model, None) == 0
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ConfigError, match="cannot tell which modules of AlbertModel"):
        freeze_lower_layers(model, 2)


def test_the_defaults_and_the_paper_configs_freeze_no_layer_and_null_is_accepted():
    from machamp_lite.config import load_params

    from conftest import ROOT

    assert load_params(None, [])["encoder"]["freeze_layers"] == 0
    paper = load_params(str(ROOT / "param_configs" / "xlmr-large.json"))
    assert paper["encoder"]["freeze_layers"] == 0
    assert load_params(None, ["encoder.freeze_layers=null"])["encoder"]["freeze_layers"] is None


def test_gradual_unfreezing_after_epoch_1_leaves_the_frozen_layers_frozen(tiny_model):
    from machamp_lite.training.optimization import build_scheduler

    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], encoder={"freeze_layers": 1})
    optimizer = build_optimizer(model, {"lr": 0.1, "decoder_lr": 0.1})
    schedule = {"type": "slanted_triangular", "cut_frac": 0.3, "ratio": 32}
    scheduler = build_scheduler(optimizer, {**schedule, "gradual_unfreezing": True}, 4, 3)
    layers = transformer_layers(model.encoder.transformer)
    assert layers is not None
    assert not any(p.requires_grad for p in layers[1].parameters())  # epoch 1: heads only
    scheduler.end_epoch()
    assert all(p.requires_grad for p in layers[1].parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert not any(p.requires_grad for p in model.encoder.transformer.embeddings.parameters())
