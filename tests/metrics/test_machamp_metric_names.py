"""MaChAmp's metric names that mean what a machamp-lite metric means are registered too, so a
MaChAmp dataset config's ``"metric"`` runs unchanged."""

from __future__ import annotations

import json

from machamp_lite.config import load_dataset_configs
from machamp_lite.registry import metrics

from conftest import write


def scores(name, gold, predicted):
    metric = metrics.get(name)()
    metric.update(gold, predicted)
    return metric.compute()


def test_uas_counts_heads_only_and_selects_by_them():
    gold = [["2\tnsubj", "0\troot", "2\tobj"]]
    predicted = [["2\tobj", "0\troot", "1\tobj"]]
    uas = scores("uas", gold, predicted)
    las = scores("las", gold, predicted)
    assert uas["uas"] == las["uas"] == 2 / 3 and uas["las"] == las["las"] == 1 / 3
    assert uas["score"] == 2 / 3 and las["score"] == 1 / 3


def test_multi_acc_is_multi_accuracy():
    gold = [["A|B", "_", "C"]]
    predicted = [["B|A", "C", "C"]]
    assert scores("multi_acc", gold, predicted) == scores("multi_accuracy", gold, predicted)
    assert scores("multi_acc", gold, predicted)["score"] == 2 / 3


def test_a_dataset_config_may_name_them(tmp_path):
    train = write(tmp_path / "t.txt", "a 1\tx\n")
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(train),
                    "tasks": {
                        "dep": {"task_type": "dependency", "column_idx": 1, "metric": "uas"},
                        "feats": {"task_type": "multiseq", "column_idx": 3, "metric": "multi_acc"},
                    },
                }
            }
        ),
    )
    loaded = load_dataset_configs([str(config)])["d"]
    assert loaded["tasks"]["dep"]["metric"] == "uas"
