"""The JSON values a component argument accepts, read from the constructor's annotations.

A config is JSON, so an annotation is read as a statement about JSON values: ``float`` takes
any number (JSON does not tell 1 from 1.0), ``int`` takes whole numbers, ``bool`` takes only
``true``/``false`` (Python's ``True == 1`` must not let ``"dropout": true`` through), ``str``
takes strings and never a number written as one (``"0.1"`` is a typo to report, not a value
to convert), sequences take lists, mappings take objects, ``Literal`` takes its values, and
unions take what any member takes. An annotation with no JSON meaning (a tensor, a
vocabulary: arguments that machamp-lite passes itself) constrains nothing.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any

ANY = inspect.Parameter.empty  # "no constraint": no annotation, or one that cannot be resolved
_SEQUENCES = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Collection,
    collections.abc.Iterable,
    collections.abc.Set,
)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def constructor(component: Callable[..., Any]) -> Callable[..., Any]:
    """What a config's keys are passed to: a class's ``__init__``, or the builder function."""
    return component.__init__ if inspect.isclass(component) else component


def _resolve(text: str, target: Callable[..., Any]) -> Any:
    """One postponed annotation (``from __future__ import annotations``) evaluated in the
    namespace of the function that declares it, by typing's own public resolver."""

    def holder() -> None:
        pass

    holder.__annotations__ = {"value": text}
    namespace = getattr(inspect.unwrap(target), "__globals__", {})
    return typing.get_type_hints(holder, globalns=namespace)["value"]


def argument_annotations(component: Callable[..., Any]) -> dict[str, Any]:
    """Each argument's annotation as an object; ``ANY`` for one that is absent or cannot be
    resolved (a plugin may annotate with names imported only for type checkers: that must
    cost it the check of that argument, not the use of the component)."""
    target = constructor(component)
    annotations = {}
    for name, param in inspect.signature(target).parameters.items():
        annotation = param.annotation
        if isinstance(annotation, str):
            try:
                annotation = _resolve(annotation, target)
            except Exception:  # NameError, SyntaxError, TypeError from a foreign annotation
                annotation = ANY
        annotations[name] = annotation
    return annotations


def _parts(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    return typing.get_origin(annotation), typing.get_args(annotation)


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or origin is types.UnionType


def _item_type(annotation: Any) -> Any:
    """The element annotation of a sequence (``ANY`` for a bare ``list`` or ``tuple[int, str]``)."""
    args = typing.get_args(annotation)
    if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis):
        return args[0]
    return ANY


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and origin in _SEQUENCES


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and origin in _MAPPINGS


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fits(value: Any, annotation: Any) -> bool:
    """Whether a JSON value is one that ``annotation`` accepts (see the module's docstring)."""
    if annotation in (ANY, Any, object):
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin, args = _parts(annotation)
    if _is_union(origin):
        return any(fits(value, member) for member in args)
    if origin is typing.Literal:
        return any(value == choice and type(value) is type(choice) for choice in args)
    if origin is typing.Annotated:
        return fits(value, args[0])
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return is_number(value) and math.isfinite(value) and float(value).is_integer()
    if annotation is float:
        return is_number(value)
    if annotation is str:
        return isinstance(value, str)
    if _is_sequence(annotation):
        item = _item_type(annotation)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if _is_mapping(annotation):
        item = args[1] if len(args) == 2 else ANY
        return isinstance(value, dict) and all(fits(v, item) for v in value.values())
    return True  # a class with no JSON form: not something a config can be checked against


def describe(annotation: Any, plural: bool = False) -> str:
    """What ``annotation`` accepts, in the words of an error message: "a number", "a list of
    integers", "a string or null", "one of "first", "mean""; "" when it accepts anything."""
    if annotation in (ANY, Any, object):
        return ""
    if annotation is None or annotation is type(None):
        return "null"
    origin, args = _parts(annotation)
    if _is_union(origin):
        names = [describe(member, plural) for member in args]
        return "" if "" in names else " or ".join(dict.fromkeys(names))
    if origin is typing.Literal:
        return "one of " + ", ".join(json.dumps(choice) for choice in args)
    if origin is typing.Annotated:
        return describe(args[0], plural)
    if annotation in _NAMES:
        return (_PLURALS if plural else _NAMES)[annotation]
    if _is_sequence(annotation):
        items = describe(_item_type(annotation), plural=True)
        head = "lists" if plural else "a list"
        return f"{head} of {items}" if items else head
    if _is_mapping(annotation):
        return "objects" if plural else "an object"
    return ""


def json_types(annotation: Any) -> list[str]:
    """The JSON Schema type names ``annotation`` accepts, for machine-readable listings;
    empty when it accepts anything."""
    if annotation in (ANY, Any, object):
        return []
    if annotation is None or annotation is type(None):
        return ["null"]
    origin, args = _parts(annotation)
    if _is_union(origin):
        found = [json_types(member) for member in args]
        return [] if [] in found else list(dict.fromkeys(t for names in found for t in names))
    if origin is typing.Literal:
        kinds = (_JSON_TYPES.get(type(c), "null" if c is None else "string") for c in args)
        return list(dict.fromkeys(kinds))
    if origin is typing.Annotated:
        return json_types(args[0])
    if annotation in _JSON_TYPES:
        return [_JSON_TYPES[annotation]]
    if _is_sequence(annotation):
        return ["array"]
    if _is_mapping(annotation):
        return ["object"]
    return []


def whole_number_only(annotation: Any) -> bool:
    """Whether the argument takes whole numbers but not fractions: a config's ``256.0`` for
    it is passed on as ``256`` (``nn.Linear`` refuses a float width)."""
    return fits(2, annotation) and not fits(2.5, annotation) and not fits("x", annotation)
