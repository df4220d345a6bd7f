"""Tests for predict.py without a trained model: a stand-in encoder with only the encoder's
batching API (no subword tokenizer, no pooling mode to reach for) and a stand-in model that labels
each word by its spelling, so that what predict reads, batches and writes back, and through which
reader, is checked in milliseconds."""

from __future__ import annotations

import pytest

from machamp_lite import predict
from machamp_lite.config import validate_dataset
from machamp_lite.data.readers import ColumnReader, WriterSettings
from machamp_lite.decoders.codecs import LabelCodec
from machamp_lite.errors import ConfigError
from machamp_lite.predict import Predictor, predict_encoded
from machamp_lite.registry import readers

from conftest import write


class WordEncoder:
    """The batching contract of TransformerEncoder and nothing else: predict must not reach
    past it (no ``subwords``, no ``pooling``)."""

    def __init__(self):
        self.batches: list[list[list[str]]] = []

    def encode_many(self, sentences):
        return [list(words) for words in sentences]

    def input_length(self, encoded):
        return len(encoded) + 2  # as if with two special tokens

    def collate(self, batch, max_tokens):
        self.batches.append(list(batch))
        return {"words": list(batch), "max_tokens": max_tokens}


class Decoder:
    codec = LabelCodec()  # targets are the labels themselves


class WordModel:
    """``B-X`` for a capitalised word, ``O`` otherwise; a sentence-level task gets the number
    of words."""

    def __init__(self, tasks, sentence_tasks=()):
        self.encoder = WordEncoder()
        self.decoders = {t: Decoder() for t in tasks}
        self.sentence_tasks = set(sentence_tasks)

    def eval(self):
        return self

    def predict(self, inputs, tasks):
        assert inputs["max_tokens"] > 0
        return {
            task: [
                str(len(words))
                if task in self.sentence_tasks
                else ["B-X" if w[:1].isupper() else "O" for w in words]
                for words in inputs["words"]
            ]
            for task in tasks
        }


def predictor(path, tasks=None, sentence_tasks=(), **settings) -> Predictor:
    tasks = tasks or {"ner": {"task_type": "seq", "column_idx": -1}}
    config = {"train_data_path": str(path), "tasks": tasks, **settings}
    config = validate_dataset("d", config, "d.json", None)
    params = {"prediction": {"batch_size": 2, "max_tokens": 64, "chunk_sentences": 1}}
    return Predictor(WordModel(list(tasks), sentence_tasks), params, {"d": config})


def test_predict_encoded_batches_by_the_encoders_lengths_and_keeps_the_order():
    model = WordModel(["ner"])
    words = [["A"], ["b", "C", "d"], ["E", "f"], ["g"]]
    encoded = model.encoder.encode_many(words)
    result = predict_encoded(model, encoded, ["ner"], 2, 64, "cpu", words)
    assert result["ner"] == [["B-X"], ["O", "B-X", "O"], ["B-X", "O"], ["O"]]
    assert all(len(batch) <= 2 for batch in model.encoder.batches)
    assert sorted(w for batch in model.encoder.batches for w in batch) == sorted(words)


def test_predict_word_lists(tmp_path):
    labelled = predictor(tmp_path / "unused.conll").predict([["Anna", "sings"]])
    assert labelled == [{"ner": ["B-X", "O"]}]


def test_a_column_file_is_streamed_and_written_in_place(tmp_path, monkeypatch):
    source = write(tmp_path / "in.conll", "# id 1\nAnna _ _ O\nsings _ _ O\n\nOslo _ _ O\n")

    def whole_file_read(*args, **kwargs):
        raise AssertionError("a streaming reader's file is not read whole")

    monkeypatch.setattr(predict, "read_dataset_file", whole_file_read)
    target = tmp_path / "out.conll"
    assert predictor(source).predict_file(str(source), str(target)) == 2
    assert target.read_text(encoding="utf-8") == (
        "# id 1\nAnna _ _ B-X\nsings _ _ O\n\nOslo _ _ B-X\n"
    )


CONLLU = (
    "# sent_id = s1\n"
    "1-2\tZum\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tZu\tzu\tADP\t_\t_\t2\tcase\t_\t_\n"
    "2\tdem\tder\tDET\t_\t_\t0\troot\t_\t_\n"
)


def test_conllu_without_its_suffix_is_predicted_as_conllu(tmp_path):
    outputs = []
    for name in ("test.conllu", "ewt.test"):
        source = write(tmp_path / name, CONLLU)
        target = tmp_path / f"{name}.out"
        tasks = {"misc": {"task_type": "seq", "column_idx": 9}}
        assert predictor(source, tasks).predict_file(str(source), str(target)) == 1
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].decode("utf-8").splitlines()[1:] == [
        "1-2\tZum\t_\t_\t_\t_\t_\t_\t_\t_",  # the multiword token is not a word
        "1\tZu\tzu\tADP\t_\t_\t2\tcase\t_\tB-X",
        "2\tdem\tder\tDET\t_\t_\t0\troot\t_\tO",
    ]


class DashPaddedReader(ColumnReader):
    """Reads whole files only, and writes a missing label column after the word with ``-`` in
    the columns between: nothing a switch on reader names would know."""

    def read(self, path, tasks, require_labels=True):
        return super().read(path, tasks, require_labels)

    def writer_settings(self):
        return WriterSettings("tab", self.encoding, self.word_idx, "-")


