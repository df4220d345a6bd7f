"""The generated configuration reference: every key has a description, every built-in
component is listed, and the committed docs/configuration.md is up to date."""

# No ``from __future__ import annotations``: one test needs evaluated annotations.
import subprocess
import sys
import typing
from collections.abc import Sequence

import pytest

from machamp_lite import reference
from machamp_lite.config import DATASET_KEYS, TASK_KEYS
from machamp_lite.registry import decoders, describe_parameters, load_plugins

from conftest import ROOT

CONFIGURATION = ROOT / "docs" / "configuration.md"


def test_every_key_has_a_description():
    problems = {what: keys for what, keys in reference.missing_descriptions().items() if keys}
    assert not problems, (
        f"{problems}: add (or remove) the descriptions in machamp_lite/reference.py "
        f"(PARAM_DESCRIPTIONS, DATASET_DESCRIPTIONS, TASK_DESCRIPTIONS), then run: "
        f"{reference.REGENERATE}"
    )


def test_docs_configuration_md_is_up_to_date():
    current = CONFIGURATION.read_text(encoding="utf-8") if CONFIGURATION.exists() else ""
    assert current == reference.generate_reference(), (
        f"docs/configuration.md is out of date; regenerate it with: {reference.REGENERATE}"
    )


def test_the_reference_covers_every_key_and_every_built_in_component():
    text = reference.generate_reference()
    for key in DATASET_KEYS:
        assert f"| `{key}` |" in text
    for key in TASK_KEYS:
        assert f"| `{key}` |" in text
    for dotted, _, _ in reference.flatten_params(reference.default_params()):
        assert f"| `{dotted}` |" in text
    load_plugins()
    for kind, registry in reference.REGISTRIES.items():
        for name, component in registry.items():
            if component.__module__.startswith("machamp_lite."):
                assert f"#### `{name}`" in text, f"{kind} {name} is missing"


def test_flatten_params_gives_dotted_keys_types_and_defaults():
    rows = list(
        reference.flatten_params({"a": 1, "b": {"c": 0.5, "d": {"e": None}}, "f": [1], "g": True})
    )
    assert rows == [
        ("a", "integer", 1),
        ("b.c", "number", 0.5),
        ("b.d.e", "any", None),
        ("f", "list", [1]),
        ("g", "boolean", True),
    ]


def test_a_plugin_component_is_listed_but_does_not_change_the_reference(monkeypatch):
    load_plugins()
    monkeypatch.setattr(decoders, "_entries", dict(decoders._entries))
    before = reference.generate_reference()

    class OutsideDecoder(decoders.get("seq")):
        """A decoder from another package."""

        def __init__(self, input_dim, vocabulary, width: int = 3):
            super().__init__(input_dim, vocabulary)

    OutsideDecoder.__module__ = "someone_elses_plugin"
    decoders.register("outside_seq")(OutsideDecoder)
    assert reference.generate_reference() == before
    listed = {row["name"]: row for row in reference.describe_components()["decoders"]}
    assert listed["outside_seq"]["parameters"][-1] == {
        "name": "width",
        "type": "int",
        "default": "3",
        "required": False,
        "json_types": ["integer"],
        "accepts": "an integer",
        "default_value": 3,
        "set_by": "task key width",
    }


def test_parameters_set_by_the_library_are_marked():
    load_plugins()
    listing = reference.describe_components()
    seq = next(row for row in listing["decoders"] if row["name"] == "seq")
    set_by = {p["name"]: p["set_by"] for p in seq["parameters"]}
    assert set_by["input_dim"] == set_by["vocabulary"] == "machamp-lite"
    assert set_by["dropout"].startswith("task key dropout")
    encoder = listing["encoders"][0]
    assert {p["name"]: p["set_by"] for p in encoder["parameters"]}["pooling"] == (
        "parameter key encoder.pooling"
    )


def test_describe_parameters_prints_evaluated_annotations_in_full():
    class Component:
        def __init__(
            self,
            a: typing.Optional[int] = None,  # noqa: UP045  (the old spelling on purpose)
            b: Sequence[int] = (1,),
            c: int | None = None,
            d=2,
        ):
            pass

    rows = {row["name"]: row["type"] for row in describe_parameters(Component)}
    assert rows == {"a": "Optional[int]", "b": "Sequence[int]", "c": "int | None", "d": ""}


def test_the_module_writes_the_reference_to_stdout():
    result = subprocess.run(
        [sys.executable, "-m", "machamp_lite.reference"],
        capture_output=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode("utf-8") == reference.generate_reference()


@pytest.mark.parametrize("key", ["training.optimizer.lr", "encoder.pooling"])
def test_descriptions_are_one_line(key):
    assert "\n" not in reference.PARAM_DESCRIPTIONS[key]
