"""Sentence labels in comments beside word-level tasks (MaChAmp's ``configs/nlu.json``): a
sentence-level task with ``column_idx`` -1 in a file of one word per line reads its label from
the comment ``# TASK: LABEL`` before the sentence, and predictions go back into it."""

from __future__ import annotations

import json

import pytest

from machamp_lite.config import load_dataset_configs
from machamp_lite.data import writers
from machamp_lite.data.comment_labels import new_comment, value_of, with_value
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.errors import DataError

from conftest import write

# xSID 0.3 as MaChAmp's nlu.json reads it: ID, word, intent, slot; word_idx 1, slots column 3.
XSID = (
    "# id: 0\n"
    "# text: wake me up at five\n"
    "# intent: alarm/set_alarm\n"
    "1\twake\talarm/set_alarm\tO\n"
    "2\tme\talarm/set_alarm\tO\n"
    "3\tup\talarm/set_alarm\tO\n"
    "4\tat\talarm/set_alarm\tB-datetime\n"
    "5\tfive\talarm/set_alarm\tI-datetime\n"
    "\n"
    "# id: 1\n"
    "# text: is it raining in Oslo\n"
    "# intent: weather/find\n"
    "1\tis\tweather/find\tO\n"
    "2\tit\tweather/find\tO\n"
    "3\training\tweather/find\tB-weather/attribute\n"
    "4\tin\tweather/find\tO\n"
    "5\tOslo\tweather/find\tB-location\n"
    "\n"
)

NLU_TASKS = {
    "slots": {"task_type": "seq", "column_idx": 3},
    "intent": {"task_type": "classification", "column_idx": -1},
}


def nlu(tmp_path, data: str, name: str = "en.train.conll", **keys) -> tuple[dict, str]:
    """MaChAmp's nlu.json over ``data``: the loaded dataset config and the data file."""
    path = write(tmp_path / name, data)
    config = {"NLU": {"train_data_path": str(path), "word_idx": 1, "tasks": NLU_TASKS, **keys}}
    loaded = load_dataset_configs([str(write(tmp_path / "nlu.json", json.dumps(config)))])
    return loaded["NLU"], str(path)


def test_the_intent_comes_from_its_comment_and_the_slots_from_their_column(tmp_path):
    config, path = nlu(tmp_path, XSID)
    first, second = read_dataset_file(config, path)
    assert first.words == ["wake", "me", "up", "at", "five"]
    assert first.labels == {
        "slots": ["O", "O", "O", "B-datetime", "I-datetime"],
        "intent": "alarm/set_alarm",
    }
    assert second.labels["intent"] == "weather/find"
    assert (first.comment_lines, first.start_line) == ([1, 2, 3], 1)
    assert (second.comment_lines, second.line_numbers[0]) == ([10, 11, 12], 13)


def test_the_equals_form_and_the_last_of_two_comments(tmp_path):
    """xSID 0.6 writes ``# intent = X``; where two comments give the label the last wins, as in
    MaChAmp, and ``# intent_score`` is another key."""
    data = (
        "# intent = first\n# intent_score = 0.9\n#intent:second\n1\thi\tx\tO\n\n"
        "# intent = greet\n1\thello\tx\tO\n"
    )
    config, path = nlu(tmp_path, data)
    assert [s.labels["intent"] for s in read_dataset_file(config, path)] == ["second", "greet"]


def test_a_configured_comment_regex_does_not_hide_the_tasks_comment(tmp_path):
    """The issue's traceback: with comments configured, the intent comment still holds the
    label (the config names it, whatever the regex)."""
    config, path = nlu(tmp_path, XSID, comment_regex=r"^# (id|text):")
    assert [s.labels["intent"] for s in read_dataset_file(config, path)] == [
        "alarm/set_alarm",
        "weather/find",
    ]


def test_a_sentence_without_the_comment_is_an_error_at_its_first_word(tmp_path):
    data = XSID.replace("# intent: weather/find\n", "")
    config, path = nlu(tmp_path, data)
    with pytest.raises(DataError) as error:
        read_dataset_file(config, path)
    assert error.value.path == path and error.value.line == 12
    assert "task 'intent'" in str(error.value) and "'# intent: LABEL'" in str(error.value)


def test_a_comment_without_a_label_is_an_error_at_its_line(tmp_path):
    config, path = nlu(tmp_path, XSID.replace("# intent: weather/find", "# intent: "))
    with pytest.raises(DataError, match=r"line 12: the comment of task 'intent' has no label"):
        read_dataset_file(config, path)


