"""Training drops the tokenizer once its data is encoded; archives still get its files."""

from __future__ import annotations

import machamp_lite
from machamp_lite.modules.encoder import TransformerEncoder, load_tokenizer

from conftest import ROOT, tiny_training_params


def test_released_tokenizer_is_saved_from_its_folder_unchanged(tmp_path, tiny_model):
    encoder = TransformerEncoder(str(tiny_model), max_input_length=64)
    words = ["anna", "lives", "in", "berlin"]
    before = encoder.tokenizer(words, is_split_into_words=True)["input_ids"]
    encoder.release_tokenizer(tmp_path / "run")
    assert encoder.tokenizer is None and encoder.subwords.tokenizer is None
    assert (tmp_path / "run" / ".tokenizer" / "tokenizer.json").is_file()
    encoder.save_tokenizer(tmp_path / "archive")
    encoder.transformer.config.save_pretrained(tmp_path / "archive")  # as the archive does
    reloaded = load_tokenizer(str(tmp_path / "archive"))
    assert reloaded(words, is_split_into_words=True)["input_ids"] == before
    encoder.discard_released_tokenizer()
    assert not (tmp_path / "run" / ".tokenizer").exists()
    assert (tmp_path / "run").is_dir()  # only the tokenizer's own folder goes


def test_training_leaves_no_staged_tokenizer_and_the_archive_predicts(tmp_path, tiny_model):
    path = tiny_training_params(tmp_path / "params.json", tiny_model, 1, optimizer=None)
    run = machamp_lite.train(
        [str(ROOT / "dataset_configs/demo.json")],
        str(path),
        output_dir=str(tmp_path / "logs"),
        data_dir=str(ROOT),
        overrides=["multiconer_demo.max_sents=20"],
    )
    assert not (run / ".tokenizer").exists()
    predictor = machamp_lite.Predictor.load(run / "model", device="cpu")
    (labels,) = predictor.predict([["anna", "lives", "in", "berlin"]])
    assert len(labels["ner"]) == 4
