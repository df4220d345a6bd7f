"""The encoder's MaChAmp switches: ``encoder.update_weights_encoder`` false freezes the whole
transformer, and ``reset_transformer_model`` keeps its architecture with fresh weights."""

from __future__ import annotations

import torch
from multitask_helpers import build, collate, dataset, gold, sentences, seq, train_one_step

from machamp_lite.training.optimization import build_optimizer


def test_a_frozen_transformer_does_not_change_while_the_rest_learns(tiny_model):
    model, _, _ = build(
        tiny_model,
        [dataset("a", {"ner": seq(layers_to_use=[-2, -1])}, dataset_embed_idx=-1)],
        encoder={"update_weights_encoder": False},
    )
    transformer = model.encoder.transformer
    assert not any(p.requires_grad for p in transformer.parameters())
    before = {name: value.clone() for name, value in model.state_dict().items()}
    optimizer = build_optimizer(model, {"lr": 0.1, "decoder_lr": 0.1})
    model.train()
    words = sentences(4)
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids(["a"] * 4)
    labels = {"ner": gold(model, "ner", words, inputs["word_mask"].shape[1])}
    optimizer.zero_grad()
    model(inputs, labels)[0].backward()
    optimizer.step()
    after = model.state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert not any(name.startswith("encoder.transformer.") for name in changed)
    assert {
        "decoders.ner.projection.weight",
        "scalar_mixes.ner.scalar_parameters",
        "scalar_mixes.ner.gamma",
        "input_embedding.table.weight",
    } <= changed


def test_a_trainable_transformer_changes_in_the_same_step(tiny_model):
    model, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})])
    before = train_one_step(model)
    after = dict(model.named_parameters())
    transformer = [n for n in before if n.startswith("encoder.transformer.")]
    assert any(not torch.equal(before[n], after[n]) for n in transformer)


def test_a_reset_transformer_has_the_same_shapes_and_fresh_weights(tiny_model):
    pretrained, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})])
    reset, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})], reset_transformer_model=True)
    old = pretrained.encoder.transformer.state_dict()
    new = reset.encoder.transformer.state_dict()
    assert {n: v.shape for n, v in old.items()} == {n: v.shape for n, v in new.items()}
    # every weight matrix (embeddings and linear layers) is drawn anew; norms start at 1 and 0
    matrices = [n for n, v in old.items() if n.endswith("weight") and v.dim() == 2]
    assert len(matrices) > 10
    assert all(not torch.equal(old[n], new[n]) for n in matrices)
    words = sentences(2)
    with torch.no_grad():
        assert not torch.allclose(
            pretrained.encoder(collate(pretrained, words))[0],
            reset.encoder(collate(reset, words))[0],
        )
