"""End to end through the real command line: train a two-task model (MultiCoNER-format main
task + tab-separated auxiliary NER), predict, evaluate, and load the archive again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from machamp_lite.cli import main
from machamp_lite.decoders.codecs import bio_label_problem
from machamp_lite.evaluation import evaluate_files
from machamp_lite.predict import Predictor

from conftest import DEMO, ROOT, demo_train_arguments, tiny_training_params


def only_run_dir(output_dir: Path) -> Path:
    runs = [p for p in output_dir.glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model) -> Path:
    """One CLI training run shared by the tests below (2 epochs on the demo data)."""
    folder = tmp_path_factory.mktemp("e2e")
    params = tiny_training_params(
        folder / "params.json", tiny_model, 3, batching={"batch_size": 16}
    )
    code = main(
        demo_train_arguments(
            params, folder / "logs", "--name", "e2e", "--seed", "3", "--threads", "2"
        )
    )
    assert code == 0
    return only_run_dir(folder / "logs")


def test_training_selects_the_epoch_with_the_best_summed_dev_f1(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    epochs = metrics["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    for record in epochs:
        assert set(record["dev"]) == {"multiconer_demo/ner", "aux_demo/aux_ner"}
        assert record["dev_sum"] == pytest.approx(
            record["dev"]["multiconer_demo/ner"]["micro"]["f1"]
            + record["dev"]["aux_demo/aux_ner"]["micro"]["f1"]
        )
    best = max(epochs, key=lambda e: (e["dev_sum"], -e["epoch"]))
    assert metrics["best_epoch"] == best["epoch"]
    assert metrics["best_dev_sum"] == best["dev_sum"]
    for key in ("training_seconds", "peak_rss_mb", "parameters", "device"):
        assert key in metrics
    assert (trained_run / "params.json").is_file() and (trained_run / "datasets.json").is_file()
    assert "best epoch" in (trained_run / "train.log").read_text()


def test_archive_has_one_shared_encoder_and_two_crf_decoders(trained_run):
    from safetensors import safe_open

    model_dir = trained_run / "model"
    with safe_open(str(model_dir / "model.safetensors"), "pt") as weights:
        names = list(weights.keys())
    assert any(n.startswith("encoder.transformer.") for n in names)
    assert any(n.startswith("decoders.ner.crf.") for n in names)
    assert any(n.startswith("decoders.aux_ner.crf.") for n in names)
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in model_dir.rglob("*"))
    vocabularies = json.loads((model_dir / "vocabularies.json").read_text())
    assert {"B-CW", "I-CW", "B-PER", "O"} <= set(vocabularies["ner"])
    assert {"B-ORG", "I-MISC"} <= set(vocabularies["aux_ner"])


def test_predict_writes_the_input_lines_with_valid_bio_labels(trained_run, tmp_path):
    source = DEMO / "multiconer_demo_dev.conll"
    output = tmp_path / "pred.conll"
    assert (
        main(
            [
                "predict",
                str(trained_run / "model"),
                str(source),
                str(output),
                "--dataset",
                "multiconer_demo",
            ]
        )
        == 0
    )
    gold_lines = source.read_text(encoding="utf-8").split("\n")
    pred_lines = output.read_text(encoding="utf-8").split("\n")
    assert len(gold_lines) == len(pred_lines)
    previous = "O"
    for gold, pred in zip(gold_lines, pred_lines):
        if not gold.strip() or gold.startswith("# id"):
            assert gold == pred
            previous = "O"
            continue
        assert gold.split()[:-1] == pred.split()[:-1]
        label = pred.split()[-1]
        assert bio_label_problem(label) is None
        assert not (label.startswith("I-") and previous[2:] != label[2:]), (previous, label)
        previous = label


def test_evaluate_on_predict_output_gives_the_f1_training_logged(trained_run, tmp_path, capsys):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    logged = metrics["best_dev"]["multiconer_demo/ner"]["micro"]["f1"]
    output = tmp_path / "pred.conll"
    main(
        [
            "predict",
            str(trained_run / "model"),
            str(DEMO / "multiconer_demo_dev.conll"),
            str(output),
            "--dataset",
            "multiconer_demo",
        ]
    )
    capsys.readouterr()
    assert main(["evaluate", str(DEMO / "multiconer_demo_dev.conll"), str(output), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["micro"]["f1"] == pytest.approx(logged, abs=1e-12)
    aux = evaluate_files(
        str(DEMO / "aux_ner_dev.tsv"),
        str(trained_run / "dev_predictions" / "aux_demo" / "aux_ner_dev.tsv"),
        label_column=1,
    )
    assert aux["micro"]["f1"] == pytest.approx(
        metrics["best_dev"]["aux_demo/aux_ner"]["micro"]["f1"]
    )


def test_archive_round_trip_gives_identical_predictions(trained_run, tmp_path):
    predictor = Predictor.load(trained_run / "model", device="cpu")
    output = tmp_path / "again.tsv"
    predictor.predict_file(str(DEMO / "aux_ner_dev.tsv"), str(output), dataset="aux_demo")
    written_in_training = trained_run / "dev_predictions" / "aux_demo" / "aux_ner_dev.tsv"
    assert output.read_bytes() == written_in_training.read_bytes()
    result = predictor.predict(
        [["anna", "works", "at", "kestrel", "in", "berlin"]], dataset="multiconer_demo"
    )
    assert len(result) == 1 and len(result[0]["ner"]) == 6


def test_labels_only_and_raw_text_outputs(trained_run, tmp_path):
    model = str(trained_run / "model")
    labels = tmp_path / "labels.txt"
    main(
        [
            "predict",
            model,
            str(DEMO / "multiconer_demo_dev.conll"),
            str(labels),
            "--dataset",
            "multiconer_demo",
            "--labels_only",
        ]
    )
    blocks = labels.read_text().strip("\n").split("\n\n")
    assert len(blocks) == 80
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "anna lives in berlin\n\nthe film la casa\u200b roja was good\n", encoding="utf-8"
    )
    out = tmp_path / "raw.tsv"
    assert (
        main(["predict", model, str(raw), str(out), "--dataset", "multiconer_demo", "--raw_text"])
        == 0
    )
    sentences = [b.split("\n") for b in out.read_text(encoding="utf-8").strip("\n").split("\n\n")]
    assert [[line.split("\t")[0] for line in s] for s in sentences] == [
        ["anna", "lives", "in", "berlin"],
        ["the", "film", "la", "casa\u200b", "roja", "was", "good"],
    ]


def test_predict_refuses_to_overwrite_its_input(trained_run, tmp_path, capsys):
    copy = tmp_path / "in.conll"
    copy.write_bytes((DEMO / "multiconer_demo_dev.conll").read_bytes())
    before = copy.read_bytes()
    assert (
        main(
            [
                "predict",
                str(trained_run / "model"),
                str(copy),
                str(copy),
                "--dataset",
                "multiconer_demo",
            ]
        )
        == 2
    )
    assert "input" in capsys.readouterr().err
    assert copy.read_bytes() == before


def test_console_script_reports_a_missing_model_as_one_clear_error(tmp_path):
    config = tmp_path / "p.json"
    config.write_text(json.dumps({"transformer_model": str(tmp_path / "no-such-model")}))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "machamp_lite",
            "train",
            "--dataset_configs",
            str(ROOT / "dataset_configs/demo.json"),
            "--parameters_config",
            str(config),
            "--data_dir",
            str(ROOT),
            "--output_dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "no-such-model" in result.stderr and "error:" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_predict_streams_in_chunks_and_keeps_every_line(trained_run, tmp_path, monkeypatch):
    predictor = Predictor.load(trained_run / "model", device="cpu")
    predictor.params["prediction"]["chunk_sentences"] = 7
    sizes: list[int] = []
    original = predictor.predict_sentences

    def recording(sentences, tasks, *dataset):
        sizes.append(len(sentences))
        return original(sentences, tasks, *dataset)

    monkeypatch.setattr(predictor, "predict_sentences", recording)
    source = DEMO / "multiconer_demo_dev.conll"
    output = tmp_path / "streamed.conll"
    assert predictor.predict_file(str(source), str(output), dataset="multiconer_demo") == 80
    assert sizes == [7] * 11 + [3]  # never more than one chunk of sentences at a time
    gold, pred = source.read_text().split("\n"), output.read_text().split("\n")
    assert len(gold) == len(pred)
    assert [g.split()[:-1] for g in gold] == [p.split()[:-1] for p in pred]
    assert all(bio_label_problem(p.split()[-1]) is None for p in pred if p and p[0] != "#")
