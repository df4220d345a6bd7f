"""MaChAmp's dataset keys that change what is read: ``validation_data_path`` (another name of
``dev_data_path``), ``skip_first_line`` (a header row) and ``max_words`` (a word budget for a
training file), each with MaChAmp's meaning, and refused where it cannot apply."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from machamp_lite.config import load_dataset_configs
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.errors import ConfigError, DataError

from conftest import ROOT, train_command, write

TOKENS = "anna B-PER\nlives O\nin O\nberlin B-LOC\n\nmax B-PER\nsleeps O\n\nbob B-PER\n\n"
TSV_WITH_HEADER = "text\tlabel\nanna lives here\tpos\nbob sleeps\tneg\nthe end\tpos\n"


def dataset(tmp_path, name="d", **keys):
    train = keys.pop("train", write(tmp_path / "train.txt", TOKENS))
    tasks = keys.pop("tasks", {"ner": {"task_type": "seq_bio", "column_idx": 1}})
    config = write(
        tmp_path / f"{name}.json",
        json.dumps({name: {"train_data_path": str(train), "tasks": tasks, **keys}}),
    )
    return load_dataset_configs([str(config)])[name], str(train)


def test_validation_data_path_is_read_as_the_dev_data_path(tmp_path):
    dev = write(tmp_path / "dev.txt", TOKENS)
    loaded, _ = dataset(tmp_path, validation_data_path=str(dev))
    assert loaded["dev_data_path"] == str(dev)
    assert "validation_data_path" not in loaded


def test_validation_and_dev_data_path_together_are_one_error(tmp_path):
    with pytest.raises(ConfigError, match="'validation_data_path' and 'dev_data_path' name"):
        dataset(tmp_path, validation_data_path="a.txt", dev_data_path="b.txt")


def test_max_words_keeps_the_sentences_that_fit_and_drops_the_one_that_crosses(tmp_path):
    # 4 + 2 + 1 words: a budget of 6 keeps two sentences, 7 keeps all three, 5 keeps one.
    for budget, kept in ((5, 1), (6, 2), (7, 3), (-1, 3)):
        loaded, train = dataset(tmp_path, max_words=budget)
        assert len(read_dataset_file(loaded, train)) == kept, budget
    # Dev and prediction files are never cut (limit given, as the trainer and predict do).
    loaded, train = dataset(tmp_path, max_words=5)
    assert len(read_dataset_file(loaded, train, limit=-1)) == 3


def test_max_words_after_max_sents(tmp_path):
    loaded, train = dataset(tmp_path, max_words=100, max_sents=2)
    assert len(read_dataset_file(loaded, train)) == 2


def test_max_words_that_keeps_nothing_or_counts_no_words_is_refused(tmp_path):
    loaded, train = dataset(tmp_path, max_words=3)
    with pytest.raises(DataError, match="keeps no sentence: the first has 4 words"):
        read_dataset_file(loaded, train)
    tsv = write(tmp_path / "s.tsv", "a b\tpos\n")
    loaded, _ = dataset(
        tmp_path,
        train=tsv,
        max_words=3,
        tasks={"label": {"task_type": "classification", "column_idx": 1}},
    )
    with pytest.raises(ConfigError, match="only sentence-level ones; use max_sents"):
        read_dataset_file(loaded, str(tsv))
    with pytest.raises(ConfigError, match=r"'max_words' must be -1 \(every word\) or at least 1"):
        dataset(tmp_path, max_words=0)


def test_skip_first_line_skips_a_header_row_in_both_formats(tmp_path):
    tsv = write(tmp_path / "s.tsv", TSV_WITH_HEADER)
    tasks = {"label": {"task_type": "classification", "column_idx": 1}}
    loaded, _ = dataset(tmp_path, train=tsv, tasks=tasks, skip_first_line=True)
    sentences = read_dataset_file(loaded, str(tsv))
    assert [s.labels["label"] for s in sentences] == ["pos", "neg", "pos"]
    assert sentences[0].line_numbers[0] == 2
    # Without the key the header is data, and "label" becomes a label.
    loaded, _ = dataset(tmp_path, train=tsv, tasks=tasks)
    assert read_dataset_file(loaded, str(tsv))[0].labels["label"] == "label"

    columns = write(tmp_path / "c.txt", "word tag\n" + TOKENS)
    loaded, _ = dataset(tmp_path, train=columns, skip_first_line=True)
    sentences = read_dataset_file(loaded, str(columns))
    assert [s.words for s in sentences] == [
        ["anna", "lives", "in", "berlin"],
        ["max", "sleeps"],
        ["bob"],
    ]


def test_skip_first_line_with_a_reader_that_reads_no_header_is_refused(tmp_path):
    conllu = write(tmp_path / "t.conllu", "1\tanna\t_\t_\t_\t_\t0\troot\t_\t_\n\n")
    tasks = {"dep": {"task_type": "dependency", "column_idx": 6}}
    loaded, _ = dataset(tmp_path, train=conllu, tasks=tasks, skip_first_line=True)
    with pytest.raises(ConfigError, match="reads no header row"):
        read_dataset_file(loaded, str(conllu))


def test_a_machamp_style_dataset_trains_and_predict_keeps_the_header(tmp_path, params):
    """The real command line: a sentence-classification TSV with a header row and MaChAmp's
    key names trains; ``predict`` writes the labels and copies the header through."""
    train = write(tmp_path / "train.tsv", TSV_WITH_HEADER)
    config = write(
        tmp_path / "classes.json",
        json.dumps(
            {
                "classes": {
                    "train_data_path": str(train),
                    "validation_data_path": str(train),
                    "sent_idxs": [0],
                    "skip_first_line": True,
                    "tasks": {"label": {"task_type": "classification", "column_idx": 1}},
                }
            }
        ),
    )
    done = subprocess.run(
        train_command(config, params, tmp_path / "logs", "--name", "m"),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = (tmp_path / "logs" / "m").iterdir()
    unlabelled = write(tmp_path / "in.tsv", "text\nanna lives here\nbob sleeps\n")
    out = tmp_path / "out.tsv"
    command = [sys.executable, "-m", "machamp_lite", "predict", str(run / "model")]
    done = subprocess.run(
        [*command, str(unlabelled), str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "text"
    assert [line.split("\t")[0] for line in lines[1:]] == ["anna lives here", "bob sleeps"]
    assert all(line.split("\t")[1] in ("pos", "neg") for line in lines[1:])
