"""Masked language modelling end to end: MaChAmp's own configs/mlm.json trains through the
command line on raw text with dev perplexity in metrics.json, mlm trains beside an NER dataset
whose model then predicts, the archive loads and gives the same dev perplexity, a resumed run
ends exactly as an uninterrupted one, and bad input is one clear error."""

from __future__ import annotations

import json
import math
import random
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import machamp_lite
from machamp_lite.cli import main
from machamp_lite.config import load_dataset_configs
from machamp_lite.errors import ConfigError, DataError
from machamp_lite.metrics.task_scores import score_task
from machamp_lite.predict import Predictor, predict_encoded
from machamp_lite.training.callbacks import Callback
from machamp_lite.training.splits import encode_splits, read_splits

from conftest import ROOT, one_error, tiny_training_params, train_command, write

MACHAMP = Path(__file__).parent / "machamp_configs"
DEMO = ROOT / "data" / "demo"


def raw_text(count: int, seed: int) -> str:
    """``count`` lines of words from the demo data (which the tiny tokenizer knows), with the
    empty and blank lines that MaChAmp's reader skips."""
    words = [w for line in machamp_lite.testing.demo_texts() for w in line.split()]
    rng = random.Random(seed)
    lines = [" ".join(rng.choices(words, k=rng.randint(3, 14))) for _ in range(count)]
    lines[3:3] = ["", "   \t "]
    return "\n".join(lines) + "\n"


@pytest.fixture
def mlm_params(tmp_path, tiny_model) -> Path:
    return tiny_training_params(
        tmp_path / "params.json", tiny_model, 2, batching={"batch_size": 16, "max_tokens": 1024}
    )


def machamp_mlm_config(folder: Path) -> Path:
    """MaChAmp's configs/mlm.json with only its two data paths changed."""
    text = (MACHAMP / "mlm.json").read_text(encoding="utf-8")
    train = write(folder / "nl.train", raw_text(60, 0))
    dev = write(folder / "nl.dev", raw_text(15, 1))
    for old, new in (("data/wiki/nl.train", train), ("data/wiki/nl.dev", dev)):
        assert old in text
        text = text.replace(old, str(new))
    return write(folder / "mlm.json", text)


def the_run(output: Path) -> Path:
    [run] = [p for p in (output / "run").iterdir() if p.is_dir()]
    return run


