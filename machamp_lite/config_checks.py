"""What a parameter value may be (type, range, choices), and the collector that turns every
problem found in the configs into one error.

A user who made three mistakes should learn about all three from one run, so the checks here
*describe* a problem (``value_problem`` returns a sentence or None) and the callers gather the
sentences in a ``Problems`` list that raises once, at the end, one line per problem.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeGuard

from .config_files import default_params
from .errors import ConfigError


class Problems:
    """The problems found so far, each a full sentence that names its file, dataset, task and
    key. ``raise_if_any`` raises one ConfigError: the sentence itself when there is one (so a
    single mistake reads as it always did), else a header and one ``  - `` line per problem.
    A lone problem keeps its error class (a RegistryError stays one), as callers catch those."""

    def __init__(self) -> None:
        self._items: list[tuple[str, type[ConfigError]]] = []

    def add(self, message: str, kind: type[ConfigError] = ConfigError) -> None:
        if all(message != known for known, _ in self._items):
            self._items.append((message, kind))

    def add_error(self, error: ConfigError) -> None:
        """An error raised by a helper (a file that cannot be read, an unknown component):
        one problem, or each of the problems it already gathered."""
        for message in getattr(error, "problems", None) or [str(error)]:
            self.add(message, type(error))

    @contextmanager
    def catch(self) -> Iterator[None]:
        """Run a block that may raise a ConfigError, and keep going with its problem noted."""
        try:
            yield
        except ConfigError as error:
            self.add_error(error)

    @property
    def messages(self) -> list[str]:
        return [message for message, _ in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def raise_if_any(self) -> None:
        if not self._items:
            return
        if len(self._items) == 1:
            message, kind = self._items[0]
            raise kind(message)
        lines = "\n".join(f"  - {message}" for message in self.messages)
        error = ConfigError(f"the configuration has {len(self._items)} problems:\n{lines}")
        error.problems = self.messages  # type: ignore[attr-defined]
        raise error


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: bounds (open or closed), and whether it must be
    a whole number. ``describe`` says it in the words of an error message."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.integer and not float(value).is_integer():
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or not (
            value > self.high or (self.high_open and value == self.high)
        )

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        parts = []
        if self.low is not None:
            parts.append(f"{'above' if self.low_open else 'at least'} {_plain(self.low)}")
        if self.high is not None:
            parts.append(f"{'below' if self.high_open else 'at most'} {_plain(self.high)}")
        # The type is checked before the range, so bounds alone say what is wrong.
        return " and ".join(parts) if parts else kind

    def notation(self) -> str:
        """Compact form for the reference tables: ``integer >= 1``, ``in [0, 1)``."""
        prefix = "integer " if self.integer else ""
        low, high = self.low, self.high
        if low is not None and high is not None:
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{prefix}in {opening}{_plain(low)}, {_plain(high)}{closing}"
        if low is not None:
            return f"{prefix}{'>' if self.low_open else '>='} {_plain(low)}"
        if high is not None:
            return f"{prefix}{'<' if self.high_open else '<='} {_plain(high)}"
        return prefix.strip()


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else str(number)


POSITIVE_INT = Range(1, integer=True)
FRACTION = Range(0, 1)  # 0 <= x <= 1
DROPOUT = Range(0, 1, high_open=True)  # torch accepts 1, but p = 1 zeroes every vector
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
MAX_SEED = 2**32 - 1  # numpy's seed range; torch and random accept it too

# Every numeric parameter with the values it may take; a test checks that each numeric key of
# the defaults is listed, so a new setting cannot slip in unchecked.
PARAM_LIMITS: dict[str, Range] = {
    "random_seed": Range(0, MAX_SEED, integer=True),
    "default_dec_dataset_embeds_dim": POSITIVE_INT,
    "encoder.max_input_length": Range(3, integer=True),
    "encoder.dropout": DROPOUT,
    "encoder.window_overlap": Range(0, 1, high_open=True),
    "encoder.freeze_layers": Range(0, integer=True),  # the upper limit is the model's
    "decoder.dropout": DROPOUT,
    "batching.batch_size": POSITIVE_INT,
    "batching.max_tokens": POSITIVE_INT,
    "batching.sampling_smoothing": NON_NEGATIVE,
    "training.num_epochs": POSITIVE_INT,
    "training.keep_top_n": POSITIVE_INT,
    "training.optimizer.lr": NON_NEGATIVE,
    "training.optimizer.decoder_lr": NON_NEGATIVE,
    "training.optimizer.weight_decay": NON_NEGATIVE,
    "training.optimizer.betas": Range(0, 1, high_open=True),  # each of the two
    "training.optimizer.eps": POSITIVE,
    "training.learning_rate_scheduler.warmup_fraction": FRACTION,
    "training.learning_rate_scheduler.cut_frac": Range(0, 1, low_open=True, high_open=True),
    "training.learning_rate_scheduler.ratio": Range(1),
    "training.learning_rate_scheduler.decay_factor": Range(0, low_open=True),
    "training.grad_clip": NON_NEGATIVE,
    "training.accumulation_steps": POSITIVE_INT,
    "training.memory_budget_gb": POSITIVE,
    "prediction.batch_size": POSITIVE_INT,
    "prediction.max_tokens": POSITIVE_INT,
    "prediction.chunk_sentences": POSITIVE_INT,
}
# Number keys that also take null: no budget; decoders at the encoder's rate; a sixth of the
# encoder's layers frozen.
NULLABLE_NUMBERS = {
    "training.memory_budget_gb",
    "training.optimizer.decoder_lr",
    "encoder.freeze_layers",
}
# Keys whose default is a list of numbers, and how long the list must be.
NUMBER_LISTS = {"training.optimizer.betas": 2}
# String settings with a fixed set of values, checked with the rest before anything is built.
PARAM_CHOICES: dict[str, tuple[str, ...]] = {
    "encoder.pooling": ("first", "last", "mean"),
    "training.optimizer.type": ("adamw",),
    "training.learning_rate_scheduler.type": ("linear", "slanted_triangular", "constant"),
    "training.precision": ("auto", "fp32", "bf16", "fp16"),
}

# Limits of component (decoder, encoder) arguments that every component shares by name; a
# component adds its own in an ``argument_limits`` class attribute.
ARGUMENT_LIMITS: dict[str, Range] = {"dropout": DROPOUT}


def component_limits(component: Any) -> dict[str, Range]:
    limits = dict(ARGUMENT_LIMITS)
    limits.update(getattr(component, "argument_limits", {}) or {})
    return limits


def type_name(value: Any) -> str:
    """A JSON value's kind as an error message says it: "a number", "a list", "null"."""
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value as JSON (NaN included, as the user wrote it), or its repr when not JSON."""
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return repr(value)


def is_number(value: Any) -> TypeGuard[int | float]:
    """int or float, not bool: JSON's ``true`` is not 1 in a config."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def limits_problem(
    value: float, dotted: str, limits: dict[str, Range] | None = None, whole: Any = None
) -> str | None:
    """Why a number is outside the key's range (``limits``: a component's own, by argument
    name; else ``PARAM_LIMITS``); every number must at least be finite. ``whole`` is what the
    message shows, when the number is one item of a list."""
    allowed = (PARAM_LIMITS if limits is None else limits).get(dotted, Range())
    if allowed.contains(value):
        return None
    expected = allowed.describe() if math.isfinite(value) else "a finite number"
    return f"key {dotted!r} must be {expected}, got {shown(value if whole is None else whole)}"


