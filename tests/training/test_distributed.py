"""A single process is a data-parallel job of world size 1, and data-parallel training with 2 gloo
processes on CPU equals single-process training with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from machamp_lite.training.distributed import (
    init_distributed,
    shutdown_distributed,
    wrap_data_parallel,
)

from conftest import ROOT, demo_train_arguments, tiny_training_params


@pytest.mark.parametrize("world_size", [None, "1"])
def test_a_single_process_is_rank_0_of_1_and_its_collectives_change_nothing(
    monkeypatch, world_size
):
    if world_size is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world_size)
    context = init_distributed("cpu")
    assert (context.rank, context.world_size, context.local_rank) == (0, 1, 0)
    assert context.is_main and not context.active
    context.barrier()
    assert context.broadcast({"epoch": 1}) == {"epoch": 1}
    assert context.gather(3) == [3]
    assert context.sum([1.0, 2.5]) == [1.0, 2.5]
    model = torch.nn.Linear(2, 2)
    assert wrap_data_parallel(model, torch.device("cpu"), context, several_tasks=True) is model
    shutdown_distributed(context)


def run_training(tmp_path: Path, model: Path, name: str, nproc: int, accumulation: int):
    params = tiny_training_params(
        tmp_path / f"{name}.json",
        model,
        3,
        optimizer={"lr": 0.003, "decoder_lr": 0.03},
        encoder={"dropout": 0.0},
        decoder={"dropout": 0.0},
        batching={"batch_size": 16},
        training={"accumulation_steps": accumulation},
    )
    command = demo_train_arguments(params, tmp_path / name, "--threads", "1", "--device", "cpu")
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
