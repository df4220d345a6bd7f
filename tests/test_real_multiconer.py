"""Real data with a real multilingual encoder: MultiCoNER files as distributed, read with the
XLM-R tokenizer of multilingual-e5-small, trained, predicted and scored."""

from __future__ import annotations

import json

import pytest

import machamp_lite
from machamp_lite.evaluation import evaluate_files

from conftest import SHARED_DATA, needs_shared_data, write

pytestmark = [pytest.mark.slow, needs_shared_data()]


def test_multiconer_with_multilingual_e5_small(tmp_path, real_models):
    base = SHARED_DATA / "multiconer2022"
    datasets = {
        "multiconer_en": {
            "train_data_path": "multiconer2022/EN-English/en_train.conll",
            "dev_data_path": "multiconer2022/EN-English/en_dev.conll",
            "max_sents": 150,
            "max_dev_sents": 150,
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        },
        "multiconer_mix": {
            "train_data_path": "multiconer2022/MIX_Code_mixed/mix_train.conll",
            "dev_data_path": "multiconer2022/MIX_Code_mixed/mix_dev.conll",
            "max_sents": 40,
            "max_dev_sents": 40,
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        },
    }
    config = write(tmp_path / "multiconer.json", json.dumps(datasets))
    params = write(
        tmp_path / "params.json",
        json.dumps(
            {
                "transformer_model": real_models["ME5_SMALL"],
                "training": {"num_epochs": 2},
            }
        ),
    )
    run = machamp_lite.train(
        [str(config)],
        str(params),
        output_dir=str(tmp_path / "logs"),
        data_dir=str(SHARED_DATA),
        threads=2,
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_dev"]["multiconer_en/ner"]["counts"]["gold"] > 0
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    # The archive predicts the double-blank-line mix file line for line, and scores as logged.
    source = base / "MIX_Code_mixed" / "mix_dev.conll"
    lines = source.read_text(encoding="utf-8").split("\n")
    cut = [i for i, line in enumerate(lines) if line.startswith("# id")][40]
    sample = write(tmp_path / "mix_sample.conll", "\n".join(lines[:cut]))
    predictor = machamp_lite.Predictor.load(run / "model", device="cpu")
    out = tmp_path / "mix_pred.conll"
    predictor.predict_file(str(sample), str(out), dataset="multiconer_mix")
    gold_lines = sample.read_text(encoding="utf-8").split("\n")
    pred_lines = out.read_text(encoding="utf-8").split("\n")
    assert len(gold_lines) == len(pred_lines)
    assert [g.split()[:1] for g in gold_lines] == [p.split()[:1] for p in pred_lines]
    scored = evaluate_files(str(sample), str(out))
    logged = metrics["best_dev"]["multiconer_mix/ner"]["micro"]["f1"]
    assert scored["micro"]["f1"] == pytest.approx(logged)