def value_problem(
    value: Any, default: Any, dotted: str, limits: dict[str, Range] | None = None
) -> str | None:
    """Why one setting's value does not fit its default's type and the key's limits or
    choices, or None when it does."""
    if dotted in NULLABLE_NUMBERS:
        if value is None:
            return None
        allowed = (PARAM_LIMITS if limits is None else limits).get(dotted, Range())
        kind = "an integer" if allowed.integer else "a number"
        whole = not allowed.integer or (is_number(value) and float(value).is_integer())
        if not is_number(value) or not whole:
            return f"key {dotted!r} must be {kind} or null, got {shown(value)}"
        return limits_problem(value, dotted, limits)
    if dotted in NUMBER_LISTS:
        length = NUMBER_LISTS[dotted]
        if not (isinstance(value, list) and len(value) == length and all(map(is_number, value))):
            return (
                f"key {dotted!r} must be a list of {length} numbers "
                f"(like the default {json.dumps(default)}), got {json.dumps(value)}"
            )
        for item in value:
            problem = limits_problem(item, dotted, limits, whole=value)
            if problem:
                return problem
        return None
    if default is None:
        return None  # no type to compare with (e.g. an open value)
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, (int, float)):
        ok = is_number(value)
        if ok and isinstance(default, int):
            ok = float(value).is_integer() if math.isfinite(value) else False
    else:
        ok = isinstance(value, type(default))
    if not ok:
        return (
            f"key {dotted!r} must be {type_name(default)} "
            f"(like the default {json.dumps(default)}), got {shown(value)}"
        )
    if is_number(value):
        return limits_problem(value, dotted, limits)
    if dotted in PARAM_CHOICES and value not in PARAM_CHOICES[dotted]:
        return (
            f"key {dotted!r} must be one of {', '.join(PARAM_CHOICES[dotted])}, "
            f"got {json.dumps(value)}"
        )
    return None