@pytest.mark.slow
def test_machamps_mlm_config_trains_through_the_command_line(tmp_path, mlm_params, capsys):
    config = machamp_mlm_config(tmp_path)
    output = tmp_path / "logs"
    done = subprocess.run(
        train_command(config, mlm_params, output), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    run = the_run(output)
    report = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    for epoch in report["epochs"]:
        result = epoch["dev"]["WIKI/mlm"]
        assert 1 < result["perplexity"] < 10_000 and result["hidden_tokens"] > 10
        assert result["score"] == pytest.approx(1 / result["perplexity"])
        assert epoch["dev_sum"] == pytest.approx(result["score"])
    datasets = json.loads((run / "datasets.json").read_text(encoding="utf-8"))
    assert datasets["WIKI"]["reader"] == "raw_lines"
    assert not (run / "dev_predictions" / "WIKI").exists()  # mlm writes nothing
    # The projection is the embedding matrix: the archive stores it once.
    with safe_open(str(run / "model" / "model.safetensors"), "pt") as weights:
        shapes = [tuple(weights.get_slice(k).get_shape()) for k in weights.keys()]
    vocab_rows = json.loads((run / "model" / "encoder" / "config.json").read_text())["vocab_size"]
    assert sum(1 for shape in shapes if shape == (vocab_rows, 32)) == 1
    # Predicting with the mlm dataset is one clear error, no output file.
    target = tmp_path / "out.txt"
    code = main(["predict", str(run / "model"), str(config.parent / "nl.dev"), str(target)])
    assert "write no predictions" in one_error(capsys, code)
    assert not target.exists()


def ner_and_mlm_config(folder: Path, mlm_dev: bool = True) -> Path:
    train = write(folder / "wiki.train", raw_text(40, 2))
    dev = write(folder / "wiki.dev", raw_text(10, 3))
    wiki = {"train_data_path": str(train), "tasks": {"mlm": {"task_type": "mlm"}}}
    if mlm_dev:
        wiki["validation_data_path"] = str(dev)
    config = {
        "ner": {
            "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
            "dev_data_path": str(DEMO / "multiconer_demo_dev.conll"),
            "max_sents": 40,
            "max_dev_sents": 20,
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        },
        "WIKI": wiki,
    }
    return write(folder / "datasets.json", json.dumps(config))


def dev_perplexity(model_dir: Path) -> float:
    """The dev perplexity of an archive, with the dev tokens hidden as training hid them."""
    predictor = Predictor.load(model_dir)
    torch.manual_seed(predictor.params["random_seed"])  # the dev masking derives from it
    _, [dev] = read_splits({"WIKI": predictor.datasets["WIKI"]})
    encode_splits(predictor.model.encoder, [dev])
    predicted = predict_encoded(predictor.model, dev.encoded, ["mlm"], 64, 4096, "cpu")
    return score_task("perplexity", [], [None] * len(dev.encoded), predicted["mlm"])["perplexity"]


@pytest.mark.slow
def test_mlm_beside_ner_trains_and_the_ner_model_predicts(tmp_path, mlm_params):
    config = ner_and_mlm_config(tmp_path)
    run = machamp_lite.train([str(config)], str(mlm_params), output_dir=str(tmp_path / "logs"))
    report = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    best = report["epochs"][report["best_epoch"] - 1]
    assert set(best["dev"]) == {"ner/ner", "WIKI/mlm"}
    assert best["dev_sum"] == pytest.approx(sum(r["score"] for r in best["dev"].values()))
    assert set(best["train_loss_per_task"]) == {"ner", "mlm"}
    # The archive round trip: the loaded model gives the dev perplexity that training reported.
    reported = best["dev"]["WIKI/mlm"]["perplexity"]
    assert dev_perplexity(run / "model") == pytest.approx(reported, rel=1e-5)
    # The NER task predicts, one label per input word; mlm is skipped.
    predictor = Predictor.load(run / "model")
    gold = DEMO / "multiconer_demo_dev.conll"
    out = tmp_path / "pred.conll"
    predictor.predict_file(str(gold), str(out))  # ner: the only dataset that writes labels
    gold_lines = gold.read_text(encoding="utf-8").splitlines()
    out_lines = out.read_text(encoding="utf-8").splitlines()
    assert len(out_lines) == len(gold_lines)
    tokens = [(g.split(), p.split()) for g, p in zip(gold_lines, out_lines) if " _ _ " in g]
    assert tokens and all(g[0] == p[0] and len(p) == 4 for g, p in tokens)  # word by word
    assert all(p[-1] == "O" or p[-1][:2] in ("B-", "I-") for _, p in tokens)
    with pytest.raises(ConfigError, match="write no predictions.*--dataset ner"):
        predictor.predict([["a", "b"]], dataset="WIKI")


class StopAtStep(Callback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, trainer):
        if trainer.steps == self.step:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_resumed_mlm_run_ends_exactly_as_an_uninterrupted_one(tmp_path, tiny_model):
    config = ner_and_mlm_config(tmp_path)
    params = tiny_training_params(tmp_path / "p.json", tiny_model, 3, batching={"batch_size": 8})
    settings = {"output_dir": str(tmp_path / "logs"), "seed": 3, "device": "cpu"}
    whole = machamp_lite.train([str(config)], str(params), name="whole", **settings)
    steps = json.loads((whole / "metrics.json").read_text())["epochs"][0]["optimizer_steps"]
    with pytest.raises(KeyboardInterrupt):
        machamp_lite.train(
            [str(config)], str(params), name="cut", callbacks=[StopAtStep(steps + 2)], **settings
        )
    [cut] = (tmp_path / "logs" / "cut").iterdir()
    machamp_lite.train(resume=str(cut), device="cpu")

    def history(run: Path) -> list:
        epochs = json.loads((run / "metrics.json").read_text())["epochs"]
        return [(e["train_loss_per_task"], e["dev"]["WIKI/mlm"]["perplexity"]) for e in epochs]

    assert history(cut) == history(whole)


def config_problem(tmp_path, datasets: dict) -> str:
    path = write(tmp_path / "bad.json", json.dumps(datasets))
    with pytest.raises(ConfigError) as caught:
        load_dataset_configs([str(path)])
    return str(caught.value)


def test_mlm_beside_another_task_in_one_dataset_is_refused(tmp_path):
    train = write(tmp_path / "t.txt", "a\tO\n")
    tasks = {"mlm": {"task_type": "mlm"}, "ner": {"task_type": "seq_bio", "column_idx": 1}}
    message = config_problem(tmp_path, {"d": {"train_data_path": str(train), "tasks": tasks}})
    assert "learns from raw text and cannot share a dataset" in message and "'ner'" in message
    assert "bad.json" in message
    two = {"a": {"task_type": "mlm"}, "b": {"task_type": "mlm"}}
    message = config_problem(tmp_path, {"d": {"train_data_path": str(train), "tasks": two}})
    assert "a dataset holds one such task" in message


def test_mlm_with_another_reader_is_refused_and_without_one_gets_raw_lines(tmp_path):
    train = write(tmp_path / "t.txt", "some text\n")
    dataset = {"train_data_path": str(train), "tasks": {"m": {"task_type": "mlm"}}}
    message = config_problem(tmp_path, {"d": {**dataset, "reader": "column"}})
    assert "key 'reader' is 'column'" in message and "raw_lines" in message
    path = write(tmp_path / "good.json", json.dumps({"d": dataset}))
    [resolved] = load_dataset_configs([str(path)]).values()
    assert resolved["reader"] == "raw_lines"


@pytest.mark.parametrize(
    "content, expected",
    [("", "empty"), ("\n  \n\t\n", "empty"), (b"\xff\xfe\x00bad", "utf-8")],
)
def test_a_raw_text_file_without_text_is_one_clear_error(
    tmp_path, params, capsys, content, expected
):
    train = tmp_path / "empty.txt"
    train.write_bytes(content if isinstance(content, bytes) else content.encode())
    config = write(
        tmp_path / "d.json",
        json.dumps({"d": {"train_data_path": str(train), "tasks": {"m": {"task_type": "mlm"}}}}),
    )
    code = main(
        ["train", "--dataset_configs", str(config), "--parameters_config", str(params),
         "--output_dir", str(tmp_path / "logs")]
    )  # fmt: skip
    error = one_error(capsys, code)
    assert expected in error.lower() and "empty.txt" in error
    assert not (tmp_path / "logs").exists()  # nothing half-written


def test_long_lines_and_special_token_strings_train(tmp_path, tiny_model):
    """A line longer than the encoder's input (windows, as for words) and a line of special
    token strings (never hidden: nothing to learn there) train without error."""
    long_line = " ".join(["berlin anna lives in"] * 60)
    train = write(tmp_path / "t.txt", f"{long_line}\n[MASK] [SEP] [CLS]\n" + raw_text(20, 5))
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {"d": {"train_data_path": str(train), "dev_data_path": str(train),
                   "tasks": {"m": {"task_type": "mlm"}}}}
        ),
    )  # fmt: skip
    params = tiny_training_params(tmp_path / "p.json", tiny_model, 1)
    run = machamp_lite.train([str(config)], str(params), output_dir=str(tmp_path / "logs"))
    result = json.loads((run / "metrics.json").read_text())["epochs"][0]["dev"]["d/m"]
    assert math.isfinite(result["perplexity"]) and result["hidden_tokens"] > 30


def test_max_words_is_refused_for_raw_text(tmp_path, params):
    train = write(tmp_path / "t.txt", "a b c\n")
    dataset = {"train_data_path": str(train), "max_words": 2, "tasks": {"m": {"task_type": "mlm"}}}
    config = write(tmp_path / "d.json", json.dumps({"d": dataset}))
    with pytest.raises((ConfigError, DataError), match="max_words"):
        machamp_lite.train([str(config)], str(params), output_dir=str(tmp_path / "logs"))


def test_machamps_parameters_give_mlm_its_perplexity_and_a_wrong_metric_is_refused(tmp_path):
    from machamp_lite.config import load_configs

    config = machamp_mlm_config(tmp_path)
    _, datasets = load_configs([str(config)], str(MACHAMP / "params-nodiv-1.json"))
    assert datasets["WIKI"]["tasks"]["mlm"]["metric"] == "perplexity"  # decoders.mlm section
    text = json.loads(config.read_text())
    text["WIKI"]["tasks"]["mlm"]["metric"] = "accuracy"
    message = config_problem(tmp_path, text)
    assert "metric 'accuracy' scores labels" in message and "perplexity" in message
