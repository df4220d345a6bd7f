"""The manual's examples stay true: Python blocks run, files they name are written first, JSON
configs validate, every machamp-lite command line parses, and relative links resolve."""

from __future__ import annotations

import re
import shlex
import sys

import pytest

from machamp_lite.cli import build_parser
from machamp_lite.config import load_config_file, validate_against_defaults, validate_dataset
from machamp_lite.reference import default_params
from machamp_lite.registry import decoders, encoders, load_plugins, metrics, readers

from conftest import ROOT, tiny_training_params

DOCS = ROOT / "docs"
PAGES = [
    "index.md",
    "quickstart.md",
    "concepts.md",
    "configuration.md",
    "new-decoder.md",
    "new-reader.md",
    "api.md",
    "faq.md",
    "context.md",
]
# Other Markdown files whose commands and links are checked too.
EXTRA_PAGES = ["../examples/plugin/README.md"]
# Pages that other parts of the project write; links to them may precede them.
OTHER_PAGES = {"evaluation.md", "errors.md", "performance.md", "reproducing.md", "scaling.md"}

# A fenced block, optionally preceded by a directive comment: <!-- file: PATH --> writes the
# block to PATH in the sandbox instead of running it; <!-- not run --> only compiles it.
BLOCK = re.compile(
    r"(?:<!--\s*(?P<directive>[^>]*?)\s*-->\n)?^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$",
    re.S | re.M,
)


def blocks(page: str) -> list[tuple[str, str, str, int]]:
    """(directive, language, body, line number) of every fenced block of a page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [
        (m["directive"] or "", m["lang"], m["body"], text.count("\n", 0, m.start("body")) + 1)
        for m in BLOCK.finditer(text)
    ]


@pytest.fixture
def sandbox(tmp_path, monkeypatch, tiny_model):
    """A working directory that looks like the repository root to the examples: the demo data
    and dataset configs, and a ``param_configs/demo.json`` that names the tiny test model
    instead of all-MiniLM-L6-v2 (so the examples train in seconds). Registrations and modules
    that the examples add are undone afterwards."""
    (tmp_path / "data").symlink_to(ROOT / "data", target_is_directory=True)
    (tmp_path / "dataset_configs").symlink_to(ROOT / "dataset_configs", target_is_directory=True)
    (tmp_path / "param_configs").mkdir()
    tiny_training_params(
        tmp_path / "param_configs" / "demo.json",
        tiny_model,
        2,
        batching={"batch_size": 32, "max_tokens": 2048},
    )
    load_plugins()
    for registry in (readers, encoders, decoders, metrics):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        module = sys.modules[name]
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


def test_every_page_exists_and_the_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in PAGES[1:] + sorted(OTHER_PAGES):
        assert (DOCS / page).is_file() or page in OTHER_PAGES, page
        assert f"]({page})" in index, f"docs/index.md does not link {page}"


@pytest.mark.parametrize("page", PAGES + EXTRA_PAGES)
def test_relative_links_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    folder = (DOCS / page).parent
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#")[0]
        if path in OTHER_PAGES:
            continue
        assert (folder / path).exists(), f"docs/{page}: link to {target} does not resolve"


PYTHON_PAGES = [page for page in PAGES if any(lang == "python" for _, lang, _, _ in blocks(page))]


@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_examples_run_in_order(page, sandbox):
    namespace: dict = {"__name__": "__docs__"}
    for directive, lang, body, line in blocks(page):
        where = f"docs/{page}, block at line {line}"
        if directive.startswith("file:"):
            target = sandbox / directive.split(":", 1)[1].strip()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            continue
        if lang != "python":
            continue
        code = compile(body, where, "exec")
        if directive == "not run":
            continue
        exec(code, namespace)  # noqa: S102  (the documentation's own examples)


def config_blocks() -> list:
    return [
        pytest.param(page, body, line, id=f"{page}:{line}")
        for page in PAGES
        for directive, lang, body, line in blocks(page)
        if lang in ("json", "jsonnet")
    ]


@pytest.mark.parametrize("page,body,line", config_blocks())
def test_json_examples_are_valid_configs(page, body, line, tmp_path):
    path = tmp_path / "config.jsonnet"
    path.write_text(body, encoding="utf-8")
    config = load_config_file(path)
    where = f"docs/{page}, block at line {line}"
    if all(isinstance(v, dict) and "tasks" in v for v in config.values()):
        for name, dataset in config.items():
            validate_dataset(name, dataset, where, None)
    else:
        validate_against_defaults(config, default_params(), where)


def command_lines() -> list:
    found = []
    for page in PAGES + EXTRA_PAGES:
        for _, lang, body, line in blocks(page):
            if lang not in ("bash", "sh", "console"):
                continue
            for offset, command in enumerate(body.replace("\\\n", " ").split("\n")):
                if "machamp-lite " in command.split("#")[0]:
                    found.append(
                        pytest.param(page, command, line + offset, id=f"{page}:{line + offset}")
                    )
    return found


@pytest.mark.parametrize("page,command,line", command_lines())
def test_command_lines_parse(page, command, line):
    words = shlex.split(command.split(" | ")[0], comments=True)  # the command before a pipe
    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before the command
        words.pop(0)
    if words[0] == "$":
        words.pop(0)
    assert words[0] == "machamp-lite", f"docs/{page}:{line}: {command}"
    try:
        build_parser().parse_args(words[1:])
    except SystemExit:
        pytest.fail(f"docs/{page}:{line}: the command line does not parse: {command}")


def test_the_documented_python_api_exists():
    import inspect

    import machamp_lite
    from machamp_lite import evaluation
    from machamp_lite.predict import Predictor

    documented = (DOCS / "api.md").read_text(encoding="utf-8")
    train_arguments = inspect.signature(machamp_lite.train).parameters
    for name in re.findall(r"^\| `(\w+)` \|", documented.split("## Predictor")[0], re.M):
        assert name in train_arguments, f"docs/api.md documents train({name}=...)"
    for name in ("load", "predict", "predict_file"):
        assert callable(getattr(Predictor, name))
    for name in ("evaluate_files", "evaluate_pairs", "evaluate_compare", "evaluate_by_language"):
        assert f"`{name}" in documented and callable(getattr(evaluation, name))


def test_readme_commands_in_the_quickstart_are_the_readmes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    train = re.search(
        r"machamp-lite train --dataset_configs dataset_configs/demo\.json[^\n]*", readme
    )
    assert train and train.group(0).split(" && ")[0] in quickstart


def test_pages_mention_no_missing_path():
    """Paths in backticks that look like repository files exist (docs rot when files move)."""
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for path in re.findall(
            r"`((?:machamp_lite|tests|examples|param_configs|dataset_configs|"
            r"data)/[\w./-]+)`",
            text,
        ):
            assert (ROOT / path).exists(), f"docs/{page} mentions {path}, which does not exist"