def check_value(
    value: Any, default: Any, dotted: str, where: str, limits: dict[str, Range] | None = None
) -> None:
    """``value_problem`` as an error that names ``where``, for callers that check one value."""
    problem = value_problem(value, default, dotted, limits)
    if problem:
        raise ConfigError(f"{where}: {problem}")


def validate_against_defaults(
    given: dict[str, Any],
    defaults: dict[str, Any],
    where: str,
    prefix: str = "",
    problems: Problems | None = None,
) -> None:
    """Check every key of ``given`` exists in ``defaults`` with a compatible type and, for
    numbers and choices, an allowed value (``PARAM_LIMITS``, ``PARAM_CHOICES``).

    ``null`` is only accepted where the default is null; open sections (``"*"`` key) accept
    any key. Every problem is noted in ``problems``; without one, they are raised together."""
    own = problems is None
    problems = Problems() if problems is None else problems
    for key, value in given.items():
        dotted = f"{prefix}{key}"
        if key not in defaults:
            if "*" not in defaults:
                problems.add(
                    f"{where}: unknown key {dotted!r}; expected one of: "
                    f"{', '.join(prefix + k for k in sorted(defaults))}"
                )
            continue
        default = defaults[key]
        if value is None:
            if default is not None and dotted not in NULLABLE_NUMBERS:
                problems.add(
                    f"{where}: key {dotted!r} must be {type_name(default)} "
                    f"(like the default {json.dumps(default)}), got null"
                )
            continue
        if isinstance(default, dict):
            if isinstance(value, dict):
                validate_against_defaults(value, default, where, dotted + ".", problems)
            else:
                problems.add(f"{where}: key {dotted!r} must be an object, got {type_name(value)}")
            continue
        problem = value_problem(value, default, dotted)
        if problem:
            problems.add(f"{where}: {problem}")
    if own:
        problems.raise_if_any()


def validate_params(
    params: dict[str, Any], where: str, required: tuple[str, ...] = ("transformer_model", "encoder")
) -> None:
    """Check a stored parameter set (in a model folder or a run directory) the way a user's
    file is checked: every key known, every value of its type and range, and the sections a
    model cannot be built without present; every problem in one error."""
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    problems = Problems()
    for key in required:
        if key not in params:
            problems.add(f"{where}: missing required key {key!r}")
    from .config_machamp import check_decoders_section

    if "decoders" in params:
        check_decoders_section(params["decoders"], where, problems)
    rest = {k: v for k, v in params.items() if k != "decoders"}
    validate_against_defaults(rest, default_params(), where, problems=problems)
    problems.raise_if_any()
