"""Tests for the component registries: lookup, argument checks, descriptions and plugins."""

from __future__ import annotations

import sys
from typing import Literal

import pytest

from machamp_lite.config import Problems
from machamp_lite.errors import ConfigError, RegistryError
from machamp_lite.registry import (
    Registry,
    check_arguments,
    decoders,
    describe_parameters,
    import_plugin_modules,
    load_plugins,
)


class Widget:
    def __init__(self, size: int, colour: str = "red", scale: float = 1.0):
        self.size, self.colour, self.scale = size, colour, scale


def test_unknown_name_lists_the_registered_names():
    registry = Registry("widget")
    registry.register("small")(Widget)
    registry.register("large")(type("Large", (Widget,), {}))
    with pytest.raises(RegistryError) as caught:
        registry.get("medium", where="cfg.json, task 'x'")
    message = str(caught.value)
    assert "unknown widget 'medium'" in message
    assert "(in cfg.json, task 'x')" in message
    assert "registered widgets: large, small" in message


def test_unknown_decoder_lists_the_built_in_decoders():
    with pytest.raises(RegistryError, match=r"registered decoders: .*seq, seq_bio"):
        decoders.get("crf")


def test_registered_component_is_found_and_named():
    registry = Registry("widget")
    registry.register("small")(Widget)
    assert registry.get("small") is Widget
    assert Widget.registered_name == "small"
    assert "small" in registry
    assert registry.names() == ["small"]


def test_duplicate_registration_by_a_different_class_is_refused():
    registry = Registry("widget")
    registry.register("w")(Widget)
    registry.register("w")(Widget)  # the same class again is fine
    other = type("Other", (), {"__init__": lambda self: None})
    with pytest.raises(RegistryError, match=r"widget name 'w' is already registered to .*Widget"):
        registry.register("w")(other)
    assert registry.get("w") is Widget


def test_check_arguments_unknown_key_names_key_and_location():
    with pytest.raises(ConfigError) as caught:
        check_arguments(Widget, {"size": 1, "color": "blue"}, "params.json, decoder")
    message = str(caught.value)
    assert message.startswith("params.json, decoder: unknown key 'color'")
    assert "expected one of: colour, scale, size" in message


def test_check_arguments_missing_key_names_key_and_location():
    with pytest.raises(ConfigError, match=r"^params\.json, decoder: missing required key 'size'"):
        check_arguments(Widget, {"colour": "blue"}, "params.json, decoder")


def test_check_arguments_accepts_keys_provided_by_the_caller():
    check_arguments(Widget, {"colour": "blue"}, "here", provided_by_caller=["size"])
    with pytest.raises(ConfigError, match="expected one of: colour, scale$"):
        check_arguments(Widget, {"sise": 1}, "here", provided_by_caller=["size"])


def test_check_arguments_with_var_keywords_accepts_any_key():
    def build(size, **extra):
        return size

    check_arguments(build, {"size": 1, "anything": 2}, "here")
    with pytest.raises(ConfigError, match="missing required key 'size'"):
        check_arguments(build, {"anything": 2}, "here")


class Typed:
    """Every kind of annotation a config value is checked against."""

    def __init__(
        self,
        rate: float = 0.5,
        width: int = 4,
        flag: bool = False,
        name: str = "x",
        sizes: list[int] = (1,),  # type: ignore[assignment]
        limit: int | None = None,
        mode: Literal["first", "mean"] = "first",
        table: dict[str, float] | None = None,
        anything=None,
        vocabulary: Registry | None = None,
    ):
        pass


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"rate": "0.1"}, "key 'rate' must be a number (like the default 0.5), got \"0.1\""),
        ({"rate": True}, "key 'rate' must be a number (like the default 0.5), got true"),
        ({"width": True}, "key 'width' must be an integer (like the default 4), got true"),
        ({"width": 2.5}, "key 'width' must be an integer (like the default 4), got 2.5"),
        ({"flag": 1}, "key 'flag' must be a boolean (like the default false), got 1"),
        ({"name": 3}, "key 'name' must be a string (like the default \"x\"), got 3"),
        ({"sizes": [1, "2"]}, "key 'sizes' must be a list of integers (like the default [1]), "),
        ({"sizes": 3}, "key 'sizes' must be a list of integers"),
        ({"limit": "3"}, "key 'limit' must be an integer or null, got \"3\""),
        ({"mode": "max"}, 'key \'mode\' must be one of "first", "mean" (like the default'),
        ({"table": {"a": "b"}}, 'key \'table\' must be an object or null, got {"a": "b"}'),
        ({"rate": float("nan")}, "key 'rate' must be a finite number, got NaN"),
    ],
)
def test_check_arguments_checks_values_against_the_annotations(given, expected):
    with pytest.raises(ConfigError) as caught:
        check_arguments(Typed, given, "cfg.json, task 't'")
    assert str(caught.value).startswith(f"cfg.json, task 't': {expected}")


def test_values_that_fit_their_annotations_pass():
    check_arguments(
        Typed,
        {
            "rate": 1,  # an integer is a number
            "width": 3.0,  # JSON does not tell 3 from 3.0
            "flag": True,
            "name": "y",
            "sizes": [],
            "limit": None,
            "mode": "mean",
            "table": {"a": 1},
            "anything": {"x": [1, "y"]},
            "vocabulary": "not checked: no JSON form",
        },
        "here",
    )


