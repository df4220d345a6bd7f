"""prediction_confidence.py without a trained model: which settings are refused and why, which
tasks give probabilities, and how the top-n cells of each kind of task are written."""

from __future__ import annotations

import pytest

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.crf_tagger import CrfTagger
from machamp_lite.decoders.regression import Regressor
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.errors import ConfigError
from machamp_lite.prediction_confidence import (
    ConfidenceOptions,
    probability_tasks,
    written_value,
)


def decoders(**labels: list[str]) -> dict:
    made = {}
    for task, names in labels.items():
        cls = CrfTagger if task.startswith("ner") else SoftmaxTagger
        made[task] = cls(4, LabelVocabulary(names))
    return made


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"topn": 0}, "--topn 0"),
        ({"topn": True}, "--topn True"),
        ({"task_topn": {"ner": 0}}, "task ner: key 'topn' 0"),
        ({"min_confidence": -0.1}, "--min_confidence -0.1"),
        ({"min_confidence": float("inf")}, "--min_confidence inf"),
        ({"topn": 3, "min_confidence": 0.5}, "together"),
        ({"task_topn": {"ner": 2}, "min_confidence": 0.5}, "together"),
    ],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        ConfidenceOptions(**settings)


def test_the_flag_overrides_each_tasks_topn_key_and_temperatures_can_be_ignored():
    options = ConfidenceOptions(task_topn={"ner": 3, "pos": 1}, temperatures={"ner": 1.5})
    assert (options.topn_for("ner"), options.topn_for("pos"), options.largest_topn) == (3, 1, 3)
    assert ConfidenceOptions(topn=2, task_topn={"ner": 3}).topn_for("ner") == 2
    assert options.temperature("ner") == 1.5 and options.temperature("pos") == 1.0
    raw = ConfidenceOptions(calibrated=False, temperatures={"ner": 1.5})
    assert raw.temperature("ner") == 1.0


def test_which_tasks_give_probabilities_and_what_is_refused():
    found = {**decoders(ner=["O", "B-X", "I-X"], pos=["NOUN", "VERB"])}
    found["score"] = Regressor(4, LabelVocabulary([]))
    given, notes = probability_tasks(found, ["ner", "pos", "score"], ConfidenceOptions())
    assert given == ["ner", "pos"] and len(notes) == 1 and "score" in notes[0]
    with pytest.raises(ConfigError, match="no task of this dataset"):
        probability_tasks(found, ["score"], ConfidenceOptions())
    with pytest.raises(ConfigError, match="--min_confidence drops uncertain entities"):
        probability_tasks(found, ["pos"], ConfidenceOptions(min_confidence=0.5))
    feats = decoders(feats=["Case=Nom|Number=Sing", "_"])
    with pytest.raises(ConfigError, match="'Case=Nom\\|Number=Sing'"):
        probability_tasks(feats, ["feats"], ConfidenceOptions(topn=2))
    assert probability_tasks(feats, ["feats"], ConfidenceOptions())[0] == ["feats"]


def test_topn_cells_of_each_kind_of_task():
    sentence = {"label": "yes", "probability": 0.7, "topn": [["yes", 0.7], ["no", 0.3]]}
    assert written_value(sentence, 2) == "yes=0.7|no=0.3"
    assert written_value(sentence, 1) == "yes"
    words = {
        "labels": ["NOUN", "VERB"],
        "probabilities": [0.9, 0.6],
        "topn": [[["NOUN", 0.9], ["VERB", 0.1]], [["VERB", 0.6], ["NOUN", 0.4]]],
    }
    assert written_value(words, 2) == ["NOUN=0.9|VERB=0.1", "VERB=0.6|NOUN=0.4"]
    crf = {
        "labels": ["B-PER", "O"],
        "probabilities": [0.8, 0.9],
        "entities": [],
        "topn": [
            {"labels": ["B-PER", "O"], "probability": 0.5},
            {"labels": ["O", "O"], "probability": 0.25},
        ],
    }
    # The i-th pair of each word: its label in the i-th best sequence, that sequence's p.
    assert written_value(crf, 2) == ["B-PER=0.5|O=0.25", "O=0.5|O=0.25"]
