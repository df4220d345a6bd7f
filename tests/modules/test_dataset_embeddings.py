"""Dataset embeddings: ``dataset_embed_idx`` -1 adds a learned vector per dataset to the
encoder's input embeddings, ``dec_dataset_embed_idx`` -1 joins one to a task's word vectors;
each sentence's dataset reaches the model as ``inputs["dataset_ids"]``."""

from __future__ import annotations

import pytest
import torch
from multitask_helpers import build, collate, dataset, gold, sentences, seq

from machamp_lite.errors import ConfigError
from machamp_lite.modules.dataset_embeddings import DatasetEmbedding


def three_datasets(tiny_model, **top):
    """Datasets a and b embedded at the input, c not; all share the task ``ner``."""
    return build(
        tiny_model,
        [
            dataset("a", {"ner": seq()}, dataset_embed_idx=-1),
            dataset("b", {"ner": seq()}, dataset_embed_idx=-1),
            dataset("c", {"ner": seq()}, dataset_embed_idx=None),
        ],
        **top,
    )


def test_the_model_owns_a_table_of_its_datasets(tiny_model):
    model, _, _ = three_datasets(tiny_model)
    assert model.dataset_names == ["a", "b", "c"]
    assert model.dataset_index("b") == 1
    assert model.dataset_ids(["c", "a", "a"]).tolist() == [2, 0, 0]
    assert model.needs_dataset_ids
    with pytest.raises(ConfigError, match="unknown dataset 'd'"):
        model.dataset_index("d")
    plain, _, _ = build(tiny_model, [dataset("a", {"ner": seq()})])
    assert not plain.needs_dataset_ids and plain.dataset_names == ["a"]


def test_an_embedding_table_reads_zeros_for_datasets_without_a_row():
    table = DatasetEmbedding(4, [1, 3], 5)
    vectors = table(torch.tensor([0, 1, 2, 3, 1]))
    assert torch.equal(vectors[0], torch.zeros(5)) and torch.equal(vectors[2], torch.zeros(5))
    assert torch.equal(vectors[1], vectors[4]) and not torch.equal(vectors[1], vectors[3])
    assert vectors[1].abs().sum() > 0


def test_the_input_embedding_changes_the_vectors_per_dataset(tiny_model):
    model, _, _ = three_datasets(tiny_model)
    words = sentences(4)
    inputs = collate(model, words)
    ids = {name: model.dataset_ids([name] * len(words)) for name in "abc"}
    with torch.no_grad():
        vectors = {
            name: model.task_vectors({**inputs, "dataset_ids": ids[name]}, ["ner"])[0]["ner"]
            for name in "abc"
        }
        plain, _ = model.encoder(inputs)
    assert not torch.allclose(vectors["a"], vectors["b"], atol=1e-3)
    assert not torch.allclose(vectors["a"], plain, atol=1e-3)
    # A dataset without an embedding sees what a model without the feature sees.
    torch.testing.assert_close(vectors["c"], plain, rtol=1e-6, atol=1e-6)
    mixed = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        per_row = model.task_vectors({**inputs, "dataset_ids": mixed}, ["ner"])[0]["ner"]
    for row, name in enumerate("abca"):
        real = inputs["word_mask"][row]  # padding reads any row: only the words count
        torch.testing.assert_close(
            per_row[row][real], vectors[name][row][real], rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_every_window_of_a_long_sentence_gets_its_sentence_embedding(tiny_model, pooling):
    model, _, _ = build(
        tiny_model, [dataset("a", {"ner": seq()})], pooling=pooling, encoder={"max_input_length": 8}
    )
    words = sentences(4)  # 4, 9, 2 and 13 words
    inputs = collate(model, words)
    rows_per_sentence = []
    for sentence in words:
        alone = collate(model, [sentence])
        rows_per_sentence.append(alone["input_ids"].shape[0])
    assert rows_per_sentence[1] > 1 and rows_per_sentence[3] > 1
    expected = [s for s, count in enumerate(rows_per_sentence) for _ in range(count)]
    assert model.encoder._row_sentences(inputs).tolist() == expected


def test_dataset_embeddings_get_gradients(tiny_model):
    model, _, _ = three_datasets(tiny_model)
    model.train()
    words = sentences(3)
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids(["a", "a", "c"])
    labels = {"ner": gold(model, "ner", words, inputs["word_mask"].shape[1])}
    total, _ = model(inputs, labels)
    total.backward()
    assert model.input_embedding is not None
    grad = model.input_embedding.table.weight.grad
    assert grad is not None
    assert grad[0].abs().sum() > 0  # a's row
    assert torch.equal(grad[1], torch.zeros_like(grad[1]))  # b is not in the batch
    assert torch.equal(grad[2], torch.zeros_like(grad[2]))  # the zero row of c


def test_a_decoder_dataset_embedding_sits_beside_each_word_vector(tiny_model):
    model, _, _ = build(
        tiny_model,
        [
            dataset("a", {"ner": seq(dec_dataset_embed_idx=-1), "pos": seq()}),
            dataset("b", {"ner": seq(dec_dataset_embed_idx=-1)}),
        ],
        default_dec_dataset_embeds_dim=5,
    )
    hidden = model.encoder.output_dim
    assert model.decoders["ner"].input_dim == hidden + 5
    assert model.decoders["pos"].input_dim == hidden
    assert model.input_embedding is None and model.decoder_embedding is not None
    words = sentences(3)
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids(["a", "b", "a"])
    with torch.no_grad():
        vectors, mask = model.task_vectors(inputs, ["ner", "pos"])
        plain, _ = model.encoder(inputs)
        table = model.decoder_embedding(torch.tensor([0, 1]))
    assert torch.equal(vectors["pos"], plain)
    assert torch.equal(vectors["ner"][..., :hidden], plain)
    for row, dataset_index in enumerate([0, 1, 0]):
        beside = vectors["ner"][row, :, hidden:]
        assert torch.equal(beside, table[dataset_index].expand(beside.shape[0], 5))
    assert not torch.equal(table[0], table[1])
    labels = {"ner": gold(model, "ner", words, mask.shape[1])}
    as_a = model({**inputs, "dataset_ids": model.dataset_ids(["a"] * 3)}, labels)[0]
    as_b = model({**inputs, "dataset_ids": model.dataset_ids(["b"] * 3)}, labels)[0]
    assert not torch.isclose(as_a, as_b)
    model.train()
    model(inputs, labels)[0].backward()
    grad = model.decoder_embedding.table.weight.grad
    assert grad is not None and grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0


def test_ids_read_from_a_column_are_refused_with_the_reason(tiny_model):
    with pytest.raises(ConfigError, match="dataset 'a': dataset_embed_idx 9: only -1"):
        build(tiny_model, [dataset("a", {"ner": seq()}, dataset_embed_idx=9)])
    with pytest.raises(ConfigError, match="task 'ner': dec_dataset_embed_idx 3: only -1"):
        build(tiny_model, [dataset("a", {"ner": seq(dec_dataset_embed_idx=3)})])
    with pytest.raises(ConfigError, match="must be an integer"):
        build(tiny_model, [dataset("a", {"ner": seq()}, dataset_embed_idx="name")])


def test_inputs_without_dataset_ids_are_refused(tiny_model):
    model, _, _ = three_datasets(tiny_model)
    with pytest.raises(ValueError, match="dataset_ids"):
        model.predict(collate(model, sentences(2)), ["ner"])
