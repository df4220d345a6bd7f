"""The seams of the house (issue 13), checked on the source: no module outside a task type's own
file names a built-in task type, nothing outside the encoder and tokenization modules touches
subwords, and modules stay small enough to read."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import machamp_lite
from machamp_lite.registry import decoders

PACKAGE = Path(machamp_lite.__file__).resolve().parent
SUBWORD_NAMES = {"subwords", "SubwordTokenizer", "build_inputs", "subword_ids", "pooling"}
# data/context.py is tokenization.py's context half (split off for size), inside the same layer.
SUBWORD_MODULES = {"modules/encoder.py", "data/tokenization.py", "data/context.py"}
MAX_LINES = 450
MAX_TRAINER_LINES = 350


def modules() -> dict[str, Path]:
    return {
        path.relative_to(PACKAGE).as_posix(): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def tokens(path: Path) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))


def built_in_task_types() -> dict[str, str]:
    """Each built-in task type and the module (relative to the package) that defines it."""
    found = {}
    for name in decoders.names():
        module = decoders.get(name).__module__
        if module.startswith("machamp_lite."):
            found[name] = module.removeprefix("machamp_lite.").replace(".", "/") + ".py"
    return found


def test_no_module_names_a_built_in_task_type_outside_its_own_file():
    task_types = built_in_task_types()
    assert {"seq_bio", "seq", "classification"} <= set(task_types)
    named = []
    for relative, path in modules().items():
        for token in tokens(path):
            if token.type != tokenize.STRING:
                continue
            value = token.string.strip("\"'")
            if value in task_types and task_types[value] != relative:
                named.append(f"{relative}:{token.start[0]} names {value!r}")
    assert named == []


def test_nothing_outside_the_encoder_touches_subwords():
    touching = []
    for relative, path in modules().items():
        if relative in SUBWORD_MODULES:
            continue
        for token in tokens(path):
            if token.type == tokenize.NAME and token.string in SUBWORD_NAMES:
                touching.append(f"{relative}:{token.start[0]} uses {token.string}")
            if token.type == tokenize.STRING and token.string.strip("\"'") == ".tokenizer":
                touching.append(f"{relative}:{token.start[0]} names the tokenizer folder")
    assert touching == []


def test_modules_stay_small():
    sizes = {
        name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()
    }
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
    assert sizes["training/trainer.py"] < MAX_TRAINER_LINES
