"""The plugin package in examples/plugin: its entry point registers ``seq_focal``, which trains
with the shipped config and data, and predicts from the archive. Used from a checkout through a
config's ``"plugins"`` list instead, the model it trains names the module, which ``predict``
imports only when ``--plugins`` allows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import machamp_lite
from machamp_lite.cli import main
from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.predict import Predictor
from machamp_lite.registry import (
    PLUGIN_ENTRY_POINT_GROUP,
    decoders,
    load_entry_point_plugins,
    load_plugins,
)

from conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PLUGIN_DIR = ROOT / "examples" / "plugin"
PACKAGE = "machamp_example_plugin"


def project_table() -> dict:
    return tomllib.loads((PLUGIN_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """The plugin as an installed package looks to importlib.metadata: its folder on sys.path
    and a ``.dist-info`` folder whose entry_points.txt is written from the plugin's own
    pyproject.toml. Registrations and imported modules are undone afterwards."""
    load_plugins()  # built-ins first, so that the copy below holds them
    monkeypatch.setattr(decoders, "_entries", dict(decoders._entries))
    project = project_table()
    site = tmp_path / "site"
    dist_info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n",
        encoding="utf-8",
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] == PACKAGE:
            del sys.modules[name]


def test_the_pyproject_declares_the_entry_point_group_that_machamp_lite_loads():
    entries = project_table()["entry-points"][PLUGIN_ENTRY_POINT_GROUP]
    assert entries == {"seq_focal": f"{PACKAGE}.focal"}


def test_the_entry_point_registers_seq_focal(installed_plugin):
    assert "seq_focal" not in decoders
    load_entry_point_plugins()
    decoder = decoders.get("seq_focal")
    assert decoder.__module__ == f"{PACKAGE}.focal"
    assert decoder.codec.level == "token"


def test_trains_with_the_shipped_config_and_predicts_from_the_archive(
    installed_plugin, tmp_path, tiny_params
):
    load_entry_point_plugins()
    run = machamp_lite.train(
        [str(PLUGIN_DIR / "configs" / "dataset.json")],
        str(tiny_params),
        output_dir=str(tmp_path / "logs"),
        data_dir=str(PLUGIN_DIR),
    )
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert len(metrics["epochs"]) == 2
    result = metrics["best_dev"]["focal_ner/ner"]
    assert result["score"] == result["micro"]["f1"]  # the config's metric: span_f1
    # An installed entry point needs no "plugins" list, so the model names no module and loads
    # without allow_plugins.
    manifest = json.loads((run / "model" / "archive.json").read_text(encoding="utf-8"))
    assert manifest["needs"]["plugins"] == []
    predictor = Predictor.load(run / "model", device="cpu")
    assert predictor.model.decoders["ner"].gamma == 2.0
    labels = predictor.predict([["Maria", "lives", "in", "Berlin", "."]])[0]["ner"]
    assert len(labels) == 5
    assert set(labels) <= set(predictor.model.decoders["ner"].vocabulary.labels)
    dev = PLUGIN_DIR / "data" / "dev.conll"
    output = tmp_path / "dev.pred.conll"
    assert predictor.predict_file(str(dev), str(output)) == 10
    gold_lines = dev.read_text(encoding="utf-8").split("\n")
    predicted_lines = output.read_text(encoding="utf-8").split("\n")
    assert len(predicted_lines) == len(gold_lines)
    assert [line.split("\t")[0] for line in predicted_lines] == [
        line.split("\t")[0] for line in gold_lines
    ]


@pytest.fixture
def checkout_plugin(monkeypatch):
    """The plugin used from a checkout: its folder on sys.path, no entry point. Registrations
    and imported modules are undone afterwards."""
    load_plugins()
    monkeypatch.setattr(decoders, "_entries", dict(decoders._entries))
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def forget_plugin() -> None:
    """As in a fresh process: the plugin's modules not imported, ``seq_focal`` not registered."""
    for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
        del sys.modules[name]
    decoders._entries.pop("seq_focal", None)


