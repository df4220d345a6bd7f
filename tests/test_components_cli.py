"""``machamp-lite components``: every registered component with its parameters, as text or
JSON, plugins included."""

from __future__ import annotations

import json

import pytest

from machamp_lite.cli import main
from machamp_lite.registry import decoders, encoders, load_plugins, metrics, readers

PLUGIN = '''
"""A plugin module for the components listing."""
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.registry import decoders


@decoders.register("listed_plugin_seq")
class ListedPluginTagger(SoftmaxTagger):
    """A tagger from outside the package."""

    def __init__(self, input_dim, vocabulary, dropout: float = 0.0, beam: int = 4):
        super().__init__(input_dim, vocabulary, dropout)
'''


@pytest.fixture
def isolated_registries(monkeypatch):
    load_plugins()
    for registry in (readers, encoders, decoders, metrics):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))


def run(capsys, *argv: str) -> str:
    assert main(["components", *argv]) == 0
    return capsys.readouterr().out


def test_text_lists_every_registered_component_with_parameters(capsys):
    out = run(capsys)
    load_plugins()
    for kind, registry in (
        ("readers", readers),
        ("encoders", encoders),
        ("decoders", decoders),
        ("metrics", metrics),
    ):
        assert f"\n{kind} (chosen by" in "\n" + out
        for name, _ in registry.items():
            assert f"\n  {name}  " in out, name
    assert "dropout: float = 0.0    <- task key dropout" in out
    assert "max_input_length: int = 512    <- parameter key encoder.max_input_length" in out
    assert "seq_bio  [token level, default metric span_f1, probabilities]" in out
    assert "string2string  [token level, default metric accuracy]" in out  # lemmas: none
    assert "input_dim" not in out  # set by machamp-lite, not a config key


def test_json_has_names_types_defaults_and_decoder_facts(capsys):
    listing = json.loads(run(capsys, "--json"))
    assert set(listing) == {"readers", "encoders", "decoders", "metrics"}
    seq_bio = next(row for row in listing["decoders"] if row["name"] == "seq_bio")
    assert seq_bio["level"] == "token" and seq_bio["default_metric"] == "span_f1"
    assert seq_bio["class"] == "machamp_lite.decoders.crf_tagger.CrfTagger"
    dropout = next(p for p in seq_bio["parameters"] if p["name"] == "dropout")
    assert dropout["type"] == "float" and dropout["default"] == "0.0"
    column = next(row for row in listing["readers"] if row["name"] == "column")
    assert {p["name"] for p in column["parameters"]} >= {"word_idx", "separator"}
    span_f1 = next(row for row in listing["metrics"] if row["name"] == "span_f1")
    assert span_f1["parameters"][0]["default"] == "'iob'"


def test_plugins_option_imports_modules_first(capsys, tmp_path, monkeypatch, isolated_registries):
    (tmp_path / "mlite_components_plugin.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    listing = json.loads(run(capsys, "--json", "--plugins", "mlite_components_plugin"))
    row = next(row for row in listing["decoders"] if row["name"] == "listed_plugin_seq")
    assert row["class"] == "mlite_components_plugin.ListedPluginTagger"
    assert row["summary"] == "A tagger from outside the package."
    beam = next(p for p in row["parameters"] if p["name"] == "beam")
    assert beam == {
        "name": "beam",
        "type": "int",
        "default": "4",
        "required": False,
        "json_types": ["integer"],
        "accepts": "an integer",
        "default_value": 4,
        "set_by": "task key beam",
    }


def test_a_missing_plugin_module_is_one_error_line(capsys, isolated_registries):
    assert main(["components", "--plugins", "mlite_no_such_module"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --plugins: cannot import plugin module 'mlite_no_such_module'")


def test_json_gives_each_arguments_json_types_and_default_value(capsys):
    listing = json.loads(run(capsys, "--json"))

    def arguments(kind: str, name: str) -> dict:
        row = next(row for row in listing[kind] if row["name"] == name)
        return {p["name"]: p for p in row["parameters"]}

    dependency = arguments("decoders", "dependency")
    assert dependency["arc_dim"]["json_types"] == ["integer"]
    assert dependency["arc_dim"]["default_value"] == 256
    assert dependency["single_root"]["json_types"] == ["boolean"]
    assert dependency["dropout"]["accepts"] == "a number"
    assert dependency["input_dim"]["required"] and "default_value" not in dependency["input_dim"]
    column = arguments("readers", "column")
    assert column["comment_regex"]["json_types"] == ["string", "null"]
    assert column["comment_regex"]["default_value"] is None
    tsv = arguments("readers", "sentence_tsv")
    assert tsv["sent_idxs"]["json_types"] == ["array"]
    assert tsv["sent_idxs"]["accepts"] == "a list of integers"
    assert tsv["sent_idxs"]["default_value"] == [0]
    encoder = arguments("encoders", "transformer")
    assert encoder["max_input_length"]["json_types"] == ["integer"]
    assert encoder["tokenizer"]["json_types"] == []  # passed by machamp-lite, any type
    for rows in listing.values():
        for row in rows:
            for parameter in row["parameters"]:
                assert {"name", "type", "default", "set_by", "required", "json_types"} <= set(
                    parameter
                )