def test_prediction_needs_no_comment(tmp_path):
    config, path = nlu(tmp_path, "1\thi\n2\tyou\n")
    [sentence] = read_dataset_file(config, path, require_labels=False)
    assert sentence.labels == {} and sentence.words == ["hi", "you"]


def test_comment_values_are_read_and_replaced_in_place():
    assert value_of("# intent: a/b\tc", "intent") == "a/b"
    assert value_of("#intent =  x ", "intent") == "x"
    assert value_of("# intents: x", "intent") is None
    assert value_of("# text: intent: x", "intent") is None
    assert with_value("# intent:  old\tkeep", "intent", "new") == "# intent:  new\tkeep"
    assert with_value("# intent = old", "intent", "new") == "# intent = new"
    assert new_comment("intent", "new") == "# intent = new"


def test_predictions_go_into_the_comment_they_were_read_from(tmp_path):
    config, path = nlu(tmp_path, XSID)
    sentences = read_dataset_file(config, path, require_labels=False)
    target = tmp_path / "out.conll"
    slots = [["O"] * 5, ["O", "O", "O", "O", "B-location"]]
    predicted = {"slots": slots, "intent": ["alarm/snooze", "weather/find"]}
    writers.write_predictions(config, path, str(target), sentences, predicted)
    expected = XSID.replace("# intent: alarm/set_alarm", "# intent: alarm/snooze")
    expected = expected.replace("\tB-datetime\n", "\tO\n").replace("\tI-datetime\n", "\tO\n")
    expected = expected.replace("\tB-weather/attribute\n", "\tO\n")
    assert target.read_text(encoding="utf-8") == expected
    # Read back, the output gives the predictions.
    again = read_dataset_file(config, str(target))
    assert [s.labels["intent"] for s in again] == ["alarm/snooze", "weather/find"]
    assert [s.labels["slots"] for s in again] == slots


def test_a_sentence_without_a_comment_gets_one_after_its_other_comments(tmp_path):
    data = "# id: 7\n1\thi\t_\n2\tyou\t_\n\n1\tbye\t_\n"
    config, path = nlu(tmp_path, data)
    sentences = read_dataset_file(config, path, require_labels=False)
    target = tmp_path / "out.conll"
    predicted = {"slots": [["O", "O"], ["B-x"]], "intent": ["greet", "leave"]}
    writers.write_predictions(config, path, str(target), sentences, predicted)
    assert target.read_text(encoding="utf-8") == (
        "# id: 7\n# intent = greet\n1\thi\t_\tO\n2\tyou\t_\tO\n\n# intent = leave\n1\tbye\t_\tB-x\n"
    )
    again = read_dataset_file(config, str(target))
    assert [s.labels["intent"] for s in again] == ["greet", "leave"]


def test_conllu_reads_and_writes_a_sentence_label_comment_too(tmp_path):
    """In CoNLL-U the label comment sits among the others; a sentence without one gets it after
    them, never between a multiword token and its words."""
    data = (
        "# sent_id = 1\n# genre = news\n# text = Hi.\n"
        "1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\tSpaceAfter=No\n"
        "2\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_\n\n"
        "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tde\tde\tADP\t_\t_\t2\tcase\t_\t_\n"
        "2\tle\tle\tDET\t_\t_\t0\troot\t_\t_\n\n"
    )
    path = write(tmp_path / "genre.conllu", data)
    tasks = {
        "upos": {"task_type": "seq", "column_idx": 3},
        "genre": {"task_type": "classification", "column_idx": -1},
    }
    config = {"G": {"train_data_path": str(path), "tasks": tasks}}
    loaded = load_dataset_configs([str(write(tmp_path / "g.json", json.dumps(config)))])["G"]
    with pytest.raises(DataError, match=r"genre\.conllu, line 8: task 'genre'"):
        read_dataset_file(loaded, str(path))
    sentences = read_dataset_file(loaded, str(path), require_labels=False)
    assert [s.start_line for s in sentences] == [1, 7]
    target = tmp_path / "out.conllu"
    predicted = {"upos": [["X", "Y"], ["Z", "W"]], "genre": ["blog", "wiki"]}
    writers.write_predictions(loaded, str(path), str(target), sentences, predicted)
    lines = target.read_text(encoding="utf-8").split("\n")
    assert lines[:3] == ["# sent_id = 1", "# genre = blog", "# text = Hi."]
    assert lines[6:10] == [
        "# genre = wiki",
        "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_",
        "1\tde\tde\tZ\t_\t_\t2\tcase\t_\t_",
        "2\tle\tle\tW\t_\t_\t0\troot\t_\t_",
    ]
    again = read_dataset_file(loaded, str(target))
    assert [s.labels["genre"] for s in again] == ["blog", "wiki"]