def test_predict_writes_as_a_registered_reader_says(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "_entries", dict(readers._entries))
    readers.register("test_dash_padded")(DashPaddedReader)
    source = write(tmp_path / "in.txt", "Anna\nsings\n\nOslo\n")
    tasks = {"ner": {"task_type": "seq", "column_idx": 3}}
    labeller = predictor(source, tasks, reader="test_dash_padded", separator="tab")
    target = tmp_path / "out.txt"
    assert labeller.predict_file(str(source), str(target)) == 2
    assert (
        target.read_text(encoding="utf-8") == "Anna\t-\t-\tB-X\nsings\t-\t-\tO\n\nOslo\t-\t-\tB-X\n"
    )


def test_a_sentence_task_is_written_on_the_sentences_line(tmp_path):
    source = write(tmp_path / "in.tsv", "Good film\t?\nbad\t?\n")
    tasks = {"length": {"task_type": "classification", "column_idx": 1}}
    target = tmp_path / "out.tsv"
    assert predictor(source, tasks, ["length"]).predict_file(str(source), str(target)) == 2
    assert target.read_text(encoding="utf-8") == "Good film\t2\nbad\t1\n"


@pytest.mark.parametrize(
    ("option", "expected"),
    [("labels_only", "B-X\nO\n\nB-X\n\n"), ("raw_text", "Anna\tB-X\nsings\tO\n\nOslo\tB-X\n\n")],
)
def test_labels_only_and_raw_text(tmp_path, option, expected):
    source = write(tmp_path / "in.txt", "Anna sings\n\nOslo\n")
    target = tmp_path / "out.txt"
    if option == "labels_only":
        source = write(tmp_path / "in.conll", "Anna O\nsings O\n\nOslo O\n")
    labeller = predictor(source)
    assert labeller.predict_file(str(source), str(target), **{option: True}) == 2
    assert target.read_text(encoding="utf-8") == expected


THREE = "# id 1\nAnna _ _ O\nsings _ _ O\n\n# id 2\nOslo _ _ O\n\n# id 3\nrain _ _ O\n"


@pytest.mark.parametrize("max_sents", [1, 2, 3, 10])
def test_max_sents_writes_only_the_first_sentences(tmp_path, max_sents):
    source = write(tmp_path / "in.conll", THREE)
    target = tmp_path / "out.conll"
    count = predictor(source).predict_file(str(source), str(target), max_sents=max_sents)
    assert count == min(max_sents, 3)
    full = "# id 1\nAnna _ _ B-X\nsings _ _ O\n\n# id 2\nOslo _ _ B-X\n\n# id 3\nrain _ _ O\n"
    expected = [
        "# id 1\nAnna _ _ B-X\nsings _ _ O\n\n",
        "# id 2\nOslo _ _ B-X\n\n",
        "# id 3\nrain _ _ O\n",
    ]
    assert target.read_text(encoding="utf-8") == (
        full if max_sents >= 3 else "".join(expected[:max_sents])
    )


def test_max_sents_with_a_whole_file_reader_and_a_sentence_per_line(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "_entries", dict(readers._entries))
    readers.register("test_dash_padded")(DashPaddedReader)
    source = write(tmp_path / "in.txt", "Anna\nsings\n\nOslo\n\nrain\n")
    tasks = {"ner": {"task_type": "seq", "column_idx": 3}}
    labeller = predictor(source, tasks, reader="test_dash_padded", separator="tab")
    target = tmp_path / "out.txt"
    assert labeller.predict_file(str(source), str(target), max_sents=1) == 1
    assert target.read_text(encoding="utf-8") == "Anna\t-\t-\tB-X\nsings\t-\t-\tO\n\n"
    # one sentence per line, no blank line between them: the output still stops after N
    source = write(tmp_path / "in.tsv", "Good film\t?\nbad\t?\nugly one\t?\n")
    tasks = {"length": {"task_type": "classification", "column_idx": 1}}
    target = tmp_path / "out.tsv"
    labeller = predictor(source, tasks, ["length"])
    assert labeller.predict_file(str(source), str(target), max_sents=2) == 2
    assert target.read_text(encoding="utf-8") == "Good film\t2\nbad\t1\n"


@pytest.mark.parametrize("option", ["labels_only", "raw_text"])
def test_max_sents_with_labels_only_and_raw_text(tmp_path, option):
    source = write(tmp_path / "in.txt", "Anna sings\nOslo\nrain\n")
    expected = "Anna\tB-X\nsings\tO\n\nOslo\tB-X\n\n"
    if option == "labels_only":
        source = write(tmp_path / "in.conll", "Anna O\nsings O\n\nOslo O\n\nrain O\n")
        expected = "B-X\nO\n\nB-X\n\n"
    target = tmp_path / "out.txt"
    labeller = predictor(source)
    assert labeller.predict_file(str(source), str(target), max_sents=2, **{option: True}) == 2
    assert target.read_text(encoding="utf-8") == expected


@pytest.mark.parametrize("max_sents", [0, -1, True])
def test_max_sents_below_one_is_refused(tmp_path, max_sents):
    source = write(tmp_path / "in.conll", THREE)
    with pytest.raises(ConfigError, match="--max_sents .*: must be at least 1"):
        predictor(source).predict_file(str(source), str(tmp_path / "out"), max_sents=max_sents)
    assert not (tmp_path / "out").exists()


def test_max_sents_keeps_a_byte_order_mark_and_the_line_endings(tmp_path):
    source = tmp_path / "in.conll"
    source.write_bytes("\ufeffAnna O\r\nsings O\r\n\r\nOslo O\r\n".encode("utf-8"))
    target = tmp_path / "out.conll"
    assert predictor(source).predict_file(str(source), str(target), max_sents=1) == 1
    assert target.read_bytes() == "\ufeffAnna B-X\r\nsings O\r\n\r\n".encode("utf-8")
