"""Crash safety: a run killed with SIGKILL mid-epoch and resumed ends exactly like the same run
left alone; half-written checkpoints are never used; old checkpoints are removed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from machamp_lite.errors import ConfigError
from machamp_lite.training.checkpoint import STATE, WEIGHTS, latest_checkpoint

from conftest import ROOT, tiny_training_params, train_command, write

SAME_RUN = ("--name", "r", "--seed", "5")


# The fault: a callback that SIGKILLs its own process after a given optimizer step, passed to
# the library's train() in a fresh process with the same arguments as the command line.
KILL_AT_STEP = """
import os, signal, sys
import machamp_lite
from machamp_lite.training.callbacks import Callback

class KillAtStep(Callback):
    def on_step_end(self, trainer):
        if trainer.steps == int(sys.argv[1]):
            os.kill(os.getpid(), signal.SIGKILL)

config, params, output = sys.argv[2:5]
machamp_lite.train([config], params, name="r", output_dir=output, device="cpu", seed=5,
                   threads=1, callbacks=[KillAtStep()])
"""


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture
def small_run_inputs(tmp_path, tiny_model):
    params = tiny_training_params(
        tmp_path / "params.json", tiny_model, 3, batching={"batch_size": 32}
    )
    config = write(
        tmp_path / "data.json",
        json.dumps(
            {
                "demo": {
                    "train_data_path": str(ROOT / "data/demo/multiconer_demo_train.conll"),
                    "dev_data_path": str(ROOT / "data/demo/multiconer_demo_dev.conll"),
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
    )
    return config, params


def single_run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.glob("r/*") if p.is_dir()]
    return run_dir


def comparable(metrics: dict) -> list[dict]:
    """Epoch records without the wall-clock and memory fields, which differ between runs."""
    drop = ("seconds", "peak_")
    return [
        {k: v for k, v in e.items() if not any(d in k for d in drop)} for e in metrics["epochs"]
    ]


def test_killed_and_resumed_run_equals_the_uninterrupted_run(tmp_path, small_run_inputs):
    config, params = small_run_inputs
    straight = run(train_command(config, params, tmp_path / "straight", *SAME_RUN))
    assert straight.returncode == 0, straight.stderr
    # 240 demo sentences in batches of at most 32: 8 steps per epoch; step 12 is mid-epoch 2.
    killed = run(
        [
            sys.executable,
            "-c",
            KILL_AT_STEP,
            "12",
            str(config),
            str(params),
            str(tmp_path / "killed"),
        ]
    )
    assert killed.returncode == -signal.SIGKILL
    run_dir = single_run_dir(tmp_path / "killed")
    assert latest_checkpoint(run_dir).name == "epoch-001"
    resumed = run(
        [
            sys.executable,
            "-m",
            "machamp_lite",
            "train",
            "--resume",
            str(run_dir),
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
    )
    assert resumed.returncode == 0, resumed.stderr

    a = json.loads((single_run_dir(tmp_path / "straight") / "metrics.json").read_text())
    b = json.loads((run_dir / "metrics.json").read_text())
    assert a["best_epoch"] == b["best_epoch"]
    assert comparable(a) == comparable(b)
    from safetensors.torch import load_file

    wa = load_file(str(single_run_dir(tmp_path / "straight") / "model" / WEIGHTS))
    wb = load_file(str(run_dir / "model" / WEIGHTS))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # bit-identical
    last_a = load_file(str(latest_checkpoint(single_run_dir(tmp_path / "straight")) / WEIGHTS))
    last_b = load_file(str(latest_checkpoint(run_dir) / WEIGHTS))
    assert all(torch.equal(last_a[k], last_b[k]) for k in last_a)
    # Only the newest checkpoint is kept.
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["epoch-003"]


def test_a_half_written_checkpoint_is_never_picked_up(tmp_path):
    folder = tmp_path / "checkpoints"
    complete = folder / "epoch-001"
    complete.mkdir(parents=True)
    (complete / WEIGHTS).write_bytes(b"x")
    (complete / STATE).write_bytes(b"x")
    (folder / ".epoch-002.abc123").mkdir()  # a crash during the write of epoch 2
    (folder / ".epoch-002.abc123" / WEIGHTS).write_bytes(b"x")
    (folder / "epoch-003").mkdir()  # a folder without its state file
    (folder / "epoch-003" / WEIGHTS).write_bytes(b"x")
    assert latest_checkpoint(tmp_path) == complete


def test_resume_without_a_checkpoint_says_so(tmp_path):
    import machamp_lite

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "params.json").write_text("{}")
    (run_dir / "datasets.json").write_text("{}")
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        machamp_lite.train(resume=str(run_dir))
    with pytest.raises(ConfigError, match="not a resumable run directory"):
        machamp_lite.train(resume=str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "datasets, expected",
    [
        ({"d": {"tasks": {"t": {"task_type": "seq", "column_idx": 1}}}}, "not what machamp-lite"),
        ({"d": {"name": "d", "source": "x", "tasks": "oops"}}, "key 'tasks' must be an object"),
        (
            {"d": {"name": "d", "source": "x", "train_data_path": "/a", "tasks": {"t": {}}}},
            "missing required key 'task_type'",
        ),
    ],
)
def test_a_damaged_datasets_json_in_a_run_to_resume_is_one_config_error(
    tmp_path, datasets, expected
):
    """A run directory may be copied or edited: its datasets.json is checked as a user's
    dataset config is, before anything is read or built (it was a KeyError traceback)."""
    import machamp_lite
    from machamp_lite.config import load_params

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "epoch-001").mkdir(parents=True)
    for name in (WEIGHTS, STATE):
        (run_dir / "checkpoints" / "epoch-001" / name).write_bytes(b"x")
    (run_dir / "params.json").write_text(json.dumps(load_params(None)))
    (run_dir / "datasets.json").write_text(json.dumps(datasets))
    with pytest.raises(ConfigError, match=expected):
        machamp_lite.train(resume=str(run_dir))
