"""MaChAmp's avg_dist (mean absolute distance; score 1/avg_dist, as MaChAmp adds to its sum) and
perplexity, which scores only the mlm task type."""

from __future__ import annotations

import json

import pytest

from machamp_lite.config import load_dataset_configs
from machamp_lite.errors import ConfigError
from machamp_lite.registry import metrics

from conftest import write


def scores(name, gold, predicted):
    metric = metrics.get(name)()
    metric.update(gold, predicted)
    return metric.compute()


def test_avg_dist_is_the_mean_absolute_distance_and_scores_its_inverse():
    result = scores("avg_dist", ["1.0", "2.0", "4.0"], [1.5, 2.0, 3.0])
    assert result["avg_dist"] == pytest.approx(0.5)  # (0.5 + 0 + 1) / 3
    assert result["score"] == pytest.approx(2.0)
    assert result["total"] == 3


def test_avg_dist_lower_is_better_but_its_score_is_higher():
    closer = scores("avg_dist", ["1", "2"], ["1.1", "2.1"])
    farther = scores("avg_dist", ["1", "2"], ["2", "3"])
    assert closer["avg_dist"] < farther["avg_dist"] and closer["score"] > farther["score"]


def test_avg_dist_of_a_perfect_prediction_and_of_nothing():
    perfect = scores("avg_dist", ["0.5", "3"], [0.5, 3.0])
    assert perfect["avg_dist"] == 0.0 and perfect["score"] == 1e6
    empty = scores("avg_dist", [], [])
    assert empty == {"avg_dist": None, "score": 0.0, "total": 0}


def test_perplexity_is_registered_for_the_mlm_task_type():
    assert "perplexity" in metrics.names()  # tests/decoders/test_mlm.py checks its values


@pytest.mark.parametrize("key", ["metric", "additional_metrics"])
def test_a_dataset_config_naming_perplexity_fails_when_it_is_read(tmp_path, key):
    train = write(tmp_path / "t.txt", "a\tx\n")
    task = {"task_type": "seq", "column_idx": 1, key: ["perplexity"]}
    if key == "metric":
        task[key] = "perplexity"
    config = write(
        tmp_path / "d.json",
        json.dumps({"d": {"train_data_path": str(train), "tasks": {"t": task}}}),
    )
    with pytest.raises(ConfigError, match="'perplexity' scores the hidden tokens.*mlm") as caught:
        load_dataset_configs([str(config)])
    assert "registered metrics" not in str(caught.value)
