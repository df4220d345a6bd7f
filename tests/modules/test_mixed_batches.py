"""Batches that mix datasets (``batching.diverse``): ``task_rows`` names the rows that carry
each task, and each task's loss over a mixed batch is the loss of separate per-dataset passes
over the same sentences."""

from __future__ import annotations

import torch
from multitask_helpers import build, collate, dataset, gold, sentences, seq

TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # padding to another width moves the last bits


def two_datasets(tiny_model):
    """a: ner; b: ner and aux (weight 0.5, its own layer mix); both embedded at the input."""
    return build(
        tiny_model,
        [
            dataset("a", {"ner": seq()}, dataset_embed_idx=-1),
            dataset(
                "b",
                {"ner": seq(), "aux": seq(loss_weight=0.5, layers_to_use=[-2, -1])},
                dataset_embed_idx=-1,
            ),
        ],
    )


def separate_pass(model, name: str, words: list[list[str]], tasks: list[str]):
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids([name] * len(words))
    width = inputs["word_mask"].shape[1]
    return model(inputs, {task: gold(model, task, words, width) for task in tasks})


def test_the_loss_of_a_mixed_batch_is_the_loss_of_separate_passes(tiny_model):
    model, _, _ = two_datasets(tiny_model)
    with torch.no_grad():
        model.scalar_mixes["aux"].scalar_parameters.copy_(torch.tensor([0.3, -0.2]))
    words_a, words_b = sentences(2), sentences(3, start=2)
    with torch.no_grad():
        _, alone_a = separate_pass(model, "a", words_a, ["ner"])
        _, alone_b = separate_pass(model, "b", words_b, ["ner", "aux"])
        inputs = collate(model, words_a + words_b)
        inputs["dataset_ids"] = model.dataset_ids(["a", "a", "b", "b", "b"])
        width = inputs["word_mask"].shape[1]
        labels = {
            "ner": gold(model, "ner", words_a + words_b, width),
            # aux's gold holds only its rows, in the order task_rows gives them
            "aux": gold(model, "aux", [words_b[2], words_b[0], words_b[1]], width),
        }
        total, losses = model(inputs, labels, {"aux": torch.tensor([4, 2, 3])})
    expected_ner = (2 * alone_a["ner"] + 3 * alone_b["ner"]) / 5
    torch.testing.assert_close(losses["ner"], expected_ner, **TOLERANCE)
    torch.testing.assert_close(losses["aux"], alone_b["aux"], **TOLERANCE)
    torch.testing.assert_close(total, expected_ner + 0.5 * alone_b["aux"], **TOLERANCE)
    assert not torch.isclose(alone_a["ner"], alone_b["ner"])  # the rows really differ


def test_without_task_rows_every_row_carries_every_task(tiny_model):
    model, _, _ = two_datasets(tiny_model)
    words = sentences(4)
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids(["b"] * 4)
    width = inputs["word_mask"].shape[1]
    labels = {task: gold(model, task, words, width) for task in ("ner", "aux")}
    every_row = torch.arange(4)
    with torch.no_grad():
        total, losses = model(inputs, labels)
        named, named_losses = model(inputs, labels, {"ner": every_row, "aux": every_row})
    assert torch.equal(total, named)
    assert all(torch.equal(losses[t], named_losses[t]) for t in losses)
    assert torch.equal(total, losses["ner"] + 0.5 * losses["aux"])


def test_gradients_flow_only_from_the_rows_of_each_task(tiny_model):
    model, _, _ = two_datasets(tiny_model)
    words = sentences(3)
    inputs = collate(model, words)
    inputs["dataset_ids"] = model.dataset_ids(["a", "b", "b"])
    width = inputs["word_mask"].shape[1]
    # only aux is trained, on the rows of b: a's dataset embedding gets no gradient
    labels = {"aux": gold(model, "aux", words[1:], width)}
    model.train()
    total, _ = model(inputs, labels, {"aux": torch.tensor([1, 2])})
    total.backward()
    assert model.input_embedding is not None
    grad = model.input_embedding.table.weight.grad
    assert grad is not None
    assert torch.equal(grad[0], torch.zeros_like(grad[0])) and grad[1].abs().sum() > 0
