"""Training through configs: a decoder from a module outside machamp_lite, long sentences,
dev labels unseen in training, and config errors reported before anything is built."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite.errors import ConfigError, RegistryError
from machamp_lite.predict import Predictor

from conftest import write

CONLL = "# id s{n}\tdomain=x\nanna _ _ B-PER\nlives _ _ O\nin _ _ O\nberlin _ _ B-LOC\n\n"


def small_dataset(
    folder: Path, tasks: dict, train_text: str | None = None, dev_text: str | None = None, **extra
) -> Path:
    train = write(
        folder / "train.conll", train_text or "".join(CONLL.format(n=i) for i in range(8))
    )
    dev = write(folder / "dev.conll", dev_text or "".join(CONLL.format(n=i) for i in range(3)))
    config = {
        "small": {"train_data_path": str(train), "dev_data_path": str(dev), "tasks": tasks, **extra}
    }
    return write(folder / "dataset.json", json.dumps(config))


PLUGIN = '''
"""A decoder that lives outside machamp_lite: a softmax tagger with a temperature."""
import torch
from torch.nn import functional
from machamp_lite.decoders.base import Decoder
from machamp_lite.registry import decoders


@decoders.register("tempered_softmax")
class TemperedSoftmax(Decoder):
    default_metric = "accuracy"

    def __init__(self, input_dim, vocabulary, temperature: float = 1.0):
        super().__init__(input_dim, vocabulary)
        self.temperature = temperature
        self.projection = torch.nn.Linear(input_dim, len(vocabulary))

    def loss(self, vectors, mask, gold):
        logits = self.projection(vectors) / self.temperature
        gold = gold.masked_fill(~mask, -100)
        return functional.cross_entropy(logits.flatten(0, 1), gold.flatten(), ignore_index=-100)

    def decode(self, vectors, mask):
        best = self.projection(vectors).argmax(-1).tolist()
        return [[self.vocabulary.labels[i] for i in row[:n]]
                for row, n in zip(best, mask.sum(1).tolist())]
'''


def test_a_decoder_from_a_separate_module_named_in_the_config_trains(
    tmp_path, tiny_params, monkeypatch
):
    plugin_dir = tmp_path / "plugins"
    write(plugin_dir / "my_decoders.py", textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(plugin_dir))
    config = small_dataset(
        tmp_path,
        {"ner": {"task_type": "tempered_softmax", "column_idx": -1, "temperature": 2.0}},
        plugins=["my_decoders"],
    )
    run = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "logs"),
        allow_plugins=["my_decoders"],
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert "accuracy" in metrics["best_dev"]["small/ner"]
    predictor = Predictor.load(run / "model", device="cpu", allow_plugins=["my_decoders"])
    assert predictor.model.decoders["ner"].temperature == 2.0
    assert len(predictor.predict([["anna", "lives"]])[0]["ner"]) == 2
    # A fresh process (the command line) imports the config's plugin module when it loads the
    # model, once the user allows it with --plugins.
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_dir), str(ROOT)]))
    out = tmp_path / "pred.conll"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "machamp_lite",
            "predict",
            str(run / "model"),
            str(tmp_path / "dev.conll"),
            str(out),
            "--plugins",
            "my_decoders",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text().count("# id") == 3


def test_sentences_longer_than_the_encoder_keep_every_word(tmp_path, tiny_params):
    words = [f"berlin{i % 7}" for i in range(300)]  # far past max_input_length 64
    long = "".join(f"{w} _ _ {'B-LOC' if i % 5 == 0 else 'O'}\n" for i, w in enumerate(words))
    text = "# id long\tdomain=x\n" + long + "\n" + "".join(CONLL.format(n=i) for i in range(4))
    config = small_dataset(
        tmp_path,
        {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        train_text=text,
        dev_text=text,
    )
    run = machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "logs"))
    predictor = Predictor.load(run / "model", device="cpu")
    out = tmp_path / "pred.conll"
    predictor.predict_file(str(tmp_path / "dev.conll"), str(out))
    lines = out.read_text().split("\n")
    assert len(lines) == len(text.split("\n"))
    assert sum(1 for line in lines if line[:7] in {f"berlin{i}" for i in range(7)}) == 300
    assert len(predictor.predict([words])[0]["ner"]) == 300


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_other_word_poolings_train_and_predict(tmp_path, tiny_params, pooling):
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    run = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "logs"),
        overrides=[f"encoder.pooling={pooling}", "training.num_epochs=1"],
    )
    predictor = Predictor.load(run / "model", device="cpu")
    assert predictor.params["encoder"]["pooling"] == pooling
    assert len(predictor.predict([["anna", "x\u200b", "berlin"]])[0]["ner"]) == 3


def test_a_dev_label_never_seen_in_training_is_scored_wrong_with_a_warning(tmp_path, tiny_params):
    dev = CONLL.format(n=1).replace("B-LOC", "B-EVENT")
    config = small_dataset(
        tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}}, dev_text=dev
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "logs"))
    assert any("B-EVENT" in str(w.message) for w in caught)
    result = json.loads((run / "metrics.json").read_text())["best_dev"]["small/ner"]
    assert result["per_type"]["EVENT"]["recall"] == 0.0


def test_an_unregistered_task_type_lists_the_registered_ones(tmp_path, tiny_params):
    config = small_dataset(tmp_path, {"ner": {"task_type": "crf", "column_idx": -1}})
    with pytest.raises(RegistryError) as error:
        machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "logs"))
    assert "'crf'" in str(error.value) and "seq_bio" in str(error.value)
    assert str(config) in str(error.value)


def test_an_unknown_decoder_argument_names_the_key_and_the_file(tmp_path, tiny_params):
    config = small_dataset(
        tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1, "dropuot": 0.2}}
    )
    with pytest.raises(ConfigError, match="dropuot") as error:
        machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "logs"))
    assert str(config) in str(error.value)
    assert not (tmp_path / "logs").exists()


def test_an_unknown_parameter_key_fails_before_training(tmp_path, tiny_params):
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    with pytest.raises(ConfigError, match="training.optimzer"):
        machamp_lite.train(
            [str(config)],
            str(tiny_params),
            output_dir=str(tmp_path / "logs"),
            overrides=["training.optimzer.lr=0.1"],
        )


def test_a_hub_name_that_is_not_cached_fails_fast_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from machamp_lite.errors import ModelLoadError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache"):
        machamp_lite.train(
            [str(config)],
            output_dir=str(tmp_path / "logs"),
            overrides=["transformer_model=some-org/not-cached-model"],
        )
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_with_finite_losses(tmp_path, tiny_params, precision):
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    run = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "logs"),
        overrides=[f"training.precision={precision}"],
    )
    metrics = json.loads((run / "metrics.json").read_text())
    import math

    assert all(math.isfinite(e["train_loss"]) for e in metrics["epochs"])
    if precision == "bf16":  # fp16's loss scaler skips its first steps while it calibrates
        assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]
    assert (run / "model" / "model.safetensors").is_file()


def test_an_unknown_precision_is_a_config_error(tmp_path, tiny_params):
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    with pytest.raises(ConfigError, match="training.precision"):
        machamp_lite.train(
            [str(config)],
            str(tiny_params),
            output_dir=str(tmp_path / "logs"),
            overrides=["training.precision=fp8"],
        )


def test_max_sents_limits_training_files_but_never_prediction(tmp_path, tiny_params):
    config = small_dataset(
        tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}}, max_sents=3, max_dev_sents=2
    )
    run = machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "logs"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"][0]["train_sentences"] == 3
    assert metrics["best_dev"]["small/ner"]["counts"]["tokens"] == 2 * 4
    out = tmp_path / "pred.conll"
    count = Predictor.load(run / "model", device="cpu").predict_file(
        str(tmp_path / "train.conll"), str(out)
    )
    assert count == 8
    assert out.read_text().count("# id") == 8


def test_training_scores_are_computed_only_when_asked(tmp_path, tiny_params):
    config = small_dataset(tmp_path, {"ner": {"task_type": "seq_bio", "column_idx": -1}})
    plain = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "a"),
        overrides=["training.num_epochs=1"],
    )
    assert "train" not in json.loads((plain / "metrics.json").read_text())["epochs"][0]
    scored = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "b"),
        overrides=["training.num_epochs=1", "training.train_metrics=true"],
    )
    record = json.loads((scored / "metrics.json").read_text())["epochs"][0]
    assert record["train"]["small/ner"]["counts"]["gold"] == 8 * 2  # every training span scored


def test_gradient_checkpointing_gives_the_same_gradients(tmp_path, tiny_model):
    from machamp_lite.modules.encoder import TransformerEncoder

    torch.manual_seed(0)
    plain = TransformerEncoder(str(tiny_model), max_input_length=64, dropout=0.0)
    checkpointed = TransformerEncoder(
        str(tiny_model), max_input_length=64, dropout=0.0, gradient_checkpointing=True
    )
    checkpointed.load_state_dict(plain.state_dict())
    model = checkpointed.transformer
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing
    assert not getattr(plain.transformer, "is_activation_checkpointing", False)
    words = [["anna", "lives", "in", "berlin"], ["kestrel", "4_"]]
    grads = []
    for encoder in (plain, checkpointed):
        encoder.train()
        for module in encoder.modules():  # dropout off: compare the computation only
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        inputs = encoder.subwords.build_inputs(encoder.subwords.encode_many(words))
        vectors, mask = encoder(inputs)
        (vectors * mask.unsqueeze(-1)).pow(2).sum().backward()
        grads.append({n: p.grad for n, p in encoder.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-5) for n in grads[0])


OOM_PLUGIN = '''
"""A decoder whose loss runs out of memory, standing in for a GPU that is too small (there is no
GPU on the test machines, so the error is raised the way CUDA's allocator raises it)."""
import torch
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.registry import decoders


@decoders.register("oom_tagger")
class OutOfMemoryTagger(SoftmaxTagger):
    def loss(self, vectors, mask, gold):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
'''


def test_out_of_memory_names_the_batch_shape_and_what_to_lower(
    tmp_path, tiny_params, capsys, monkeypatch
):
    from machamp_lite.cli import main

    plugin_dir = tmp_path / "plugins"
    write(plugin_dir / "oom_plugin.py", textwrap.dedent(OOM_PLUGIN))
    monkeypatch.syspath_prepend(str(plugin_dir))
    config = small_dataset(
        tmp_path, {"ner": {"task_type": "oom_tagger", "column_idx": -1}}, plugins=["oom_plugin"]
    )
    code = main(
        [
            "train",
            "--dataset_configs",
            str(config),
            "--parameters_config",
            str(tiny_params),
            "--output_dir",
            str(tmp_path / "logs"),
            "--plugins",
            "oom_plugin",
        ]
    )
    error = capsys.readouterr().err
    assert code == 2 and "Traceback" not in error
    assert "out of memory" in error and "8 sentences" in error
    assert "batching.max_tokens 1024" in error and "Lower batching.max_tokens" in error
