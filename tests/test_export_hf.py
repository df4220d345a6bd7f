"""``machamp-lite export --format hf``: the exported folders load with plain transformers in a
fresh process and give machamp-lite's hidden states and labels; what cannot be carried is
refused; a failure or a used folder leaves nothing written."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite import export_hf
from machamp_lite.archive import load_archive
from machamp_lite.cli import main
from machamp_lite.errors import ConfigError
from machamp_lite.modules.encoder import TransformerEncoder

from conftest import DEMO, one_error, tiny_training_params, write

# Run by a fresh interpreter: only transformers and torch, nothing of machamp-lite.
LOAD_SCRIPT = r"""
import json, sys
import torch
from transformers import (AutoModel, AutoModelForTokenClassification, AutoTokenizer,
                          pipeline)
torch.set_num_threads(1)
out = sys.argv[1]
sentences = json.loads(sys.stdin.read())
tokenizer = AutoTokenizer.from_pretrained(out + "/encoder")
encoder = AutoModel.from_pretrained(out + "/encoder").eval()
classifier = AutoModelForTokenClassification.from_pretrained(out + "/token_classification")
classifier.eval()
tagger = pipeline("token-classification", model=out + "/token_classification", device="cpu")
result = {"vectors": [], "labels": [], "pipeline": []}
for words in sentences:
    inputs = tokenizer(words, is_split_into_words=True, return_tensors="pt")
    word_ids = inputs.word_ids(0)
    first = [word_ids.index(i) for i in range(len(words))]
    with torch.no_grad():
        states = encoder(**inputs).last_hidden_state[0]
        logits = classifier(**inputs).logits[0]
    result["vectors"].append(states[first].tolist())
    best = logits[first].argmax(-1).tolist()
    result["labels"].append([classifier.config.id2label[i] for i in best])
    found = tagger([words], is_split_into_words=True, aggregation_strategy="none",
                   ignore_labels=[])[0]
    by_position = {item["index"]: item["entity"] for item in found}
    result["pipeline"].append([by_position[p] for p in first])
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_model) -> Path:
    """A tiny model trained for two epochs with a softmax task (``tags``) and a CRF task
    (``ner``) on the same demo column."""
    root = tmp_path_factory.mktemp("export")
    dataset = {
        "demo": {
            "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
            "word_idx": 0,
            "max_sents": 40,
            "tasks": {
                "tags": {"task_type": "seq", "column_idx": -1},
                "ner": {"task_type": "seq_bio", "column_idx": -1},
            },
        }
    }
    config = write(root / "dataset.json", json.dumps(dataset))
    params = tiny_training_params(
        root / "params.json", tiny_model, 2, batching={"batch_size": 16, "max_tokens": 1024}
    )
    run = machamp_lite.train([str(config)], str(params), output_dir=str(root), device="cpu")
    return run / "model"


def dev_sentences(count: int = 8, max_words: int = 25) -> list[list[str]]:
    """Short demo dev sentences (well inside the tiny model's 64 subwords: no windows)."""
    sentences, words = [], []
    for line in (DEMO / "multiconer_demo_dev.conll").read_text(encoding="utf-8").splitlines():
        if line.startswith("# id"):
            continue
        if line.strip():
            words.append(line.split()[0])
        elif words:
            if len(words) <= max_words:
                sentences.append(words)
            words = []
    return sentences[:count]


def test_exports_load_in_a_fresh_process_and_reproduce_machamp_lite(model_dir, tmp_path):
    out = tmp_path / "hf"
    assert main(["export", str(model_dir), str(out), "--format", "hf", "--task", "tags"]) == 0
    sentences = dev_sentences()
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(out)],
        input=json.dumps(sentences),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)

    predictor = machamp_lite.Predictor.load(model_dir, "cpu", precision="fp32")
    encoder = predictor.model.encoder
    with torch.no_grad():
        vectors, _ = encoder(encoder.collate(encoder.encode_many(sentences), 4096))
    for i, words in enumerate(sentences):
        exported = torch.tensor(loaded["vectors"][i])
        assert torch.allclose(exported, vectors[i, : len(words)], atol=1e-5)
    expected = [labels["tags"] for labels in predictor.predict(sentences)]
    assert loaded["labels"] == expected
    assert loaded["pipeline"] == expected
    assert len({label for labels in expected for label in labels}) > 1  # not one constant label


def test_a_crf_task_exports_its_emission_layer_with_a_note(model_dir, tmp_path, capsys):
    out = tmp_path / "hf"
    assert main(["export", str(model_dir), str(out), "--task", "ner"]) == 0
    assert "note: task 'ner' decodes with a CRF" in capsys.readouterr().err
    model, _, _, vocabularies, _ = load_archive(model_dir)
    config = json.loads((out / "token_classification" / "config.json").read_text())
    labels = vocabularies["ner"].to_list()
    assert [config["id2label"][str(i)] for i in range(len(labels))] == labels
    assert config["label2id"] == {label: i for i, label in enumerate(labels)}
    report = json.loads((out / "export.json").read_text())
    assert report["token_classification"]["task"] == "ner"
    assert any("CRF" in note for note in report["notes"])
    from safetensors.torch import load_file

    weights = load_file(str(out / "token_classification" / "model.safetensors"))
    assert torch.equal(weights["classifier.weight"], model.decoders["ner"].projection.weight)


