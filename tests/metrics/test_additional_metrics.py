"""A task's ``additional_metrics`` (MaChAmp's task key): scored beside the task's ``metric`` at
every dev evaluation, kept in metrics.json, never added to the dev sum; and the training labels
that MaChAmp's label F1 metrics follow, in MaChAmp's order."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from machamp_lite.cli import main
from machamp_lite.data.sentence import Sentence
from machamp_lite.metrics.task_scores import (
    ADDITIONAL_KEY,
    TrainingLabels,
    score_task,
    training_label_order,
)
from machamp_lite.registry import metrics

from conftest import tiny_training_params, write


def test_training_label_order_is_the_order_of_first_appearance():
    values = [["B", "A"], None, ["A", "C"], "D", ["B"]]
    assert training_label_order(values) == ["B", "A", "C", "D"]


def test_training_labels_follow_the_datasets_and_are_read_only_when_asked():
    first = SimpleNamespace(tasks=["t"], sentences=[Sentence(["x"], {"t": ["O"]})])
    second = SimpleNamespace(
        tasks=["t", "u"], sentences=[Sentence(["y", "z"], {"t": ["B", "O"], "u": "yes"})]
    )
    labels = TrainingLabels([first, second])
    assert labels.found == {}
    assert labels("t") == ["O", "B"] and labels("u") == ["yes"]


def test_score_task_keeps_the_main_result_and_adds_the_others_under_their_key():
    gold = [["a", "b", "b"]]
    predicted = [["a", "a", "b"]]
    plain = score_task("accuracy", [], gold, predicted)
    alone = metrics.get("accuracy")()
    alone.update(gold, predicted)
    assert plain == alone.compute() and plain["score"] == pytest.approx(2 / 3)
    asked = []

    def training_labels():
        asked.append(True)
        return ["b", "a"]

    extras = ["f1_micro", "f1_binary"]
    result = score_task("accuracy", extras, gold, predicted, "t", training_labels)
    assert {k: v for k, v in result.items() if k != ADDITIONAL_KEY} == plain
    extra = result[ADDITIONAL_KEY]
    assert list(extra) == ["f1_micro", "f1_binary"]
    assert extra["f1_micro"]["score"] == pytest.approx(2 / 3)
    # b is the first training label: tp 1, fp 0, fn 1.
    assert extra["f1_binary"]["positive_label"] == "b"
    assert extra["f1_binary"]["precision"] == 1.0 and extra["f1_binary"]["recall"] == 0.5
    assert asked == [True]  # only f1_binary asked for them


TAGGED_TRAIN = [
    [("Anna", "PROPN", "B-PER"), ("sings", "VERB", "O")],
    [("the", "DET", "O"), ("band", "NOUN", "O"), ("plays", "VERB", "O")],
    [("Oslo", "PROPN", "B-LOC"), ("sleeps", "VERB", "O")],
    [("a", "DET", "O"), ("cat", "NOUN", "O"), ("in", "ADP", "O"), ("Bergen", "PROPN", "B-LOC")],
]
TAGGED_DEV = [
    [("Anna", "PROPN", "B-PER"), ("plays", "VERB", "O")],
    [("the", "DET", "O"), ("cat", "NOUN", "O"), ("sings", "VERB", "O")],
]
# The training file starts with "neg": MaChAmp's positive label, though "pos" sorts last.
SENTIMENT_TRAIN = [
    ("a dull film", "neg"),
    ("a fine film", "pos"),
    ("the band plays well", "pos"),
    ("the cat sleeps badly", "neg"),
]
SENTIMENT_DEV = [("a fine band", "pos"), ("a dull cat", "neg"), ("Anna sings well", "pos")]


def tagged(sentences) -> str:
    return "\n".join("".join(f"{w}\t{p}\t{n}\n" for w, p, n in s) for s in sentences)


def classified(lines) -> str:
    return "".join(f"{text}\t{label}\n" for text, label in lines)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model) -> Path:
    folder = tmp_path_factory.mktemp("additional")
    config = {
        "tagging": {
            "train_data_path": str(write(folder / "tag_train.txt", tagged(TAGGED_TRAIN * 3))),
            "dev_data_path": str(write(folder / "tag_dev.txt", tagged(TAGGED_DEV))),
            "word_idx": 0,
            "tasks": {
                "pos": {
                    "task_type": "seq",
                    "column_idx": 1,
                    "additional_metrics": ["f1_macro", "f1_micro"],
                },
                "ner": {"task_type": "seq_bio", "column_idx": 2},
            },
        },
        "sentiment": {
            "train_data_path": str(write(folder / "s_train.tsv", classified(SENTIMENT_TRAIN * 3))),
            "dev_data_path": str(write(folder / "s_dev.tsv", classified(SENTIMENT_DEV))),
            "tasks": {
                "sentiment": {
                    "task_type": "classification",
                    "column_idx": 1,
                    "additional_metrics": ["f1_binary"],
                }
            },
        },
    }
    configs = write(folder / "datasets.json", json.dumps(config))
    params = tiny_training_params(folder / "params.json", tiny_model, 2, batching={"batch_size": 4})
    arguments = ["train", "--dataset_configs", str(configs), "--parameters_config", str(params)]
    arguments += ["--output_dir", str(folder / "logs"), "--seed", "5", "--threads", "2"]
    assert main(arguments) == 0
    (found,) = [p for p in (folder / "logs").glob("*/*") if p.is_dir()]
    return found


def test_every_dev_evaluation_reports_the_additional_metrics(run_dir):
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert len(summary["epochs"]) == 2
    for record in summary["epochs"]:
        dev = record["dev"]
        assert set(dev) == {"tagging/pos", "tagging/ner", "sentiment/sentiment"}
        assert ADDITIONAL_KEY not in dev["tagging/ner"]
        pos = dev["tagging/pos"][ADDITIONAL_KEY]
        assert list(pos) == ["f1_macro", "f1_micro"]
        # Micro F1 over words is the word accuracy, the task's main metric.
        assert pos["f1_micro"]["f1"] == pytest.approx(dev["tagging/pos"]["accuracy"])
        # The averaged labels are the training labels in order of first appearance, up to the
        # last one that occurs in the dev data: ADP, last in training and not in dev gold,
        # only when it is predicted.
        order = ["PROPN", "VERB", "DET", "NOUN", "ADP"]
        assert list(pos["f1_macro"]["per_label"]) in (order[:4], order)
        binary = dev["sentiment/sentiment"][ADDITIONAL_KEY]["f1_binary"]
        assert binary["positive_label"] == "neg"
    best = next(r for r in summary["epochs"] if r["epoch"] == summary["best_epoch"])
    assert summary["best_dev"] == best["dev"]


def test_the_dev_sum_adds_the_main_metrics_only(run_dir):
    for record in json.loads((run_dir / "metrics.json").read_text())["epochs"]:
        dev = record["dev"]
        assert record["dev_sum"] == pytest.approx(sum(result["score"] for result in dev.values()))
        extra = dev["tagging/pos"][ADDITIONAL_KEY]["f1_macro"]["score"]
        extra += dev["sentiment/sentiment"][ADDITIONAL_KEY]["f1_binary"]["score"]
        assert extra > 0  # so adding them would have changed the sum


def test_the_dev_predictions_give_the_reported_additional_scores(run_dir):
    """Score the written dev predictions of the best epoch by hand with the training order."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    written = [p for p in (run_dir / "dev_predictions" / "tagging").iterdir() if p.is_file()]
    assert len(written) == 1
    gold = [[p for _, p, _ in s] for s in TAGGED_DEV]
    blocks = written[0].read_text(encoding="utf-8").strip().split("\n\n")
    predicted = [[line.split("\t")[1] for line in block.splitlines()] for block in blocks]
    metric = metrics.get("f1_macro")()
    metric.use_training_labels(["PROPN", "VERB", "DET", "NOUN", "ADP"])
    metric.update(gold, predicted)
    reported = summary["best_dev"]["tagging/pos"][ADDITIONAL_KEY]["f1_macro"]
    assert reported == metric.compute()
