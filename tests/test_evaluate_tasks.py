"""``machamp-lite evaluate GOLD PRED --dataset_config CFG`` (or ``--model``): both files read
with the dataset's reader, every task scored with its metric and additional metrics as
training scores dev data. Numbers worked out by hand per task type; a task type that writes
nothing to score is skipped; bad input is one error."""

from __future__ import annotations

import json

import pytest

from machamp_lite.cli import main
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.registry import decoders

from conftest import one_error, write


@decoders.register("seq_unscored_for_tests")
class UnscoredTagger(SoftmaxTagger):
    """A task type that says its predictions are not written, so files hold nothing of it."""

    scores_from_files = False


def conllu(rows: list[str]) -> str:
    return "\n".join("\t".join(row.split() + ["_", "_"]) for row in rows) + "\n\n"


UD_GOLD = conllu(
    [
        "1 Anna Anna PROPN _ Number=Sing 2 nsubj",
        "2 eats eat VERB _ Mood=Ind|Tense=Pres 0 root",
        "3 red red ADJ _ Degree=Pos 4 amod",
        "4 apples apple NOUN _ Number=Plur 2 obj",
    ]
)
# eats: lemma and feats wrong; red: UPOS and head wrong; apples: relation obj:foo, which the
# trainer's las compares whole (subtypes included), so it is wrong there.
UD_PRED = conllu(
    [
        "1 Anna Anna PROPN _ Number=Sing 2 nsubj",
        "2 eats eats VERB _ Mood=Ind 0 root",
        "3 red red NOUN _ Degree=Pos 2 amod",
        "4 apples apple NOUN _ Number=Plur 2 obj:foo",
    ]
)
UD_CONFIG = {
    "ud": {
        "train_data_path": "train.conllu",
        "word_idx": 1,
        "tasks": {
            "upos": {"task_type": "seq", "column_idx": 3},
            "lemma": {"task_type": "string2string", "column_idx": 2},
            "feats": {"task_type": "multiseq", "column_idx": 5},
            "dependency": {
                "task_type": "dependency",
                "column_idx": 6,
                "additional_metrics": ["uas"],
            },
        },
    }
}

# seq_bio beside a sentence label in a comment (MaChAmp's NLU layout)
NER_GOLD = (
    "# intent: greet\nhello\tO\nanna\tB-PER\n\n# intent: bye\nbye\tO\nbo\tB-PER\nberg\tI-PER\n"
)
NER_PRED = "# intent: greet\nhello\tO\nanna\tB-PER\n\n# intent: greet\nbye\tO\nbo\tB-PER\nberg\tO\n"
NER_CONFIG = {
    "ner": {
        "train_data_path": "train.conll",
        "tasks": {
            "ner": {"task_type": "seq_bio", "column_idx": 1},
            "intent": {"task_type": "classification", "column_idx": -1},
        },
    }
}

STS_GOLD = "a b\t1.0\nc d\t2.0\ne f\t3.0\n"
STS_PRED = "a b\t1.5\nc d\t2.0\ne f\t2.0\n"
STS_CONFIG = {
    "sts": {
        "train_data_path": "train.tsv",
        "sent_idxs": [0],
        "tasks": {
            "sim": {
                "task_type": "regression",
                "column_idx": 1,
                "additional_metrics": ["pearson", "avg_dist"],
            }
        },
    }
}


def setup(tmp_path, config, gold, pred, gold_name="gold.txt", pred_name="pred.txt"):
    return (
        str(write(tmp_path / "config.json", json.dumps(config))),
        str(write(tmp_path / gold_name, gold)),
        str(write(tmp_path / pred_name, pred)),
    )


def run_json(capsys, *argv):
    code = main(["evaluate", *argv, "--json"])
    captured = capsys.readouterr()
    assert code in (0, None), captured.err
    return json.loads(captured.out)


def test_ud_tasks_seq_string2string_multiseq_dependency(tmp_path, capsys):
    config, gold, pred = setup(tmp_path, UD_CONFIG, UD_GOLD, UD_PRED, "gold.conllu")
    report = run_json(capsys, gold, pred, "--dataset_config", config)
    tasks = report["tasks"]
    assert tasks["upos"]["metric"] == "accuracy" and tasks["upos"]["result"]["score"] == 0.75
    assert tasks["lemma"]["result"]["score"] == 0.75
    assert tasks["feats"]["metric"] == "multi_accuracy"
    assert tasks["feats"]["result"]["score"] == 0.75
    # las: red (head) and apples (obj:foo is not obj) wrong; uas: red only
    assert tasks["dependency"]["metric"] == "las"
    assert tasks["dependency"]["result"]["score"] == 0.5
    assert tasks["dependency"]["result"]["additional_metrics"]["uas"]["score"] == 0.75
    assert report["sum"] == pytest.approx(2.75)
    assert report["skipped"] == {} and report["sentences"] == 1