def test_encoder_only_writes_no_token_classifier(model_dir, tmp_path):
    out = tmp_path / "hf"
    assert main(["export", str(model_dir), str(out), "--encoder_only"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["encoder", "export.json"]
    assert (out / "encoder" / "tokenizer.json").is_file()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "several tasks that could be a token classifier (ner, tags); name one with --task"),
        (["--task", "nope"], "--task nope: the model has no such task; it has: ner, tags"),
        (["--task", "ner", "--encoder_only"], "--task and --encoder_only exclude each other"),
    ],
)
def test_what_to_export_must_be_clear(model_dir, tmp_path, capsys, extra, expected):
    out = tmp_path / "hf"
    assert expected in one_error(capsys, main(["export", str(model_dir), str(out), *extra]))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []


def test_a_used_output_folder_or_a_file_is_never_written(model_dir, tmp_path, capsys):
    used = write(tmp_path / "used" / "mine.txt", "keep me")
    code = main(["export", str(model_dir), str(used.parent), "--encoder_only"])
    assert "the folder is not empty" in one_error(capsys, code)
    assert [p.name for p in used.parent.iterdir()] == ["mine.txt"]
    assert used.read_text() == "keep me"
    code = main(["export", str(model_dir), str(used), "--encoder_only"])
    assert "exists and is not a folder" in one_error(capsys, code)
    code = main(["export", str(model_dir), ".", "--encoder_only"])
    assert "give the export a new folder name" in one_error(capsys, code)
    code = main(["export", str(model_dir), str(model_dir / "inside"), "--encoder_only"])
    assert "is inside the model folder" in one_error(capsys, code)
    assert not (model_dir / "inside").exists()


def test_an_empty_folder_is_filled(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert main(["export", str(model_dir), str(tmp_path / "empty"), "--encoder_only"]) == 0
    assert (tmp_path / "empty" / "encoder" / "config.json").is_file()


def test_a_damaged_or_missing_model_is_one_error(model_dir, tmp_path, capsys):
    code = main(["export", str(tmp_path / "no-model"), str(tmp_path / "a"), "--encoder_only"])
    assert "not a machamp-lite model directory" in one_error(capsys, code)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for path in model_dir.rglob("*"):
        if path.is_file():
            target = damaged / path.relative_to(model_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    params = damaged / "params.json"
    params.write_text(params.read_text().replace('"first"', '"mean"'))
    code = main(["export", str(damaged), str(tmp_path / "b"), "--encoder_only"])
    assert "params.json" in one_error(capsys, code)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged"]


def test_a_failed_write_leaves_nothing(model_dir, tmp_path, monkeypatch, capsys):
    def full_disk(self, folder):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TransformerEncoder, "save_tokenizer", full_disk)
    out = tmp_path / "hf"
    code = main(["export", str(model_dir), str(out), "--task", "tags"])
    message = one_error(capsys, code)
    assert "the disk is full" in message and "nothing was written there" in message
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_does_not_load_back_the_same_is_not_kept(
    model_dir, tmp_path, monkeypatch, capsys
):
    from safetensors.torch import load_file, save_file

    write_folders = export_hf.write_folders

    def write_then_change(model, chosen, folder):
        write_folders(model, chosen, folder)
        weights = folder / "encoder" / "model.safetensors"
        changed = {k: v + 0.01 for k, v in load_file(str(weights)).items()}
        save_file(changed, str(weights), metadata={"format": "pt"})

    monkeypatch.setattr(export_hf, "write_folders", write_then_change)
    code = main(["export", str(model_dir), str(tmp_path / "hf"), "--encoder_only"])
    assert "does not reproduce machamp-lite's outputs" in one_error(capsys, code)
    assert list(tmp_path.iterdir()) == []


def test_what_would_label_words_differently_is_refused(model_dir):
    model, params, _, _, _ = load_archive(model_dir)
    assert export_hf.carry_problems(model, params, "tags") == []
    mean = {**params, "encoder": {**params["encoder"], "pooling": "mean"}}
    assert "averages subword vectors" in export_hf.carry_problems(model, mean, "tags")[0]
    model.task_layers = {"tags": [1, 2]}
    assert "layers_to_use" in export_hf.carry_problems(model, params, "tags")[0]
    model.task_layers = {}
    model.input_embedding = torch.nn.Embedding(1, 32)
    assert "dataset embeddings" in export_hf.carry_problems(model, params, "tags")[0]
    model.input_embedding = None
    model.decoder_embedded_tasks = {"tags"}
    assert "dec_dataset_embed_idx" in export_hf.carry_problems(model, params, "tags")[0]


def test_only_linear_word_decoders_become_token_classifiers(model_dir):
    model, _, _, _, tasks = load_archive(model_dir)
    assert export_hf.label_head(model.decoders["tags"]) == "softmax"
    assert export_hf.label_head(model.decoders["ner"]) == "crf"
    types = {name: spec.task_type for name, spec in tasks.items()}
    assert export_hf.choose_task(model, types, "ner") == "ner"

    class Decodes(type(model.decoders["tags"])):
        def decode(self, vectors, mask):
            return []

    model.decoders["tags"].__class__ = Decodes
    assert export_hf.label_head(model.decoders["tags"]) is None
    assert export_hf.choose_task(model, types, None) == "ner"
    with pytest.raises(ConfigError, match="--task tags: a 'seq' task cannot be a token classifier"):
        export_hf.choose_task(model, types, "tags")
