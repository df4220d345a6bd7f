"""Temperature scaling after training (issue 16): the 1-D search finds known optima, a fitted T
lowers the dev NLL of a trained model, training and ``machamp-lite calibrate`` store it in the
archive so that it still verifies, and damaged files or interrupted writes are one clear error
or leave the archive as it was."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

import machamp_lite.archive
from machamp_lite.archive import ModelSaveError, load_archive
from machamp_lite.archive_integrity import MANIFEST, file_sha256
from machamp_lite.calibration import (
    CALIBRATION_FILE,
    MAX_EVALUATIONS,
    T_MAX,
    T_MIN,
    calibrate_archive,
    fit_temperature,
    read_calibration,
    write_calibration,
)
from machamp_lite.calibration_data import collect_scores
from machamp_lite.cli import main
from machamp_lite.decoders.confidence import softmax_nll
from machamp_lite.errors import ModelLoadError

from conftest import DEMO, demo_train_arguments, one_error, tiny_training_params, write


def only_run_dir(output_dir: Path) -> Path:
    runs = [p for p in output_dir.glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


# ---- the search ----


def counted(curve):
    calls: list[float] = []

    def nll(temperature: float) -> float:
        calls.append(temperature)
        return curve(temperature)

    return nll, calls


@pytest.mark.parametrize("optimum", [0.08, 0.3, 0.9, 1.7, 4.0, 15.0])
def test_the_search_finds_the_minimum_of_a_curve_in_log_t(optimum):
    nll, calls = counted(lambda t: 3.0 + (math.log(t) - math.log(optimum)) ** 2)
    found = fit_temperature(nll)
    assert found == pytest.approx(optimum, rel=1e-3)
    assert len(calls) <= MAX_EVALUATIONS
    assert fit_temperature(counted(lambda t: 3.0 + (math.log(t / optimum)) ** 2)[0]) == found


def test_the_search_finds_the_minimum_of_a_curve_convex_in_one_over_t():
    # The shape of a real NLL: a log-sum-exp in 1/T minus a linear term, minimum at T = 2.5.
    beta = 1 / 2.5
    found = fit_temperature(lambda t: math.log(math.exp(1 / t) + 1) - (1 / t) * _slope(beta))
    assert found == pytest.approx(2.5, rel=1e-3)


def _slope(beta: float) -> float:
    """d/dbeta of log(exp(beta) + 1) at ``beta``: where the curve above has its minimum."""
    return math.exp(beta) / (math.exp(beta) + 1)


def test_the_search_stops_at_the_ends_of_its_range():
    assert fit_temperature(lambda t: 1 / t) == pytest.approx(T_MAX, rel=1e-3)
    assert fit_temperature(lambda t: t) == pytest.approx(T_MIN, rel=1e-3)


def test_t_one_is_kept_when_it_is_as_good():
    assert fit_temperature(lambda t: 5.0) == 1.0  # flat: nothing to learn from
    assert fit_temperature(lambda t: 0.0) == 1.0  # no gold the model knows
    assert fit_temperature(lambda t: (math.log(t)) ** 2) == 1.0  # the optimum is 1
    # Best at T = 3, but better than T = 1 by float noise only (1e-13 of 2): still 1.
    depth = 1e-13

    def shallow(t: float) -> float:
        return 2.0 + depth * (math.log(t / 3) ** 2 - math.log(3) ** 2)

    assert shallow(3.0) < shallow(1.0)
    assert fit_temperature(shallow) == 1.0


def test_non_finite_values_count_as_worse():
    def curve(t: float) -> float:
        return math.nan if t < 0.2 else (math.log(t / 0.6)) ** 2

    assert fit_temperature(curve) == pytest.approx(0.6, rel=1e-3)

    def overflowing(t: float) -> float:  # nothing above T = 1.8, the minimum at 1.5
        return math.nan if t > 1.8 else (math.log(t / 1.5)) ** 2

    assert fit_temperature(overflowing) == pytest.approx(1.5, rel=1e-3)
    assert fit_temperature(lambda t: math.inf) == 1.0


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_the_temperature_that_generated_the_labels_is_found(true_t):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, 6, generator=generator) * 3
    gold = torch.multinomial(torch.softmax(logits / true_t, dim=-1), 1, generator=generator)[:, 0]
    found = fit_temperature(lambda t: float(softmax_nll(logits, gold, t).mean()))
    assert found == pytest.approx(true_t, rel=0.03)


# ---- after training ----


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory, tiny_model) -> Path:
    folder = tmp_path_factory.mktemp("calibrated")
    params = tiny_training_params(folder / "p.json", tiny_model, 3, batching={"batch_size": 16})
    arguments = demo_train_arguments(
        params,
        folder / "logs",
        "--seed",
        "3",
        "--threads",
        "2",
        "--override",
        "multiconer_demo.max_dev_sents=30",
    )
    assert main(arguments) == 0
    return only_run_dir(folder / "logs")


@pytest.fixture(scope="module")
def uncalibrated_run(tmp_path_factory, tiny_model) -> Path:
    folder = tmp_path_factory.mktemp("uncalibrated")
    params = tiny_training_params(folder / "p.json", tiny_model, 2, batching={"batch_size": 16})
    arguments = demo_train_arguments(
        params, folder / "logs", "--threads", "2", "--override", "training.calibrate=false"
    )
    assert main(arguments) == 0
    return only_run_dir(folder / "logs")


def test_training_stores_a_temperature_per_task_and_the_archive_verifies(calibrated_run):
    model_dir = calibrated_run / "model"
    manifest = json.loads((model_dir / MANIFEST).read_text())
    listed = manifest["files"][CALIBRATION_FILE]
    assert listed["sha256"] == file_sha256(model_dir / CALIBRATION_FILE)
    load_archive(model_dir)  # checks every listed file
    temperatures = read_calibration(model_dir)
    assert set(temperatures) == {"ner", "aux_ner"}
    stored = json.loads((model_dir / CALIBRATION_FILE).read_text())
    assert stored["format"] == "machamp-lite-calibration" and stored["version"] == 1
    ner = stored["tasks"]["ner"]
    assert ner["sentences"] == 30  # max_dev_sents of the demo's 80, as training scored
    assert stored["tasks"]["aux_ner"]["sentences"] == 50
    assert ner["fitted_on"] == [str(DEMO / "multiconer_demo_dev.conll")]
    log = (calibrated_run / "train.log").read_text()
    assert "calibration: task ner: temperature" in log
    assert "calibration: task aux_ner: temperature" in log


def test_the_fitted_temperature_lowers_the_dev_nll_of_the_trained_model(calibrated_run):
    model_dir = calibrated_run / "model"
    model, params, datasets, _, _ = load_archive(model_dir)
    sources = {
        name: ([config["dev_data_path"]], config.get("max_dev_sents", -1))
        for name, config in datasets.items()
    }
    scores = collect_scores(model, params, datasets, sources, torch.device("cpu"))
    stored = json.loads((model_dir / CALIBRATION_FILE).read_text())["tasks"]
    for task, temperature in read_calibration(model_dir).items():
        before, after = scores[task].nll(1.0), scores[task].nll(temperature)
        assert after <= before
        assert before == pytest.approx(stored[task]["nll_before"], rel=1e-6)
        assert after == pytest.approx(stored[task]["nll_after"], rel=1e-6)
        # and no temperature on a coarse grid does better than the fitted one (within 0.1%)
        grid = [scores[task].nll(t) for t in (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)]
        assert after <= min(grid) * 1.001


def test_training_calibrate_false_writes_no_calibration(uncalibrated_run):
    model_dir = uncalibrated_run / "model"
    assert not (model_dir / CALIBRATION_FILE).exists()
    assert CALIBRATION_FILE not in json.loads((model_dir / MANIFEST).read_text())["files"]
    assert read_calibration(model_dir) == {}
    assert "training.calibrate is false" in (uncalibrated_run / "train.log").read_text()


def test_calibrate_command_updates_the_archive_which_still_verifies(
    uncalibrated_run, tmp_path, capsys
):
    model_dir = tmp_path / "model"
    shutil.copytree(uncalibrated_run / "model", model_dir)
    before = json.loads((model_dir / MANIFEST).read_text())["files"]
    assert main(["calibrate", str(model_dir)]) == 0
    printed = capsys.readouterr().out
    assert "ner: temperature" in printed and "aux_ner: temperature" in printed
    load_archive(model_dir)
    assert set(read_calibration(model_dir)) == {"ner", "aux_ner"}
    after = json.loads((model_dir / MANIFEST).read_text())["files"]
    assert {k: v for k, v in after.items() if k != CALIBRATION_FILE} == before
    assert not list(tmp_path.glob(".model*"))  # no temporary or old folder left beside it

    # Another dataset's file for one task: that task is refitted, the other kept.
    stored = json.loads((model_dir / CALIBRATION_FILE).read_text())["tasks"]
    dev = DEMO / "aux_ner_dev.tsv"
    assert main(["calibrate", str(model_dir), "--dev", str(dev), "--dataset", "aux_demo"]) == 0
    assert "kept as calibrated before: ner" in capsys.readouterr().out
    again = json.loads((model_dir / CALIBRATION_FILE).read_text())["tasks"]
    assert again["ner"] == stored["ner"]
    assert again["aux_ner"]["fitted_on"] == [str(dev)] and again["aux_ner"]["sentences"] == 50
    load_archive(model_dir)


def test_dev_data_without_a_known_label_calibrates_nothing(uncalibrated_run, tmp_path, capsys):
    model_dir = tmp_path / "model"
    shutil.copytree(uncalibrated_run / "model", model_dir)
    unseen = write(tmp_path / "unseen.tsv", "foo\tB-NEWTYPE\nbar\tI-NEWTYPE\n\nbaz\tB-ZZZ\n")
    arguments = ["calibrate", str(model_dir), "--dev", str(unseen), "--dataset", "aux_demo"]
    assert main(arguments) == 0
    reason = "no dev sentence has a label the model was trained on"
    assert f"aux_ner: not calibrated ({reason})" in capsys.readouterr().out
    assert not (model_dir / CALIBRATION_FILE).exists()


def test_calibrate_command_refuses_bad_arguments_with_one_error(uncalibrated_run, tmp_path, capsys):
    model_dir = str(uncalibrated_run / "model")
    dev = str(DEMO / "aux_ner_dev.tsv")
    message = one_error(capsys, main(["calibrate", model_dir, "--dev", dev]))
    assert "several datasets" in message and "--dataset" in message
    message = one_error(capsys, main(["calibrate", model_dir, "--dataset", "nope"]))
    assert "unknown dataset" in message
    missing = str(tmp_path / "missing.tsv")
    message = one_error(
        capsys, main(["calibrate", model_dir, "--dev", missing, "--dataset", "aux_demo"])
    )
    assert missing in message and "not found" in message
    empty = write(tmp_path / "empty.tsv", "")
    message = one_error(
        capsys, main(["calibrate", model_dir, "--dev", str(empty), "--dataset", "aux_demo"])
    )
    assert str(empty) in message
    message = one_error(capsys, main(["calibrate", str(tmp_path)]))
    assert "not a machamp-lite model directory" in message
    assert not (uncalibrated_run / "model" / CALIBRATION_FILE).exists()


def test_a_model_with_dataset_embeddings_is_calibrated(tmp_path, tiny_model):
    params = tiny_training_params(tmp_path / "p.json", tiny_model, 1, batching={"batch_size": 16})
    embedded = ["--override", "multiconer_demo.dataset_embed_idx=-1", "--threads", "2"]
    assert main(demo_train_arguments(params, tmp_path / "logs", *embedded)) == 0
    model_dir = only_run_dir(tmp_path / "logs") / "model"
    datasets = json.loads((model_dir / "datasets.json").read_text())
    assert datasets["multiconer_demo"]["dataset_embed_idx"] == -1
    assert set(read_calibration(model_dir)) == {"ner", "aux_ner"}


def test_a_task_without_dev_data_is_named_and_the_others_are_calibrated(tmp_path, tiny_model):
    params = tiny_training_params(tmp_path / "p.json", tiny_model, 1, batching={"batch_size": 16})
    no_dev = ["--override", "aux_demo.dev_data_path=null", "--threads", "2"]
    assert main(demo_train_arguments(params, tmp_path / "logs", *no_dev)) == 0
    run = only_run_dir(tmp_path / "logs")
    assert set(read_calibration(run / "model")) == {"ner"}
    reason = "aux_ner (dataset 'aux_demo' has no dev_data_path)"
    assert f"calibration: not calibrated: {reason}" in (run / "train.log").read_text()


# ---- damaged files, interrupted writes ----


def calibration_content(tasks: dict) -> dict:
    return {"format": "machamp-lite-calibration", "version": 1, "tasks": tasks}


@pytest.mark.parametrize(
    ("tasks", "key"),
    [
        ({"ner": {"temperature": -1.0}}, "'tasks.ner.temperature'"),
        ({"ner": {"temperature": 0}}, "'tasks.ner.temperature'"),
        ({"ner": {"temperature": "2"}}, "'tasks.ner.temperature'"),
        ({"ner": {"temperature": math.nan}}, "'tasks.ner.temperature'"),
        ({"ner": {"temperature": True}}, "'tasks.ner.temperature'"),
        ({"ner": {}}, "'tasks.ner.temperature'"),
        ({"pos": {"temperature": 1.5}}, "'tasks.pos'"),
        ([], "'tasks'"),
    ],
)
def test_a_damaged_calibration_is_one_error_naming_the_file_and_key(
    calibrated_run, tmp_path, tasks, key
):
    model_dir = tmp_path / "model"
    shutil.copytree(calibrated_run / "model", model_dir)
    write_calibration(model_dir, calibration_content(tasks))  # listed, so the checksums pass
    with pytest.raises(ModelLoadError) as raised:
        read_calibration(model_dir)
    assert str(model_dir / CALIBRATION_FILE) in str(raised.value)
    assert key in str(raised.value)


def test_a_calibration_that_is_not_json_unlisted_or_edited_is_one_error(
    calibrated_run, uncalibrated_run, tmp_path
):
    model_dir = tmp_path / "model"
    shutil.copytree(calibrated_run / "model", model_dir)
    path = model_dir / CALIBRATION_FILE
    path.write_text('{"format": "machamp-lite-calibration", "tasks": {"ner": 1.')
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        read_calibration(model_dir)
    path.write_text(json.dumps(calibration_content({"ner": {"temperature": 9.0}})))
    with pytest.raises(ModelLoadError, match="changed since the model was saved"):
        read_calibration(model_dir)
    with pytest.raises(ModelLoadError, match="changed since the model was saved"):
        load_archive(model_dir)
    plain = tmp_path / "plain"
    shutil.copytree(uncalibrated_run / "model", plain)
    shutil.copy(path, plain / CALIBRATION_FILE)
    with pytest.raises(ModelLoadError, match="archive.json does not list it"):
        read_calibration(plain)


def test_recalibrating_replaces_a_damaged_calibration(calibrated_run, tmp_path, capsys):
    model_dir = tmp_path / "model"
    shutil.copytree(calibrated_run / "model", model_dir)
    write_calibration(model_dir, calibration_content({"ner": {"temperature": -3}}))
    assert main(["calibrate", str(model_dir)]) == 0
    assert set(read_calibration(model_dir)) == {"ner", "aux_ner"}


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_an_interrupted_write_leaves_the_old_archive_loadable(
    calibrated_run, tmp_path, monkeypatch, error
):
    model_dir = tmp_path / "model"
    shutil.copytree(calibrated_run / "model", model_dir)
    old = (model_dir / CALIBRATION_FILE).read_bytes()

    def swap_fails(tmp, target):
        raise error

    monkeypatch.setattr(machamp_lite.archive, "_swap_into_place", swap_fails)
    expected = ModelSaveError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as raised:
        write_calibration(model_dir, calibration_content({"ner": {"temperature": 2.0}}))
    if expected is ModelSaveError:
        assert "No space left on device" in str(raised.value)
        assert "unchanged" in str(raised.value)
    assert (model_dir / CALIBRATION_FILE).read_bytes() == old
    load_archive(model_dir)
    assert set(read_calibration(model_dir)) == {"ner", "aux_ner"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left


def test_a_full_disk_is_one_error_and_leaves_the_archive_as_it_was(calibrated_run, tmpfs, capsys):
    disk = tmpfs("2m")
    model_dir = disk / "model"
    shutil.copytree(calibrated_run / "model", model_dir)
    old = (model_dir / CALIBRATION_FILE).read_bytes()
    with open(disk / "filler", "wb", buffering=0) as filler:  # take every block left
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass
    message = one_error(capsys, main(["calibrate", str(model_dir)]))
    assert "No space left on device" in message and "unchanged" in message
    assert (model_dir / CALIBRATION_FILE).read_bytes() == old
    load_archive(model_dir)
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "model"]


def test_files_are_copied_where_hard_links_fail(calibrated_run, tmp_path, monkeypatch):
    model_dir = tmp_path / "model"
    shutil.copytree(calibrated_run / "model", model_dir)

    def no_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    write_calibration(model_dir, calibration_content({"ner": {"temperature": 2.0}}))
    load_archive(model_dir)
    assert read_calibration(model_dir) == {"ner": 2.0}


def test_a_failed_calibration_after_training_keeps_the_model(tmp_path, tiny_model, monkeypatch):
    import machamp_lite.calibration

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(machamp_lite.calibration, "calibrate_archive", broken)
    params = tiny_training_params(tmp_path / "p.json", tiny_model, 1, batching={"batch_size": 16})
    arguments = demo_train_arguments(params, tmp_path / "logs", "--threads", "2")
    with pytest.warns(UserWarning, match="calibration failed"):
        assert main(arguments) == 0
    run = only_run_dir(tmp_path / "logs")
    load_archive(run / "model")
    assert read_calibration(run / "model") == {}
    assert "simulated failure" in (run / "train.log").read_text()


# ---- tasks without probabilities ----

REVIEWS = [
    ("a wonderful warm film", "4.5", "pos"),
    ("dull and far too long", "1.0", "neg"),
    ("good acting , weak story", "3", "pos"),
    ("the best film of the year", "5", "pos"),
    ("a boring mess", "0.5", "neg"),
    ("fine for a rainy day", "2.75", "pos"),
]


def reviews_config(tmp_path: Path, tasks: dict) -> Path:
    train = write(tmp_path / "train.tsv", "".join("\t".join(r) + "\n" for r in REVIEWS * 2))
    dev = write(tmp_path / "dev.tsv", "".join("\t".join(r) + "\n" for r in REVIEWS[:4]))
    config = {"reviews": {"train_data_path": str(train), "dev_data_path": str(dev), "tasks": tasks}}
    return write(tmp_path / "reviews.json", json.dumps(config))


def test_a_model_whose_tasks_give_no_probabilities_is_reported_not_an_error(
    tmp_path, tiny_params, capsys
):
    config = reviews_config(tmp_path, {"rating": {"task_type": "regression", "column_idx": 1}})
    output = tmp_path / "logs"
    arguments = ["train", "--dataset_configs", str(config), "--parameters_config"]
    assert main([*arguments, str(tiny_params), "--output_dir", str(output)]) == 0
    run = only_run_dir(output)
    assert not (run / "model" / CALIBRATION_FILE).exists()
    reason = "rating (task type 'regression' gives no probabilities)"
    assert f"calibration: not calibrated: {reason}" in (run / "train.log").read_text()
    capsys.readouterr()
    assert main(["calibrate", str(run / "model")]) == 0
    printed = capsys.readouterr().out
    assert "rating: not calibrated (task type 'regression' gives no probabilities)" in printed
    assert "the model directory is unchanged" in printed
    assert not (run / "model" / CALIBRATION_FILE).exists()
    load_archive(run / "model")


def test_a_sentence_classifier_beside_a_regression_task_is_calibrated(tmp_path, tiny_params):
    tasks = {
        "rating": {"task_type": "regression", "column_idx": 1},
        "polarity": {"task_type": "classification", "column_idx": 2},
    }
    config = reviews_config(tmp_path, tasks)
    output = tmp_path / "logs"
    arguments = ["train", "--dataset_configs", str(config), "--parameters_config"]
    assert main([*arguments, str(tiny_params), "--output_dir", str(output)]) == 0
    model_dir = only_run_dir(output) / "model"
    assert set(read_calibration(model_dir)) == {"polarity"}
    report = calibrate_archive(model_dir, device="cpu")
    assert set(report["tasks"]) == {"polarity"} and set(report["skipped"]) == {"rating"}
    assert report["tasks"]["polarity"]["sentences"] == 4
    assert report["tasks"]["polarity"]["nll_after"] <= report["tasks"]["polarity"]["nll_before"]


def test_the_calibrate_key_is_a_documented_boolean_defaulting_to_true():
    from machamp_lite.config import default_params
    from machamp_lite.reference_keys import PARAM_DESCRIPTIONS

    assert default_params()["training"]["calibrate"] is True
    assert "training.calibrate" in PARAM_DESCRIPTIONS
