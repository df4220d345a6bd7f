"""Per-task layer mixes (``layers_to_use``): the scalar mix itself, the encoder's per-layer word
vectors, and a model whose tasks read different mixes, while a model on [-1] stays exactly
the plain last-layer model."""

from __future__ import annotations

import math

import pytest
import torch
from multitask_helpers import build, collate, dataset, sentences, seq, transformer_calls

from machamp_lite.errors import ConfigError
from machamp_lite.modules.scalar_mix import ScalarMix


def test_a_mix_of_known_layers_is_the_hand_computed_mixture():
    layers = torch.tensor([[8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])
    mix = ScalarMix(3)
    with torch.no_grad():
        mix.scalar_parameters.copy_(torch.log(torch.tensor([1.0, 2.0, 5.0])))
        mix.gamma.fill_(2.0)
    # shares 1/8, 2/8, 5/8: (1 + 5, 2 + 5) before gamma
    assert torch.allclose(mix(layers), torch.tensor([12.0, 14.0]))
    assert mix.weights().tolist() == pytest.approx([0.125, 0.25, 0.625])


def test_a_new_mix_is_the_even_average():
    layers = torch.arange(12.0).view(3, 2, 2)
    mix = ScalarMix(3)
    assert mix.weights().tolist() == pytest.approx([1 / 3] * 3)
    assert torch.allclose(mix(layers), layers.mean(dim=0))
    with pytest.raises(ValueError, match="3 layers"):
        mix(layers[:2])


def test_a_mix_learns_which_layer_fits():
    torch.manual_seed(0)
    layers = torch.randn(3, 4, 5)
    target = layers[2]
    mix = ScalarMix(3)
    loss = ((mix(layers) - target) ** 2).sum()
    loss.backward()
    assert mix.scalar_parameters.grad is not None and mix.gamma.grad is not None
    assert mix.scalar_parameters.grad.abs().sum() > 0 and mix.gamma.grad.abs().sum() > 0
    optimizer = torch.optim.SGD(mix.parameters(), lr=0.02)
    for _ in range(100):
        optimizer.zero_grad()
        ((mix(layers) - target) ** 2).sum().backward()
        optimizer.step()
    weights = mix.weights().tolist()
    assert weights[2] > 0.6 and weights[2] == max(weights)


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_the_encoder_gives_each_requested_layer_pooled_to_words(tiny_model, pooling):
    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], pooling=pooling)
    encoder = model.encoder
    words = sentences(5)
    inputs = collate(model, words)
    with torch.no_grad():
        stacked, mask = encoder(inputs, layers=[0, 1, 2])
        plain, plain_mask = encoder(inputs)
        states = encoder.transformer(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
        ).hidden_states
    assert stacked.shape == (3, *plain.shape)
    assert torch.equal(mask, plain_mask)
    assert torch.equal(stacked[2], plain)  # the top layer is the plain call's, exactly
    subwords = [encoder.tokenizer(w, add_special_tokens=False)["input_ids"] for w in words[0]]
    position = 1  # after [CLS]
    for w, pieces in enumerate(subwords):
        span = slice(position, position + len(pieces))
        for layer in (0, 1):
            vectors = states[layer][0, span]
            expected = vectors[0] if pooling == "first" else vectors.mean(dim=0)
            torch.testing.assert_close(stacked[layer, 0, w], expected)
        position = span.stop


def test_a_model_on_the_last_layer_only_is_the_plain_model(tiny_model):
    tasks = {"ner": seq(layers_to_use=[-1]), "pos": seq()}
    model, _, _ = build(tiny_model, [dataset("a", tasks)])
    assert len(model.scalar_mixes) == 0 and model.task_layers == {}
    assert {name.split(".")[0] for name in model.state_dict()} == {"encoder", "decoders"}
    calls = transformer_calls(model)
    inputs = collate(model, sentences(4))
    with torch.no_grad():
        vectors, mask = model.task_vectors(inputs, ["ner", "pos"])
        plain, _ = model.encoder(inputs)
    assert [sorted(call) for call in calls] == [["attention_mask", "input_ids"]] * 2
    assert torch.equal(vectors["ner"], plain) and torch.equal(vectors["pos"], plain)
    # A model spelled with [-1], with the top layer's own index, or without the key is the
    # same model, parameter for parameter.
    top, _, _ = build(tiny_model, [dataset("a", {"ner": seq(layers_to_use=[2]), "pos": seq()})])
    assert top.task_layers == {}
    for name, value in model.state_dict().items():
        assert torch.equal(value, top.state_dict()[name]), name