def test_seq_bio_and_classification_and_the_table(tmp_path, capsys):
    config, gold, pred = setup(tmp_path, NER_CONFIG, NER_GOLD, NER_PRED)
    report = run_json(capsys, gold, pred, "--dataset_config", config)
    # chunks: gold anna, "bo berg"; predicted anna, bo: 1 of 2 each way
    assert report["tasks"]["ner"]["metric"] == "span_f1"
    assert report["tasks"]["ner"]["result"]["score"] == 0.5
    assert report["tasks"]["intent"]["result"]["score"] == 0.5
    main(["evaluate", gold, pred, "--dataset_config", config])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["intent", "classification", "accuracy", "0.5000"]
    assert lines[3].split() == ["ner", "seq_bio", "span_f1", "0.5000"]
    assert lines[4].split() == ["sum", "1.0000"]
    assert any(line.startswith("ner span_f1: micro.precision 0.5000") for line in lines)


def test_regression_with_additional_metrics(tmp_path, capsys):
    config, gold, pred = setup(tmp_path, STS_CONFIG, STS_GOLD, STS_PRED)
    result = run_json(capsys, gold, pred, "--dataset_config", config)["tasks"]["sim"]["result"]
    # errors 0.5, 0, 1: mse 1.25 / 3 (score is its negative), mean distance 0.5 (score 1 / 0.5)
    assert result["score"] == pytest.approx(-1.25 / 3)
    # pearson of (1, 2, 3) and (1.5, 2, 2): covariance 0.5 / sqrt(2 * 1/6)
    assert result["additional_metrics"]["pearson"]["score"] == pytest.approx(0.5 / (1 / 3) ** 0.5)
    assert result["additional_metrics"]["avg_dist"]["score"] == pytest.approx(2.0)


def test_a_task_type_without_file_predictions_is_skipped_with_a_note(tmp_path, capsys):
    config = {
        "ud": {
            "train_data_path": "train.conllu",
            "word_idx": 1,
            "tasks": {
                "upos": {"task_type": "seq", "column_idx": 3},
                "hidden": {"task_type": "seq_unscored_for_tests", "column_idx": 4},
            },
        }
    }
    config, gold, pred = setup(tmp_path, config, UD_GOLD, UD_PRED, "gold.conllu")
    report = run_json(capsys, gold, pred, "--dataset_config", config)
    assert list(report["tasks"]) == ["upos"] and report["sum"] == 0.75
    assert "writes nothing into prediction files" in report["skipped"]["hidden"]
    main(["evaluate", gold, pred, "--dataset_config", config])
    assert "skipped task 'hidden'" in capsys.readouterr().out
    # a dataset of such tasks only has nothing to score: one error
    only = {"ud": {**json.loads(open(config).read())["ud"]}}
    only["ud"]["tasks"] = {"hidden": {"task_type": "seq_unscored_for_tests", "column_idx": 4}}
    write(tmp_path / "only.json", json.dumps(only))
    code = main(["evaluate", gold, pred, "--dataset_config", str(tmp_path / "only.json")])
    assert "none of its tasks can be scored" in one_error(capsys, code)


def test_training_labels_from_the_training_file_else_a_note(tmp_path, capsys):
    config = {"ner": {**NER_CONFIG["ner"]}}
    config["ner"]["tasks"] = {
        "ner": {"task_type": "seq_bio", "column_idx": 1},
        "intent": {"task_type": "classification", "column_idx": -1, "metric": "f1_macro"},
    }
    config_path, gold, pred = setup(tmp_path, config, NER_GOLD, NER_PRED)
    without = run_json(capsys, gold, pred, "--dataset_config", config_path)
    assert "training file" in without["notes"][0]
    # gold greet, bye; predicted greet, greet: F1 greet 2/3, bye 0 -> macro 1/3
    assert without["tasks"]["intent"]["result"]["score"] == pytest.approx(1 / 3)
    # The training labels in order: away, greet, bye. MaChAmp's f1_macro averages over them up
    # to the last one found in gold or prediction, so "away" (never found) counts as F1 0:
    # (0 + 2/3 + 0) / 3.
    config["ner"]["train_data_path"] = str(
        write(tmp_path / "train.conll", "# intent: away\nx\tO\n\n" + NER_GOLD)
    )
    write(tmp_path / "config.json", json.dumps(config))
    with_file = run_json(capsys, gold, pred, "--dataset_config", config_path)
    assert with_file["notes"] == []
    assert with_file["tasks"]["intent"]["result"]["score"] == pytest.approx(2 / 9)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "nope"], "--dataset 'nope': "),
        (["--label_column", "3"], "--label_column cannot go with --dataset_config"),
        (["--compare"], "--compare cannot go with"),
        (["--model", "x"], "not both"),
    ],
)
def test_option_errors(tmp_path, capsys, extra, message):
    config, gold, pred = setup(tmp_path, UD_CONFIG, UD_GOLD, UD_PRED, "gold.conllu")
    code = main(["evaluate", gold, pred, "--dataset_config", config, *extra])
    assert message in one_error(capsys, code)


