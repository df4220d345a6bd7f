"""The callback layer: a callback of one's own, passed to ``machamp_lite.train``, sees the hooks in
the order of the training loop, after the built-in callbacks, and what it adds to an epoch's
record is reported in metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import machamp_lite
from machamp_lite.training.callbacks import Callback

from conftest import ROOT


class Recorder(Callback):
    """Writes down every hook it sees, and adds a key of its own to each epoch's record."""

    def __init__(self):
        self.hooks: list[tuple[str, int]] = []
        self.records: list[dict[str, Any]] = []
        self.improved: list[bool] = []

    def on_fit_start(self, trainer) -> None:
        self.hooks.append(("on_fit_start", trainer.steps))

    def on_epoch_start(self, trainer, epoch: int) -> None:
        self.hooks.append(("on_epoch_start", epoch))

    def on_step_end(self, trainer) -> None:
        self.hooks.append(("on_step_end", trainer.steps))

    def on_epoch_end(self, trainer, record, predictions) -> None:
        self.hooks.append(("on_epoch_end", record["epoch"]))
        self.records.append(dict(record))  # as the callback received it
        self.improved.append(trainer.improved)
        record["recorder_steps"] = trainer.steps

    def on_fit_end(self, trainer) -> None:
        self.hooks.append(("on_fit_end", trainer.steps))


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, params) -> tuple[Recorder, Path]:
    """One epoch of the tiny model on 20 demo sentences, with a Recorder."""
    recorder = Recorder()
    run = machamp_lite.train(
        [str(ROOT / "dataset_configs/demo.json")],
        str(params),
        output_dir=str(tmp_path_factory.mktemp("callbacks")),
        device="cpu",
        seed=1,
        data_dir=str(ROOT),
        overrides=["multiconer_demo.max_sents=20"],
        callbacks=[recorder],
    )
    return recorder, run


def test_the_hooks_come_in_the_order_of_the_training_loop(one_epoch):
    recorder, _ = one_epoch
    (record,) = recorder.records
    steps = record["optimizer_steps"]
    assert steps == 2  # 20 sentences in batches of at most 16
    assert recorder.hooks == [
        ("on_fit_start", 0),
        ("on_epoch_start", 1),
        *[("on_step_end", step) for step in range(1, steps + 1)],
        ("on_epoch_end", 1),
        ("on_fit_end", steps),
    ]


def test_the_built_in_callbacks_run_first(one_epoch):
    recorder, run = one_epoch
    (record,) = recorder.records
    assert record["peak_rss_mb"] > 0  # the MemoryMonitor's, added before the Recorder's turn
    assert (run / "model" / "archive.json").is_file()  # the best model is saved at epoch end


def test_the_first_epoch_is_an_improvement(one_epoch):
    recorder, _ = one_epoch
    assert recorder.improved == [True]


def test_a_key_added_to_the_record_is_in_metrics_json(one_epoch):
    recorder, run = one_epoch
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    (epoch,) = metrics["epochs"]
    assert epoch["recorder_steps"] == recorder.records[0]["optimizer_steps"]
    assert epoch["epoch"] == 1 and metrics["best_epoch"] == 1


def test_a_callback_that_is_not_a_callback_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(TypeError, match=r"callbacks\[0\]: expected .*Callback, got function"):
        machamp_lite.train(
            [str(tmp_path / "never-read.json")],
            output_dir=str(tmp_path / "logs"),
            callbacks=[lambda trainer: None],
        )
    assert not (tmp_path / "logs").exists()