def test_a_model_trained_with_a_plugins_list_predicts_only_with_the_plugins_flag(
    checkout_plugin, tmp_path, tiny_params, capsys
):
    config = tmp_path / "dataset.json"
    dataset = {
        "focal_ner": {
            "train_data_path": str(PLUGIN_DIR / "data" / "train.conll"),
            "word_idx": 0,
            "separator": "tab",
            "tasks": {"ner": {"task_type": "seq_focal", "column_idx": 1, "gamma": 2.0}},
            "plugins": [f"{PACKAGE}.focal"],
        }
    }
    config.write_text(json.dumps(dataset), encoding="utf-8")
    run = machamp_lite.train(
        [str(config)],
        str(tiny_params),
        output_dir=str(tmp_path / "logs"),
        allow_plugins=[f"{PACKAGE}.focal"],
    )
    forget_plugin()
    dev = PLUGIN_DIR / "data" / "dev.conll"
    output = tmp_path / "dev.pred.conll"
    predict = ["predict", str(run / "model"), str(dev), str(output), "--device", "cpu"]
    capsys.readouterr()
    assert main(predict) == 2
    error = capsys.readouterr().err.strip()
    model = run / "model"
    assert error == (
        f"error: {model}: this model needs plugin module '{PACKAGE}.focal' (in "
        f"{model / 'datasets.json'}), and importing a module runs its code; machamp-lite imports "
        "a plugin module that a config or a model folder names only when you allow it. If you "
        f"trust it, pass --plugins {PACKAGE}.focal to machamp-lite predict, or "
        f"allow_plugins=['{PACKAGE}.focal'] to Predictor.load"
    )
    assert f"{PACKAGE}.focal" not in sys.modules and not output.exists()
    assert main(predict + ["--plugins", f"{PACKAGE}.focal"]) == 0
    assert len(output.read_text(encoding="utf-8").split("\n")) == len(
        dev.read_text(encoding="utf-8").split("\n")
    )
    forget_plugin()
    predictor = Predictor.load(run / "model", device="cpu", allow_plugins=[f"{PACKAGE}.focal"])
    assert predictor.model.decoders["ner"].gamma == 2.0


def test_focal_loss_with_gamma_0_is_the_seq_decoders_cross_entropy(installed_plugin):
    from machamp_example_plugin.focal import FocalTagger

    load_plugins()
    vocabulary = LabelVocabulary(["B-PER", "I-PER", "O"])
    torch.manual_seed(0)
    focal = FocalTagger(8, vocabulary, gamma=0.0)
    seq = decoders.get("seq")(8, vocabulary)
    seq.load_state_dict(focal.state_dict())
    vectors = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    gold = torch.tensor([[0, 1, 2, -100], [2, -100, -100, -100]])  # -100: padding or unseen
    expected = seq.loss(vectors, mask, gold)
    assert torch.allclose(focal.loss(vectors, mask, gold), expected)
    focal.gamma = 2.0
    smaller = focal.loss(vectors, mask, gold)
    assert torch.isfinite(smaller) and 0 < smaller < expected
    assert [len(labels) for labels in focal.decode(vectors, mask)] == [3, 2]


@pytest.mark.slow
def test_pip_installs_the_plugin_and_a_fresh_process_lists_its_decoder(tmp_path):
    source = tmp_path / "source"  # a copy: pip builds in the source tree (build/, egg-info)
    shutil.copytree(PLUGIN_DIR, source, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--no-index", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(ROOT)]))
    listed = subprocess.run(
        [sys.executable, "-m", "machamp_lite", "components", "--json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    names = {row["name"]: row for row in json.loads(listed)["decoders"]}
    assert names["seq_focal"]["class"] == f"{PACKAGE}.focal.FocalTagger"
    assert {p["name"] for p in names["seq_focal"]["parameters"]} >= {"dropout", "gamma"}
    assert Path(target / PACKAGE / "focal.py").is_file()
