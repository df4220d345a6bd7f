"""MaChAmp's ``--retrain`` and ``--sequential``: a run that starts from an earlier model takes
its encoder, and its decoders where a task of the same name has the same labels; the new run
is self-contained (its encoder lives in the run directory)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite.archive import load_archive
from machamp_lite.errors import ConfigError, MachampError
from machamp_lite.training.callbacks import Callback
from machamp_lite.training.retrain import START_ENCODER_DIR

from conftest import ROOT, tiny_training_params, train_command, write

NER = "anna B-PER\nlives O\nin O\nberlin B-LOC\n\nbob B-PER\nsleeps O\n\n"
POS = "anna NOUN\nlives VERB\n\nbob NOUN\nsleeps VERB\n\n"


def config(tmp_path: Path, name: str, tasks: dict, text: str) -> str:
    data = write(tmp_path / f"{name}.txt", text)
    body = {name: {"train_data_path": str(data), "dev_data_path": str(data), "tasks": tasks}}
    return str(write(tmp_path / f"{name}.json", json.dumps(body)))


class FirstState(Callback):
    """The model's weights when training starts, before any step."""

    def on_fit_start(self, trainer) -> None:
        self.state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_model) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("retrain")
    params = tiny_training_params(folder / "params.json", tiny_model, num_epochs=1)
    ner = config(folder, "ner_a", {"ner": {"task_type": "seq_bio", "column_idx": 1}}, NER)
    run = machamp_lite.train([ner], str(params), output_dir=str(folder / "logs"), device="cpu")
    return run, params


def test_retrain_starts_from_the_encoder_and_the_matching_decoder(first_run, tmp_path):
    run, params = first_run
    previous = load_archive(run / "model")[0].state_dict()
    tasks = {
        "ner": {"task_type": "seq_bio", "column_idx": 1},  # same name, same labels: kept
    }
    second = config(tmp_path, "ner_b", tasks, NER)
    pos = config(tmp_path, "pos_b", {"pos": {"task_type": "seq", "column_idx": 1}}, POS)
    recorder = FirstState()
    new_run = machamp_lite.train(
        [second, pos],
        str(params),
        output_dir=str(tmp_path / "logs"),
        device="cpu",
        retrain=str(run / "model"),
        callbacks=[recorder],
    )
    start = recorder.state
    encoder_keys = [k for k in previous if k.startswith("encoder.")]
    assert encoder_keys and all(torch.equal(start[k], previous[k]) for k in encoder_keys)
    ner_keys = [k for k in previous if k.startswith("decoders.ner.")]
    assert ner_keys and all(torch.equal(start[k], previous[k]) for k in ner_keys)
    assert any(k.startswith("decoders.pos.") for k in start)  # a new task: a new decoder
    used = json.loads((new_run / "params.json").read_text(encoding="utf-8"))
    assert used["transformer_model"] == str((new_run / START_ENCODER_DIR).resolve())
    assert not list((tmp_path / "logs").glob(".retrain-*"))  # the scratch copy was moved
    # The new run's own model is complete without the first run.
    assert load_archive(new_run / "model")[0] is not None


def test_a_decoder_with_other_labels_starts_fresh(first_run, tmp_path):
    run, params = first_run
    previous = load_archive(run / "model")[0].state_dict()
    other = "anna B-ORG\nlives O\n\n"
    second = config(tmp_path, "ner_c", {"ner": {"task_type": "seq_bio", "column_idx": 1}}, other)
    recorder = FirstState()
    machamp_lite.train(
        [second],
        str(params),
        output_dir=str(tmp_path / "logs"),
        device="cpu",
        retrain=str(run / "model"),
        callbacks=[recorder],
    )
    shapes = {k: v.shape for k, v in recorder.state.items() if k.startswith("decoders.ner.")}
    old_shapes = {k: v.shape for k, v in previous.items() if k.startswith("decoders.ner.")}
    assert shapes != old_shapes  # B-ORG/I-ORG instead of PER and LOC: other rows


def test_retrain_and_resume_together_are_refused(first_run):
    run, _ = first_run
    with pytest.raises(ConfigError, match="--retrain starts a new run and --resume"):
        machamp_lite.train(resume=str(run), retrain=str(run / "model"))


def test_retrain_from_a_missing_folder_names_it(tmp_path, first_run):
    _, params = first_run
    ner = config(tmp_path, "n", {"ner": {"task_type": "seq_bio", "column_idx": 1}}, NER)
    with pytest.raises(ConfigError, match="--retrain .*nowhere: no such model folder"):
        machamp_lite.train([ner], str(params), retrain=str(tmp_path / "nowhere"))


def test_sequential_trains_each_config_from_the_previous_model(first_run, tmp_path):
    _, params = first_run
    first = config(tmp_path, "s1", {"ner": {"task_type": "seq_bio", "column_idx": 1}}, NER)
    second = config(tmp_path, "s2", {"pos": {"task_type": "seq", "column_idx": 1}}, POS)
    extra = ("--dataset_configs", second, "--sequential", "--name", "seq")
    result = subprocess.run(
        train_command(Path(first), params, tmp_path / "logs", *extra),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert runs == ["seq.0", "seq.1"]
    last = next((tmp_path / "logs" / "seq.1").iterdir())
    assert (last / START_ENCODER_DIR).is_dir()
    log = (last / "train.log").read_text(encoding="utf-8")
    assert "retrain from" in log and "seq.0" in log


def test_retrain_on_a_full_disk_is_one_error_and_leaves_no_copy(first_run, tmp_path, tmpfs):
    run, params = first_run
    full = tmpfs("64k")  # far too small for the encoder's copy
    ner = config(tmp_path, "n", {"ner": {"task_type": "seq_bio", "column_idx": 1}}, NER)
    with pytest.raises(MachampError, match="cannot write a copy of its encoder"):
        machamp_lite.train(
            [ner], str(params), output_dir=str(full), device="cpu", retrain=str(run / "model")
        )
    assert list(full.iterdir()) == []  # no .retrain-* scratch copy, no run directory
