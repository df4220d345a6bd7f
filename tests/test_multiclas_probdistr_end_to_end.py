"""``multiclas`` and ``probdistr`` end to end with the real command line: ``machamp-lite train``
on data written here (the tiny BERT), ``machamp-lite predict`` on the dev file, the output read
back line by line and scored again, which must give the scores training reported. The
``probdistr`` run uses MaChAmp's ``configs/probdistr.json`` as written (``validation_data_path``,
``sent_idxs`` [1], ``column_idxs`` [5, 6]) apart from its paths, with a MaChAmp parameters file,
whose ``default_decoder`` metric ``accuracy`` is read as accuracy over the most likely column."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from machamp_lite.config import load_configs
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.decoders.codecs import split_labels
from machamp_lite.decoders.multiclas import MultiLabelClassifier
from machamp_lite.decoders.probdistr import DistributionClassifier
from machamp_lite.metrics.task_scores import score_task

from conftest import tiny_training_params, train_command, write

POSITIVE = ["great film", "lovely day", "what a joy", "nice work", "so good", "a fine song"]
NEGATIVE = ["bad film", "awful day", "so sad", "terrible work", "not good", "a dull song"]


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "machamp_lite", *arguments, "--device", "cpu"],
        capture_output=True,
        text=True,
        check=False,
    )


def train(config: Path, params: Path, output: Path) -> Path:
    """Train from the command line; the run directory."""
    done = subprocess.run(train_command(config, params, output), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [run] = (output / "run").iterdir()
    return run


def multiclas_rows(count: int) -> list[str]:
    """Sentence, label set (in no particular order), and a column that must survive."""
    rows = []
    for i in range(count):
        text = (POSITIVE if i % 2 == 0 else NEGATIVE)[i % 6]
        labels = ["text", "positive" if i % 2 == 0 else "negative"]
        if "film" in text or "work" in text:
            labels.append("review")
        rows.append(f"{text}\t{'|'.join(reversed(labels))}\tid{i}")
    return rows


@pytest.mark.slow
def test_multiclas_trains_predicts_and_scores_from_the_command_line(tmp_path, tiny_model):
    rows = multiclas_rows(48)
    train_file = write(tmp_path / "train.tsv", "\n".join(rows[:36]) + "\n")
    dev = write(tmp_path / "dev.tsv", "\n".join(rows[36:]) + "\n")
    config = write(
        tmp_path / "reviews.json",
        json.dumps(
            {
                "reviews": {
                    "train_data_path": str(train_file),
                    "dev_data_path": str(dev),
                    "sent_idxs": [0],
                    "tasks": {"tags": {"task_type": "multiclas", "column_idx": 1}},
                }
            }
        ),
    )
    params = tiny_training_params(
        tmp_path / "params.json", tiny_model, 4, batching={"batch_size": 8}
    )
    run = train(config, params, tmp_path / "logs")
    report = json.loads((run / "metrics.json").read_text())
    losses = [epoch["train_loss"] for epoch in report["epochs"]]
    assert losses[-1] < losses[0]  # it learns
    best = report["best_dev"]["reviews/tags"]
    assert best["total"] == 12 and "micro_f1" in best  # multi_acc, the default
    vocabulary = json.loads((run / "model" / "vocabularies.json").read_text())["tags"]
    assert vocabulary == ["negative", "positive", "review", "text"]

    output = tmp_path / "predicted.tsv"
    done = cli("predict", str(run / "model"), str(dev), str(output))
    assert done.returncode == 0, done.stderr
    gold_lines = dev.read_text().splitlines()
    lines = output.read_text().splitlines()
    assert len(lines) == len(gold_lines)
    predicted = []
    for ours, theirs in zip(lines, gold_lines):
        text, label, row_id = ours.split("\t")
        assert [text, row_id] == [theirs.split("\t")[0], theirs.split("\t")[2]]
        assert MultiLabelClassifier.codec.validate(label) is None
        assert set(split_labels(label)) <= set(vocabulary)
        predicted.append(label)
    # The best epoch's model, scored again on what predict wrote, gives what training reported.
    _, datasets = load_configs([str(config)], None)
    read_back = read_dataset_file(datasets["reviews"], str(output))
    assert [s.labels["tags"] for s in read_back] == predicted
    gold = [s.labels["tags"] for s in read_dataset_file(datasets["reviews"], str(dev))]
    rescored = score_task("multi_acc", [], gold, predicted)
    assert rescored == pytest.approx(best)


MACHAMP_PROBDISTR = """{
    "Example": {
        "train_data_path": "data/probdistr_train.tsv",
        "validation_data_path": "data/probdistr_dev.tsv",
        "sent_idxs": [1],
        "tasks": {
            "gender": {
                "task_type": "probdistr",
                "column_idxs": [5,6]
            }
        }
    }
}
"""


def distribution_rows(count: int) -> list[str]:
    """id, text, three other columns, P(first), P(second)."""
    rows = []
    for i in range(count):
        text = (POSITIVE if i % 2 == 0 else NEGATIVE)[i % 6]
        first = [0.9, 0.75, 0.8][i % 3] if i % 2 == 0 else [0.1, 0.25, 0.2][i % 3]
        rows.append(f"s{i}\t{text}\tA\tB\tC\t{first}\t{round(1 - first, 2)}")
    return rows


@pytest.mark.slow
def test_machamps_probdistr_config_trains_predicts_and_scores(tmp_path, tiny_model):
    rows = distribution_rows(48)
    train_file = write(tmp_path / "probdistr_train.tsv", "\n".join(rows[:36]) + "\n")
    dev = write(tmp_path / "probdistr_dev.tsv", "\n".join(rows[36:]) + "\n")
    config = write(
        tmp_path / "probdistr.json",
        MACHAMP_PROBDISTR.replace("data/probdistr_train.tsv", str(train_file)).replace(
            "data/probdistr_dev.tsv", str(dev)
        ),
    )
    params = write(
        tmp_path / "params.json",
        json.dumps(
            {
                "transformer_model": str(tiny_model),
                "encoder": {"max_input_length": 64},
                "decoders": {"default_decoder": {"metric": "accuracy"}},
                "batching": {"batch_size": 8},
                "training": {"num_epochs": 4, "optimizer": {"lr": 0.001, "decoder_lr": 0.01}},
            }
        ),
    )
    run = train(config, params, tmp_path / "logs")
    resolved = json.loads((run / "datasets.json").read_text())
    assert resolved["Example"]["tasks"]["gender"]["metric"] == "distribution_accuracy"
    report = json.loads((run / "metrics.json").read_text())
    best = report["best_dev"]["Example/gender"]
    assert best["total"] == 12 and best["kl"] >= 0 and 0 <= best["total_variation"] <= 1
    assert json.loads((run / "model" / "vocabularies.json").read_text())["gender"] == ["0", "1"]

    output = tmp_path / "predicted.tsv"
    done = cli("predict", str(run / "model"), str(dev), str(output))
    assert done.returncode == 0, done.stderr
    gold_lines = dev.read_text().splitlines()
    lines = output.read_text().splitlines()
    assert len(lines) == len(gold_lines)
    predicted = []
    for ours, theirs in zip(lines, gold_lines):
        fields, gold_fields = ours.split("\t"), theirs.split("\t")
        assert fields[:5] == gold_fields[:5] and len(fields) == 7
        label = "\t".join(fields[5:])
        assert DistributionClassifier.codec.validate(label) is None
        assert sum(map(float, fields[5:])) == pytest.approx(1.0, abs=1e-5)
        predicted.append(label)
    _, datasets = load_configs([str(config)], None)
    assert [s.labels["gender"] for s in read_dataset_file(datasets["Example"], str(output))] == (
        predicted
    )
    gold = ["\t".join(line.split("\t")[5:]) for line in gold_lines]
    rescored = score_task("distribution_accuracy", [], gold, predicted)
    # Six significant digits written: KL and total variation agree to about that.
    assert rescored == pytest.approx(best, abs=1e-4)

    # Unlabelled input (id and text only) gets the two columns added, and reads back.
    raw = write(tmp_path / "raw.tsv", "r1\tso good\nr2\tso sad\n")
    done = cli("predict", str(run / "model"), str(raw), str(tmp_path / "raw.out"))
    assert done.returncode == 0, done.stderr
    for line in (tmp_path / "raw.out").read_text().splitlines():
        fields = line.split("\t")
        assert len(fields) == 7 and fields[2:5] == ["", "", ""]
        assert DistributionClassifier.codec.validate("\t".join(fields[5:])) is None


def test_a_bad_row_stops_training_with_one_error_naming_file_and_line(tmp_path, tiny_model):
    rows = distribution_rows(6)
    rows[3] = rows[3].rsplit("\t", 1)[0] + "\t0.5"  # no longer sums to 1
    train_file = write(tmp_path / "train.tsv", "\n".join(rows) + "\n")
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(train_file),
                    "sent_idxs": [1],
                    "tasks": {"gender": {"task_type": "probdistr", "column_idxs": [5, 6]}},
                }
            }
        ),
    )
    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    output = tmp_path / "logs"
    done = subprocess.run(train_command(config, params, output), capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.tsv, line 4" in errors[0] and "sum to" in errors[0], errors
    assert not list(output.glob("run/*/model"))
