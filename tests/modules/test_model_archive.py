"""A model with layer mixes and dataset embeddings saves, loads (rebuilt from its configs with
pretrained=False, then its weights read) and predicts as it did before saving."""

from __future__ import annotations

import pytest
import torch
from multitask_helpers import LABELS, collate, dataset, gold, sentences, seq

from machamp_lite.archive import save_archive
from machamp_lite.config import load_params
from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.model import build_model, collect_tasks
from machamp_lite.predict import Predictor
from machamp_lite.training.optimization import build_optimizer


def trained_model(tiny_model):
    params = load_params(
        None,
        [
            f"transformer_model={tiny_model}",
            "encoder.dropout=0",
            "decoder.dropout=0",
            "default_dec_dataset_embeds_dim=4",
        ],
    )
    ner = seq(layers_to_use=[-3, -1], dec_dataset_embed_idx=-1)
    datasets = {
        "a": dataset("a", {"ner": ner}, dataset_embed_idx=-1),
        "b": dataset("b", {"ner": ner, "pos": seq(layers_to_use=[1])}, dataset_embed_idx=None),
    }
    tasks = collect_tasks(datasets)
    vocabularies = {task: LabelVocabulary(LABELS) for task in tasks}
    torch.manual_seed(0)
    model = build_model(params, tasks, vocabularies)
    optimizer = build_optimizer(model, {"lr": 0.01, "decoder_lr": 0.2})
    model.train()
    for step in range(4):
        name = "ab"[step % 2]
        words = sentences(4, start=4 * step)
        inputs = collate(model, words)
        inputs["dataset_ids"] = model.dataset_ids([name] * len(words))
        width = inputs["word_mask"].shape[1]
        labels = {t: gold(model, t, words, width) for t in datasets[name]["tasks"]}
        optimizer.zero_grad()
        model(inputs, labels)[0].backward()
        optimizer.step()
    model.eval()
    return model, params, datasets, vocabularies


def test_mixes_and_dataset_embeddings_survive_the_archive(tiny_model, tmp_path):
    model, params, datasets, vocabularies = trained_model(tiny_model)
    weights = model.scalar_mix_weights()
    assert set(weights) == {"ner"} and weights["ner"] != pytest.approx([0.5, 0.5])
    save_archive(tmp_path / "model", model, params, datasets, vocabularies)
    loaded = Predictor.load(tmp_path / "model", device="cpu")
    assert loaded.model.scalar_mix_weights() == weights
    assert loaded.model.task_layers == {"ner": [0, 2], "pos": [1]}
    assert loaded.model.dataset_names == ["a", "b"]
    original = Predictor(model, params, datasets)
    words = sentences(6, start=20)
    for name in ("a", "b"):
        assert loaded.predict(words, dataset=name) == original.predict(words, dataset=name)
        inputs = collate(model, words)
        inputs["dataset_ids"] = model.dataset_ids([name] * len(words))
        tasks = list(datasets[name]["tasks"])
        with torch.no_grad():
            before, _ = model.task_vectors(inputs, tasks)
            after, _ = loaded.model.task_vectors(inputs, tasks)
        for task in tasks:
            assert torch.equal(before[task], after[task]), (name, task)
    # the dataset embeddings are part of what was saved: another dataset gives other vectors
    inputs = collate(model, words)
    with torch.no_grad():
        as_a = loaded.model.task_vectors({**inputs, "dataset_ids": torch.zeros(6).long()}, ["ner"])
        as_b = loaded.model.task_vectors({**inputs, "dataset_ids": torch.ones(6).long()}, ["ner"])
    assert not torch.allclose(as_a[0]["ner"], as_b[0]["ner"])
