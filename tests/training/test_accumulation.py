"""Gradient accumulation equals one big batch, also when the batches are uneven."""

from __future__ import annotations

import json

import torch

from machamp_lite.config import load_params
from machamp_lite.training.trainer import Trainer

from conftest import DEMO, build_trainer, write


def make_trainer(tmp_path, model_path, accumulation: int) -> Trainer:
    dataset = write(
        tmp_path / "data.json",
        json.dumps(
            {
                "demo": {
                    "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
    )
    params = load_params(
        None,
        [
            f"transformer_model={model_path}",
            "encoder.dropout=0",
            "decoder.dropout=0",
            f"training.accumulation_steps={accumulation}",
            "training.precision=fp32",  # the equality is about batching, not bf16 round-off
        ],
    )
    return build_trainer(dataset, params, tmp_path)


def rows(dataset: str, indices) -> list[tuple[str, int]]:
    """A training batch: (dataset, sentence index) pairs."""
    return [(dataset, i) for i in indices]


def gradients(trainer: Trainer, group) -> dict[str, torch.Tensor]:
    trainer.model.eval()  # no dropout: the comparison is about batching only
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.compute_gradients(group)
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}


def test_batch_8_times_accumulation_4_gives_the_gradients_of_batch_32(tmp_path, no_dropout_model):
    big = make_trainer(tmp_path, no_dropout_model, accumulation=1)
    small = make_trainer(tmp_path, no_dropout_model, accumulation=4)
    small.model.load_state_dict(big.model.state_dict())
    sentences = list(range(40, 72))
    one = gradients(big, [rows("demo", sentences)])
    four = gradients(small, [rows("demo", sentences[i : i + 8]) for i in range(0, 32, 8)])
    assert one.keys() == four.keys() and len(one) > 10
    for name in one:
        assert torch.allclose(one[name], four[name], atol=1e-5, rtol=1e-4), name


def test_uneven_batches_are_weighted_by_their_sentences(tmp_path, no_dropout_model):
    big = make_trainer(tmp_path, no_dropout_model, accumulation=1)
    split = make_trainer(tmp_path, no_dropout_model, accumulation=2)
    split.model.load_state_dict(big.model.state_dict())
    one = gradients(big, [rows("demo", range(10))])
    two = gradients(split, [rows("demo", [0, 1, 2]), rows("demo", range(3, 10))])
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-5, rtol=1e-4), name
