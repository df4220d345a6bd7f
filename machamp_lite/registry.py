"""Named registries for readers, encoders, decoders and metrics.

A component registers itself with a decorator under a name; configs select it by that name.
Constructor arguments are checked against the signature before anything is built, so a typo in
a config fails with the key and the file instead of deep inside a constructor.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .argument_types import (
    ANY,
    argument_annotations,
    constructor,
    describe,
    fits,
    json_types,
)
from .config_checks import (
    Problems,
    component_limits,
    is_number,
    limits_problem,
    shown,
    value_problem,
)
from .errors import ConfigError, MachampError, RegistryError

PLUGIN_ENTRY_POINT_GROUP = "machamp_lite.plugins"


class Registry:
    """A mapping from names to component classes (or builder functions) of one kind."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Callable[..., Any]] = {}
        self._absent: dict[str, str] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: ``@decoders.register("seq_bio")``."""

        def add(component: Callable[..., Any]) -> Callable[..., Any]:
            existing = self._entries.get(name)
            if existing is not None and existing is not component:
                same_place = getattr(existing, "__qualname__", None) == getattr(
                    component, "__qualname__", None
                ) and getattr(existing, "__module__", None) == getattr(
                    component, "__module__", None
                )
                if not same_place:
                    raise RegistryError(
                        f"{self.kind} name {name!r} is already registered to "
                        f"{existing.__module__}.{existing.__qualname__}; choose another name"
                    )
            self._entries[name] = component
            component.registered_name = name  # type: ignore[attr-defined]
            return component

        return add

    def explain_absent(self, name: str, reason: str) -> None:
        """Say why ``name`` is not registered (a MaChAmp component that machamp-lite does not
        have), so that asking for it gives that reason instead of a list of other names. A
        plugin may still register the name; it is then found as usual."""
        self._absent[name] = reason

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def get(self, name: str, where: str = "") -> Callable[..., Any]:
        load_plugins()
        if name not in self._entries:
            location = f" (in {where})" if where else ""
            if name in self._absent:
                raise RegistryError(
                    f"{self.kind} {name!r}{location} is not available: {self._absent[name]}"
                )
            raise RegistryError(
                f"unknown {self.kind} {name!r}{location}; registered {self.kind}s: "
                f"{', '.join(self.names()) or '(none)'}. A component from another package is "
                'registered by naming its module in the config\'s "plugins" list.'
            )
        return self._entries[name]

    def items(self) -> Iterable[tuple[str, Callable[..., Any]]]:
        load_plugins()
        return sorted(self._entries.items())


def check_arguments(
    component: Callable[..., Any],
    given: Mapping[str, Any],
    where: str,
    provided_by_caller: Iterable[str] = (),
    problems: Problems | None = None,
) -> None:
    """Check ``given`` against the signature: no unknown key, no missing one, every value of
    the annotated type and within the component's limits. Each problem names ``where`` (file,
    dataset, task) and the key, and all of them are noted in ``problems``; without one, they
    are raised together as one error.

    ``provided_by_caller`` names the arguments that the library passes itself (for example the
    input dimension of a decoder), so they count neither as unknown nor as missing.
    """
    own = problems is None
    problems = Problems() if problems is None else problems
    params = {
        n: p
        for n, p in inspect.signature(constructor(component)).parameters.items()
        if n != "self" and p.kind not in (p.VAR_POSITIONAL,)
    }
    caller = set(provided_by_caller)
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    if not accepts_any:
        allowed = sorted(n for n, p in params.items() if p.kind != p.VAR_KEYWORD)
        allowed = [n for n in allowed if n not in caller]
        for key in sorted(set(given) - set(params)):
            problems.add(
                f"{where}: unknown key {key!r} for {getattr(component, '__name__', component)}"
                f"; expected one of: {', '.join(allowed)}"
            )
    for name, param in params.items():
        required = param.default is param.empty and param.kind != param.VAR_KEYWORD
        if required and name not in given and name not in caller:
            problems.add(f"{where}: missing required key {name!r}")
    for problem in argument_value_problems(component, given, params):
        problems.add(f"{where}: {problem}")
    if own:
        problems.raise_if_any()


def argument_value_problems(
    component: Callable[..., Any],
    given: Mapping[str, Any],
    params: Mapping[str, inspect.Parameter] | None = None,
) -> list[str]:
    """Why values do not fit their arguments: the type from the constructor's annotation
    (``argument_types``), else from the default's type; then numbers against the component's
    ``argument_limits`` (``{"threshold": Range(0, 1, True, True)}``) or the library's limits
    for common names (``dropout``), and every number must be finite."""
    if params is None:
        params = inspect.signature(constructor(component)).parameters
    annotations = argument_annotations(component)
    limits = component_limits(component)
    found = []
    for name, value in given.items():
        param = params.get(name)
        if param is None or param.kind == param.VAR_KEYWORD:
            continue  # unknown keys are reported by name, and **kwargs take anything
        default = None if param.default is param.empty else param.default
        if value is None and default is None:
            continue  # ``x: float = None``: null is the default itself
        expected = describe(annotations.get(name, ANY))
        problem = None
        if expected and not fits(value, annotations[name]):
            like = f" (like the default {shown(default)})" if default is not None else ""
            problem = f"key {name!r} must be {expected}{like}, got {shown(value)}"
        elif expected and is_number(value):
            problem = limits_problem(value, name, limits)
        elif not expected and (isinstance(default, (bool, int, float)) or name in limits):
            problem = value_problem(value, default, name, limits)
        if problem:
            found.append(problem)
    return found


def describe_parameters(component: Callable[..., Any]) -> list[dict[str, Any]]:
    """Each constructor argument for listings and docs: ``name``, ``type`` (the annotation as
    written) and ``default`` (its repr, or "(required)"), as text for people; and for programs
    ``required``, ``json_types`` (the JSON Schema types a config may give, empty for any),
    ``accepts`` (the same in the words of an error message) and ``default_value`` (the
    default as JSON, absent when it has no JSON form)."""
    annotations = argument_annotations(component)
    rows = []
    for name, param in inspect.signature(constructor(component)).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation
        if annotation is param.empty:
            type_name = ""
        elif isinstance(annotation, str):  # postponed (``from __future__ import annotations``)
            type_name = annotation
        elif isinstance(annotation, type):
            type_name = annotation.__name__
        else:  # ``Optional[int]``, ``Sequence[int]``, ``int | None``: in full, not ``Optional``
            type_name = inspect.formatannotation(annotation).replace("collections.abc.", "")
        required = param.default is param.empty
        row: dict[str, Any] = {
            "name": name,
            "type": type_name,
            "default": "(required)" if required else repr(param.default),
            "required": required,
            "json_types": json_types(annotations.get(name, ANY)),
            "accepts": describe(annotations.get(name, ANY)),
        }
        if not required and _is_json(param.default):
            row["default_value"] = (
                list(param.default) if isinstance(param.default, tuple) else param.default
            )
        rows.append(row)
    return rows


def _is_json(value: Any) -> bool:
    """Whether a default has a JSON form (a tuple default is a JSON list)."""
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (bool, int, str))


readers = Registry("reader")
encoders = Registry("encoder")
decoders = Registry("decoder")
metrics = Registry("metric")

_plugins_loaded = False


def import_plugin_modules(modules: Iterable[str], where: str = "") -> None:
    """Import modules named in a config so that they can register components."""
    for module in modules:
        try:
            importlib.import_module(module)
        except MachampError:
            raise  # e.g. a RegistryError for a name clash: already a clear message
        except Exception as error:  # ImportError, and SyntaxError etc. inside the plugin
            location = f"{where}: " if where else ""
            raise ConfigError(
                f"{location}cannot import plugin module {module!r} "
                f"({type(error).__name__}: {error}). Make sure it is installed or on PYTHONPATH."
            ) from None


def import_allowed_plugins(
    needed: Iterable[tuple[str, str]],
    allowed: Iterable[str] | str,
    owner: str,
    how_to_allow: str,
    error: type[MachampError] = ConfigError,
) -> None:
    """Import the plugin modules that configs or a model folder name, ``(module, where named)``,
    but only those the user allowed: configs and model folders come from other people, and
    importing a module runs its code. A module already imported in this process (by the
    caller's own code, or an installed ``machamp_lite.plugins`` entry point, which is imported
    on the first registry lookup anyway) counts as allowed: naming it runs no new code.
    Otherwise one ``error`` names every refused module, where it is named (``owner``), and
    ``how_to_allow`` them (formatted with ``{modules}`` and ``{module_list}``)."""
    permitted = {allowed} if isinstance(allowed, str) else set(allowed)
    needed = list(dict.fromkeys(needed))
    if not needed:
        return
    load_plugins()
    refused = [(m, w) for m, w in needed if m not in sys.modules and m not in permitted]
    if refused:
        names = list(dict.fromkeys(m for m, _ in refused))
        listed = ", ".join(f"{m!r} (in {w})" for m, w in refused)
        plural = "s" if len(names) > 1 else ""
        raise error(
            f"{owner} needs plugin module{plural} {listed}, and importing a module runs its "
            "code; machamp-lite imports a plugin module that a config or a model folder names "
            "only when you allow it. If you trust it, "
            + how_to_allow.format(modules=" ".join(names), module_list=names)
        )
    for module, where in needed:
        if module not in sys.modules:
            import_plugin_modules([module], where)


def load_plugins() -> None:
    """Import the built-in components and every installed ``machamp_lite.plugins`` entry point."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from . import components  # noqa: F401  (registers the built-in components)

    load_entry_point_plugins()


def load_entry_point_plugins() -> None:
    """Import every installed ``machamp_lite.plugins`` entry point (again: a module that is
    already imported is not re-run), e.g. after a package was installed into this process."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:  # a broken third-party plugin must not stop the library
            import warnings

            warnings.warn(
                f"machamp-lite plugin {entry.name!r} failed to load: {error}", stacklevel=2
            )
