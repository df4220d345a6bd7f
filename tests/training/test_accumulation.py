"""Gradient accumulation equals one big batch, and data-parallel training with 2 gloo
processes on CPU equals single-process training with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from machamp_lite.config import load_dataset_configs, load_params
from machamp_lite.model import build_model, collect_tasks
from machamp_lite.training.splits import build_vocabularies, encode_splits, read_splits
from machamp_lite.training.trainer import Trainer

from conftest import DEMO, ROOT, build_tiny_model, demo_texts, write


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory) -> Path:
    """A tiny BERT without dropout, so runs that differ only in batching are comparable."""
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-nodrop"), demo_texts())
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


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
        ],
    )
    datasets = load_dataset_configs([str(dataset)])
    tasks = collect_tasks(datasets)
    train, _ = read_splits(datasets)
    vocabularies = build_vocabularies(tasks, train)
    torch.manual_seed(0)
    model = build_model(params, tasks, vocabularies)
    encode_splits(model.encoder, train)
    return Trainer(model, params, tasks, train, [], tmp_path, torch.device("cpu"), 0)


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
    one = gradients(big, [("demo", sentences)])
    four = gradients(small, [("demo", sentences[i : i + 8]) for i in range(0, 32, 8)])
    assert one.keys() == four.keys() and len(one) > 10
    for name in one:
        assert torch.allclose(one[name], four[name], atol=1e-5, rtol=1e-4), name


def test_uneven_batches_are_weighted_by_their_sentences(tmp_path, no_dropout_model):
    big = make_trainer(tmp_path, no_dropout_model, accumulation=1)
    split = make_trainer(tmp_path, no_dropout_model, accumulation=2)
    split.model.load_state_dict(big.model.state_dict())
    one = gradients(big, [("demo", list(range(10)))])
    two = gradients(split, [("demo", [0, 1, 2]), ("demo", list(range(3, 10)))])
    for name in one:
        assert torch.allclose(one[name], two[name], atol=1e-5, rtol=1e-4), name


def run_training(tmp_path: Path, model: Path, name: str, nproc: int, accumulation: int):
    params = write(
        tmp_path / f"{name}.json",
        json.dumps(
            {
                "transformer_model": str(model),
                "encoder": {"max_input_length": 64, "dropout": 0.0},
                "decoder": {"dropout": 0.0},
                "batching": {"batch_size": 16},
                "training": {
                    "num_epochs": 3,
                    "accumulation_steps": accumulation,
                    "optimizer": {"lr": 0.003, "decoder_lr": 0.03},
                },
            }
        ),
    )
    command = [
        "train",
        "--dataset_configs",
        str(ROOT / "dataset_configs/demo.json"),
        str(ROOT / "dataset_configs/demo_aux.json"),
        "--parameters_config",
        str(params),
        "--output_dir",
        str(tmp_path / name),
        "--data_dir",
        str(ROOT),
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "machamp_lite", *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in (tmp_path / name).glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs  # one run directory: only rank 0 wrote
    return runs[0], result


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(
    tmp_path, no_dropout_model
):
    single, _ = run_training(tmp_path, no_dropout_model, "single", nproc=1, accumulation=2)
    double, result = run_training(tmp_path, no_dropout_model, "ddp", nproc=2, accumulation=1)
    a = json.loads((single / "metrics.json").read_text())
    b = json.loads((double / "metrics.json").read_text())
    assert a["best_epoch"] == b["best_epoch"]
    for ea, eb in zip(a["epochs"], b["epochs"]):
        assert ea["optimizer_steps"] == eb["optimizer_steps"]
        assert ea["train_sentences"] == eb["train_sentences"]
        assert ea["train_loss"] == pytest.approx(eb["train_loss"], rel=1e-5)
        assert ea["dev_sum"] == pytest.approx(eb["dev_sum"], abs=1e-9)
        for task in ea["dev"]:
            assert ea["dev"][task]["micro"] == pytest.approx(eb["dev"][task]["micro"], abs=1e-9)
    assert a["best_dev_sum"] > 0  # the comparison is between models that learned something
    from safetensors.torch import load_file

    wa = load_file(str(single / "model" / "model.safetensors"))
    wb = load_file(str(double / "model" / "model.safetensors"))
    assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5) for k in wa)
    log = (double / "train.log").read_text()
    assert log.count("best epoch") == 1  # one writer
    assert result.stdout.count("model saved in") == 1
    assert sorted(p.name for p in double.iterdir()) == sorted(p.name for p in single.iterdir())
