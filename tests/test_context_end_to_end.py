"""Context end to end (issue 18): a model trained with retrieved and with neighbouring context
through the real command line keeps its context config, and `predict` (files, raw text) and the
Python API read each sentence with the same context, one prediction per input word."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from machamp_lite.cli import main
from machamp_lite.data import tokenization
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.predict import Predictor

from conftest import ROOT, tiny_training_params, write

TRAIN = ROOT / "data/demo/multiconer_demo_train.conll"
DEV = ROOT / "data/demo/multiconer_demo_dev.conll"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> Path:
    """One tiny model with two datasets: BM25 context from the demo train file, and the
    sentences around each sentence."""
    folder = tmp_path_factory.mktemp("context-e2e")
    base = {"train_data_path": str(TRAIN), "dev_data_path": str(DEV), "word_idx": 0}
    retrieved = {"source": "retrieval", "corpus": str(TRAIN), "k": 2, "method": "bm25"}
    config = {
        "retrieved": {**base, "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}}},
        "neighbours": {**base, "tasks": {"ner2": {"task_type": "seq_bio", "column_idx": -1}}},
    }
    config["retrieved"]["context"] = retrieved
    config["neighbours"]["context"] = {"source": "neighbours", "before": 1, "after": 1}
    dataset_config = write(folder / "context.json", json.dumps(config))
    params = tiny_training_params(folder / "params.json", tiny_model, 1)
    arguments = ["train", "--dataset_configs", str(dataset_config), "--parameters_config"]
    arguments += [str(params), "--output_dir", str(folder / "logs"), "--seed", "3"]
    assert main(arguments) == 0
    (run,) = [p for p in (folder / "logs").glob("*/*") if p.is_dir()]
    return run / "model"


def test_predict_reads_the_trained_context_and_keeps_every_input_line(trained, tmp_path):
    output = tmp_path / "dev.pred"
    code = main(["predict", str(trained), str(DEV), str(output), "--dataset", "retrieved"])
    assert code == 0
    given, written = DEV.read_text().splitlines(), output.read_text().splitlines()
    assert len(given) == len(written)
    for before, after in zip(given, written):  # same words and comments, a label in place
        assert before.split()[:-1] == after.split()[:-1]
    predictor = Predictor.load(trained, "cpu")
    config = predictor.dataset("retrieved")
    assert config["context"]["corpus"] == [str(TRAIN)]  # kept in the model's own config
    sentences = read_dataset_file(config, str(DEV), require_labels=False, limit=-1)
    assert all(s.context for s in sentences)  # every dev sentence has retrieved context
    words = [s.words for s in sentences]
    explicit = predictor.predict(words, "retrieved", contexts=[s.context for s in sentences])
    automatic = predictor.predict(words, "retrieved")  # the dataset's retrieval, applied
    assert automatic == explicit
    labels = [line.split()[-1] for line in written if line and not line.startswith("# id")]
    assert labels == [label for p in explicit for label in p["ner"]]


def test_raw_text_is_read_with_its_neighbouring_lines(trained, tmp_path):
    lines = ["tobias zog nach hamburg", "alba lebt in bonn", "paris"]
    text = write(tmp_path / "input.txt", "\n".join(lines) + "\n")
    output = tmp_path / "input.pred"
    arguments = [str(trained), str(text), str(output), "--raw_text", "--dataset", "neighbours"]
    assert main(["predict", *arguments]) == 0
    rows = [line.split("\t") for line in output.read_text().splitlines() if line]
    assert [r[0] for r in rows] == " ".join(lines).split()
    predictor = Predictor.load(trained, "cpu")
    words = [line.split() for line in lines]
    neighbours = [words[1], words[0] + words[2], words[1]]
    expected = predictor.predict(words, "neighbours", contexts=neighbours)
    assert predictor.predict(words, "neighbours") == expected
    assert [r[1] for r in rows] == [label for p in expected for label in p["ner2"]]

    def probabilities(**given):
        found = predictor.confidences(words, "neighbours", **given)
        return [p["ner2"]["probabilities"] for p in found]

    # The context reaches the model: its probabilities move with it, and the API applies the
    # dataset's neighbours when no contexts are given.
    assert probabilities() == probabilities(contexts=neighbours)
    assert probabilities() != probabilities(contexts=[None, None, None])


def test_the_onnx_backend_reads_the_same_context(trained, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason='needs the onnx extra: pip install ".[onnx]"')
    export = tmp_path / "onnx"
    assert main(["export", str(trained), str(export), "--format", "onnx"]) == 0
    torch_out, onnx_out = tmp_path / "torch.conll", tmp_path / "onnx.conll"
    arguments = [str(DEV), "--dataset", "retrieved"]
    assert main(["predict", str(trained), arguments[0], str(torch_out), *arguments[1:]]) == 0
    onnx_arguments = [arguments[0], str(onnx_out), *arguments[1:], "--backend", "onnx"]
    contexts_seen: list[int] = []
    real = tokenization.encode_many_with_context

    def spy(subwords, sentences, segments, contexts):
        contexts_seen.extend(len(c or ()) for c in contexts)
        return real(subwords, sentences, segments, contexts)

    monkeypatch.setattr(tokenization, "encode_many_with_context", spy)
    assert main(["predict", str(export), *onnx_arguments]) == 0
    assert contexts_seen and all(contexts_seen)  # every dev sentence went in with its context
    assert onnx_out.read_bytes() == torch_out.read_bytes()
