"""Shared fixtures: a tiny BERT built inside the tests (random weights, a WordPiece tokenizer
trained on the fly), small data files, and the paths to ../shared when it is present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
DEMO = ROOT / "data" / "demo"

from machamp_lite.testing import build_tiny_model, demo_texts  # noqa: E402,F401  (re-exported)

torch.set_num_threads(2)  # the CI machines have 2 cores; more threads only add contention
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a tiny random BERT whose tokenizer was trained on the demo data."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"), demo_texts())


# The learning rates (encoder, decoders) that most fast runs of the tiny BERT train with.
TINY_OPTIMIZER = {"lr": 0.001, "decoder_lr": 0.01}


def tiny_training_params(
    path: Path,
    model: Path,
    num_epochs: int = 2,
    *,
    optimizer: dict[str, float] | None = TINY_OPTIMIZER,
    **sections: dict[str, Any],
) -> Path:
    """Write to ``path`` a parameter config for fast training runs of ``model`` (the tiny BERT):
    inputs of at most 64 subwords, ``num_epochs`` epochs, and ``optimizer`` (``None``: the
    defaults' learning rates). Each keyword of ``sections`` (``batching={...}``,
    ``encoder={...}``, ``training={...}``...) adds its keys to that section. Returns ``path``.

    Training runs in fp32 (the default, ``auto``, is bf16 on a processor with bf16 arithmetic):
    the tests compare scores across code paths to 1e-5 or exactly, which must not depend on the
    machine. tests/test_prediction_precision.py covers ``auto`` and bf16."""
    config: dict[str, Any] = {
        "transformer_model": str(model),
        "encoder": {"max_input_length": 64},
        "training": {"num_epochs": num_epochs, "precision": "fp32"},
    }
    if optimizer is not None:
        config["training"]["optimizer"] = dict(optimizer)
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return write(path, json.dumps(config))


@pytest.fixture
def tiny_params(tmp_path, tiny_model) -> Path:
    """A parameter config for fast tests: tiny model, 2 epochs, small batches."""
    return tiny_training_params(
        tmp_path / "params.json", tiny_model, batching={"batch_size": 16, "max_tokens": 1024}
    )


@pytest.fixture(scope="session")
def params(tmp_path_factory, tiny_model) -> Path:
    """A parameter config: one epoch of the tiny model (shared by the hostile-input tests)."""
    return tiny_training_params(
        tmp_path_factory.mktemp("params") / "params.json",
        tiny_model,
        1,
        batching={"batch_size": 16, "max_tokens": 1024},
    )


@pytest.fixture(scope="session")
def no_dropout_model(tmp_path_factory) -> Path:
    """A tiny BERT without dropout, so runs that differ only in batching are comparable."""
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-nodrop"), demo_texts())
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture(scope="session")
def real_models() -> dict[str, str]:
    """Paths of the real offline encoders: $ME5_SMALL / $MINILM, else ../shared/tools/get-models."""
    found = {k: os.environ[k] for k in ("ME5_SMALL", "MINILM") if os.environ.get(k)}
    if len(found) == 2:
        return found
    script = SHARED / "tools" / "get-models"
    if not script.exists():
        pytest.skip(
            "../shared/tools/get-models is absent (no shared folder beside the checkout), "
            "and ME5_SMALL/MINILM are not set"
        )
    output = subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), value.strip())
    return found


def needs_shared_data():
    return pytest.mark.skipif(
        not SHARED_DATA.is_dir(),
        reason="../shared/data is absent: the real MultiCoNER/DaN+ files live there",
    )


def one_error(capsys, code: int) -> str:
    """The command failed with exit code 2 and exactly one ``error:`` line, no traceback."""
    stderr = capsys.readouterr().err
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def demo_train_arguments(params: Path, output: Path, *extra: str) -> list[str]:
    """``machamp-lite train``'s arguments for the two demo datasets (NER and auxiliary NER)."""
    return [
        "train",
        "--dataset_configs",
        str(ROOT / "dataset_configs/demo.json"),
        str(ROOT / "dataset_configs/demo_aux.json"),
        "--parameters_config",
        str(params),
        "--output_dir",
        str(output),
        "--data_dir",
        str(ROOT),
        *extra,
    ]


def train_command(config: Path, params: Path, output: Path, *extra: str) -> list[str]:
    """The ``machamp-lite train`` command line of a fresh process, on one CPU thread."""
    return [
        sys.executable,
        "-m",
        "machamp_lite",
        "train",
        "--dataset_configs",
        str(config),
        "--parameters_config",
        str(params),
        "--output_dir",
        str(output),
        "--threads",
        "1",
        "--device",
        "cpu",
        *extra,
    ]


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)`` mounts a small file system of ``size`` (e.g. "64k") in the test's folder,
    to fill a disk for real (the tests run as root on Linux); the test is skipped, with the
    reason, where mounting is not permitted."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"tmpfs-{len(mounted)}"
        folder.mkdir()
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root on Linux")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def build_trainer(dataset_config: Path, params: dict[str, Any], run_dir: Path):
    """A Trainer on a dataset config's training data, built as training/run.py builds one (no
    dev data, CPU, seed 0), for tests that drive the training loop step by step."""
    from machamp_lite.config import load_dataset_configs
    from machamp_lite.model import build_model, collect_tasks
    from machamp_lite.training.splits import build_vocabularies, encode_splits, read_splits
    from machamp_lite.training.trainer import Trainer

    datasets = load_dataset_configs([str(dataset_config)])
    tasks = collect_tasks(datasets)
    train, _ = read_splits(datasets)
    vocabularies = build_vocabularies(tasks, train)
    torch.manual_seed(0)
    model = build_model(params, tasks, vocabularies)
    encode_splits(model.encoder, train)
    return Trainer(model, params, tasks, train, [], run_dir, torch.device("cpu"), 0)