def test_each_task_reads_its_own_mix_from_one_transformer_call(tiny_model):
    tasks = {"mixed": seq(layers_to_use=[-3, -1]), "middle": seq(layers_to_use=[1]), "last": seq()}
    model, _, _ = build(tiny_model, [dataset("a", tasks)])
    assert model.task_layers == {"mixed": [0, 2], "middle": [1]}
    assert list(model.scalar_mixes) == ["mixed"]
    assert model.scalar_mix_weights() == {"mixed": [0.5, 0.5]}
    mix = model.scalar_mixes["mixed"]
    with torch.no_grad():
        mix.scalar_parameters.copy_(torch.tensor([0.0, math.log(3.0)]))
        mix.gamma.fill_(0.5)
    assert model.scalar_mix_weights()["mixed"] == pytest.approx([0.25, 0.75])
    calls = transformer_calls(model)
    inputs = collate(model, sentences(6))
    with torch.no_grad():
        vectors, _ = model.task_vectors(inputs, ["mixed", "middle", "last"])
        assert len(calls) == 1 and calls[0]["output_hidden_states"] is True
        layers, _ = model.encoder(inputs, layers=[0, 1, 2])
        plain, _ = model.encoder(inputs)
    torch.testing.assert_close(vectors["mixed"], 0.5 * (0.25 * layers[0] + 0.75 * layers[2]))
    assert torch.equal(vectors["middle"], layers[1])
    assert torch.equal(vectors["last"], plain)
    inputs = collate(model, sentences(3))
    gold = {"mixed": torch.zeros(3, inputs["word_mask"].shape[1], dtype=torch.long)}
    model.train()
    total, _ = model(inputs, gold)
    total.backward()
    assert mix.scalar_parameters.grad is not None and mix.scalar_parameters.grad.abs().sum() > 0


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_chunked_layers_and_shifts_equal_one_call(tiny_model, pooling):
    model, _, _ = build(
        tiny_model, [dataset("a", {"ner": seq()})], pooling=pooling, encoder={"max_input_length": 8}
    )
    words = sentences(4)  # of 4, 9, 2 and 13 words: the longer ones need several windows
    inputs = collate(model, words)
    rows, width = inputs["input_ids"].shape
    assert rows > len(words)
    torch.manual_seed(1)
    shift = torch.randn(len(words), model.encoder.output_dim)
    with torch.no_grad():
        whole, _ = model.encoder(inputs, layers=[0, 2], input_shift=shift)
        chunked, _ = model.encoder(
            {**inputs, "max_tokens": 2 * width}, layers=[0, 2], input_shift=shift
        )
        unshifted, _ = model.encoder(inputs, layers=[0, 2])
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(whole, unshifted)


def test_layers_that_the_encoder_has_not_are_config_errors(tiny_model):
    for layers, message in (([3], "layers 0 .* to 2"), ([-4], "layers 0"), ([2, -1], "twice")):
        with pytest.raises(ConfigError, match=message):
            build(tiny_model, [dataset("a", {"ner": seq(layers_to_use=layers)})])
    for layers in ([], "-1", [1.5], [True]):
        with pytest.raises(ConfigError, match="non-empty list"):
            build(tiny_model, [dataset("a", {"ner": seq(layers_to_use=layers)})])
    shared = [
        dataset("a", {"ner": seq(layers_to_use=[-1, -2])}),
        dataset("b", {"ner": seq()}),
    ]
    with pytest.raises(ConfigError, match="defined differently"):
        build(tiny_model, shared)