def test_several_argument_mistakes_are_one_error_naming_each():
    with pytest.raises(ConfigError) as caught:
        check_arguments(Widget, {"colour": 5, "sise": 1, "scale": "1"}, "cfg.json, decoder")
    assert str(caught.value).split("\n") == [
        "the configuration has 4 problems:",
        "  - cfg.json, decoder: unknown key 'sise' for Widget; expected one of: colour, scale, "
        "size",
        "  - cfg.json, decoder: missing required key 'size'",
        "  - cfg.json, decoder: key 'colour' must be a string (like the default \"red\"), got 5",
        "  - cfg.json, decoder: key 'scale' must be a number (like the default 1.0), got \"1\"",
    ]


def test_problems_can_be_gathered_from_several_components():
    problems = Problems()
    check_arguments(Widget, {"size": "1"}, "a.json", problems=problems)
    check_arguments(Typed, {"mode": 1}, "b.json", problems=problems)
    assert len(problems) == 2
    with pytest.raises(ConfigError, match=r"^the configuration has 2 problems:\n  - a\.json"):
        problems.raise_if_any()


def test_an_annotation_that_cannot_be_resolved_only_loses_its_check():
    namespace: dict = {}
    exec(
        "from __future__ import annotations\n"
        "class Foreign:\n"
        "    def __init__(self, model: NotImportedHere = None, size: int = 1):\n"
        "        pass\n",
        namespace,
    )
    foreign = namespace["Foreign"]
    check_arguments(foreign, {"model": "anything", "size": 2}, "here")
    with pytest.raises(ConfigError, match="key 'size' must be an integer"):
        check_arguments(foreign, {"size": "2"}, "here")
    rows = {row["name"]: row for row in describe_parameters(foreign)}
    assert rows["model"]["json_types"] == [] and rows["size"]["json_types"] == ["integer"]


def test_json_types_and_defaults_of_every_kind_of_annotation():
    rows = {row["name"]: row for row in describe_parameters(Typed)}
    assert rows["rate"]["json_types"] == ["number"]
    assert rows["sizes"]["json_types"] == ["array"] and rows["sizes"]["default_value"] == [1]
    assert rows["limit"]["json_types"] == ["integer", "null"]
    assert rows["limit"]["accepts"] == "an integer or null"
    assert rows["mode"]["json_types"] == ["string"]
    assert rows["table"]["json_types"] == ["object", "null"]
    assert rows["anything"]["json_types"] == [] and rows["anything"]["accepts"] == ""
    assert rows["vocabulary"]["json_types"] == []


def test_describe_parameters_lists_name_type_default():
    rows = describe_parameters(Widget)
    assert rows == [
        {
            "name": "size",
            "type": "int",
            "default": "(required)",
            "required": True,
            "json_types": ["integer"],
            "accepts": "an integer",
        },
        {
            "name": "colour",
            "type": "str",
            "default": "'red'",
            "required": False,
            "json_types": ["string"],
            "accepts": "a string",
            "default_value": "red",
        },
        {
            "name": "scale",
            "type": "float",
            "default": "1.0",
            "required": False,
            "json_types": ["number"],
            "accepts": "a number",
            "default_value": 1.0,
        },
    ]


def test_describe_parameters_of_a_real_decoder():
    rows = {row["name"]: row for row in describe_parameters(decoders.get("seq_bio"))}
    assert rows["dropout"]["default"] == "0.0"
    assert rows["input_dim"]["default"] == "(required)"


PLUGIN = '''
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.registry import decoders


@decoders.register("{name}")
class PluginTagger(SoftmaxTagger):
    """A decoder from outside the package."""
'''


@pytest.fixture
def plugin_folder(tmp_path, monkeypatch):
    """A folder on sys.path; modules imported from it and their registrations are undone."""
    load_plugins()  # built-ins first, so that the copy below holds them
    monkeypatch.setattr(decoders, "_entries", dict(decoders._entries))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("mlite_test_plugin"):
            del sys.modules[name]


def test_import_plugin_modules_registers_a_new_decoder(plugin_folder):
    (plugin_folder / "mlite_test_plugin_ok.py").write_text(
        PLUGIN.format(name="plugin_seq"), encoding="utf-8"
    )
    with pytest.raises(RegistryError):
        decoders.get("plugin_seq")
    import_plugin_modules(["mlite_test_plugin_ok"], "params.json")
    found = decoders.get("plugin_seq")
    assert found.__name__ == "PluginTagger"
    assert found.__module__ == "mlite_test_plugin_ok"


def test_non_importable_plugin_is_a_config_error(plugin_folder):
    with pytest.raises(ConfigError) as caught:
        import_plugin_modules(["mlite_test_plugin_missing"], "params.json")
    message = str(caught.value)
    assert message.startswith(
        "params.json: cannot import plugin module 'mlite_test_plugin_missing'"
    )
    assert "PYTHONPATH" in message


def test_plugin_with_a_syntax_error_is_a_config_error(plugin_folder):
    (plugin_folder / "mlite_test_plugin_broken.py").write_text("def broken(:\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cannot import plugin module .*SyntaxError"):
        import_plugin_modules(["mlite_test_plugin_broken"], "params.json")


def test_plugin_that_takes_a_built_in_name_is_refused(plugin_folder):
    (plugin_folder / "mlite_test_plugin_clash.py").write_text(
        PLUGIN.format(name="seq"), encoding="utf-8"
    )
    with pytest.raises(RegistryError, match=r"decoder name 'seq' is already registered"):
        import_plugin_modules(["mlite_test_plugin_clash"], "params.json")
    assert decoders.get("seq").__name__ == "SoftmaxTagger"
