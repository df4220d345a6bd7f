"""Tests for the component registries: lookup, argument checks, descriptions and plugins."""

from __future__ import annotations

import sys

import pytest

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


def test_describe_parameters_lists_name_type_default():
    rows = describe_parameters(Widget)
    assert rows == [
        {"name": "size", "type": "int", "default": "(required)"},
        {"name": "colour", "type": "str", "default": "'red'"},
        {"name": "scale", "type": "float", "default": "1.0"},
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