def test_dataset_without_config_and_several_datasets(tmp_path, capsys):
    config, gold, pred = setup(tmp_path, {**UD_CONFIG, **NER_CONFIG}, UD_GOLD, UD_PRED, "g.conllu")
    code = main(["evaluate", gold, pred, "--dataset_config", config])
    assert "name the one whose files these are with --dataset NAME" in one_error(capsys, code)
    report = run_json(capsys, gold, pred, "--dataset_config", config, "--dataset", "ud")
    assert report["dataset"] == "ud"
    code = main(["evaluate", gold, pred, "--dataset", "ud"])
    assert "--dataset goes with --dataset_config" in one_error(capsys, code)
    code = main(["evaluate", gold, pred, "--plugins", "os"])
    assert "--plugins goes with --dataset_config" in one_error(capsys, code)
    code = main(["evaluate", gold, pred, gold, pred, "--dataset_config", config])
    assert "one GOLD PRED pair, got 4 files" in one_error(capsys, code)


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        # the lemma column missing: nine columns; the reader names the file and the sentence
        (UD_PRED.replace("\tapple\tNOUN", "\tNOUN"), "pred.conllu, line 1: not valid CoNLL-U"),
        # another word: not aligned
        (UD_PRED.replace("\tred\tred", "\tblue\tred"), "token 'blue' differs from 'red'"),
        # a sentence short
        ("\n".join(UD_PRED.splitlines()[:3]) + "\n", "the sentence ends here"),
        # a head that is not a number
        (UD_PRED.replace("\t2\tnsubj", "\tx\tnsubj"), "pred.conllu, line 1"),
        ("", "file is empty"),
    ],
)
def test_bad_prediction_is_one_error(tmp_path, capsys, pred, message):
    config, gold, pred_path = setup(tmp_path, UD_CONFIG, UD_GOLD, pred, "g.conllu", "pred.conllu")
    code = main(["evaluate", gold, pred_path, "--dataset_config", config])
    assert message in one_error(capsys, code)


def test_unknown_config_file_and_bad_model_folder(tmp_path, capsys):
    gold = str(write(tmp_path / "g.conllu", UD_GOLD))
    code = main(["evaluate", gold, gold, "--dataset_config", str(tmp_path / "missing.json")])
    assert "missing.json" in one_error(capsys, code)
    code = main(["evaluate", gold, gold, "--model", str(tmp_path)])
    assert "not a machamp-lite model directory" in one_error(capsys, code)


@pytest.mark.slow
def test_model_folder_gives_the_dataset_and_the_training_scores(tmp_path, capsys, params):
    """Scoring a run's dev predictions with --model reproduces the dev scores training logged."""
    import machamp_lite

    train = write(tmp_path / "train.conll", (NER_GOLD + "\n") * 4)
    dev = write(tmp_path / "dev.conll", NER_GOLD)
    config = {
        "ner": {
            **NER_CONFIG["ner"],
            "train_data_path": str(train),
            "dev_data_path": str(dev),
        }
    }
    config["ner"]["tasks"]["intent"]["additional_metrics"] = ["f1_macro"]
    config_path = write(tmp_path / "config.json", json.dumps(config))
    run = machamp_lite.train([str(config_path)], str(params), output_dir=str(tmp_path / "logs"))
    predictions = list((run / "dev_predictions" / "ner").iterdir())
    assert len(predictions) == 1
    report = run_json(capsys, str(dev), str(predictions[0]), "--model", str(run / "model"))
    logged = json.loads((run / "metrics.json").read_text())["best_dev"]
    for task in ("ner", "intent"):
        assert report["tasks"][task]["result"]["score"] == pytest.approx(
            logged[f"ner/{task}"]["score"]
        )
    extra = report["tasks"]["intent"]["result"]["additional_metrics"]["f1_macro"]
    assert extra == logged["ner/intent"]["additional_metrics"]["f1_macro"]
    # a model folder whose datasets.json was changed is refused (its checksum), in one error
    datasets = run / "model" / "datasets.json"
    datasets.write_text(datasets.read_text().replace('"seq_bio"', '"seq"'))
    code = main(["evaluate", str(dev), str(predictions[0]), "--model", str(run / "model")])
    assert "datasets.json" in one_error(capsys, code)
