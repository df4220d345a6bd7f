"""Trust: configs and run directories from other people cannot make machamp-lite write outside
the run, numbers are checked before anything is created, repeated flags accumulate, and
signals, full disks and jsonnet bombs end in one clear error line."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_hostile_input import (  # noqa: F401  (the fixtures are used here)
    dataset_config,
    no_stale_console_handler,
    sentences,
    train_cli,
)

from machamp_lite.cli import build_parser, main
from machamp_lite.config import (
    DEFAULT_PARAMS_PATH,
    NULLABLE_NUMBERS,
    NUMBER_LISTS,
    PARAM_CHOICES,
    PARAM_LIMITS,
    Range,
)

from conftest import one_error, train_command, write


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


# ---- 1. nothing is written outside the run directory ----

HOSTILE_NAMES = {
    "parent": "../escaped",
    "absolute": "/tmp/machamp-lite-escaped",
    "nested": "a/../../escaped",
    "dotdot": "..",
    "dot": ".",
    "backslash": "..\\escaped",
    "nul": "bad\x00name",
    "newline": "bad\nname",
    "too_long": "x" * 300,
}


@pytest.mark.parametrize("name", list(HOSTILE_NAMES.values()), ids=list(HOSTILE_NAMES))
def test_a_dataset_name_that_is_a_path_is_refused_before_anything_is_written(
    tmp_path, params, capsys, name
):
    work = tmp_path / "work"
    train = write(tmp_path / "train.conll", sentences())
    dev = write(tmp_path / "dev.conll", sentences())
    config = write(
        tmp_path / "evil.json",
        json.dumps(
            {
                name: {
                    "train_data_path": str(train),
                    "dev_data_path": str(dev),
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
    )
    before = files_under(tmp_path)
    error = one_error(capsys, train_cli(params, work / "logs", config))
    assert error.startswith(f"error: {config}: dataset name ")
    assert "cannot be used" in error
    assert files_under(tmp_path) == before  # no run directory, nothing beside it
    assert not Path("/tmp/machamp-lite-escaped").exists()


def test_a_task_name_that_is_a_path_is_refused(tmp_path, params, capsys):
    train = write(tmp_path / "train.conll", sentences())
    config = write(
        tmp_path / "evil.json",
        json.dumps(
            {"ok": {"train_data_path": str(train), "tasks": {"../ner": {"task_type": "seq_bio"}}}}
        ),
    )
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: {config}, dataset 'ok': task name '../ner' cannot be used")
    assert not (tmp_path / "logs").exists()


def test_a_resumed_run_directory_with_an_edited_dataset_name_writes_nothing_outside(
    tmp_path, params, capsys
):
    """A run directory copied from someone else: its datasets.json names a dataset '../../x'."""
    config = dataset_config(tmp_path, dev_data_path=str(write(tmp_path / "d.conll", sentences())))
    assert train_cli(params, tmp_path / "logs", config) == 0
    [run] = (tmp_path / "logs" / "run").iterdir()
    datasets = json.loads((run / "datasets.json").read_text())
    datasets = {"../../x": next(iter(datasets.values()))}
    (run / "datasets.json").write_text(json.dumps(datasets))
    capsys.readouterr()
    before = files_under(tmp_path)
    error = one_error(capsys, main(["train", "--resume", str(run), "--device", "cpu"]))
    assert f"{run / 'datasets.json'}: dataset name '../../x' cannot be used" in error
    assert files_under(tmp_path) == before


def test_dev_files_of_one_dataset_with_the_same_name_keep_separate_predictions(
    tmp_path, params, capsys
):
    first = write(tmp_path / "a" / "dev.conll", sentences(2))
    second = write(tmp_path / "b" / "dev.conll", sentences(3))
    config = dataset_config(tmp_path, dev_data_path=[str(first), str(second)])
    assert train_cli(params, tmp_path / "logs", config) == 0
    [run] = (tmp_path / "logs" / "run").iterdir()
    written = sorted(p.name for p in (run / "dev_predictions" / "small").iterdir())
    assert written == ["dev-2.conll", "dev.conll"]
    lines = (run / "dev_predictions" / "small" / "dev-2.conll").read_text().count("\n")
    assert lines == second.read_text().count("\n")


# ---- 4. every numeric setting is checked before a run directory exists ----


def _outside(limits: Range) -> list[float]:
    """Values each limit must refuse: below, at an open bound, above, a fraction for an integer,
    and non-finite numbers."""
    bad = [math.nan, math.inf]
    if limits.low is not None:
        bad.append(limits.low if limits.low_open else limits.low - 1)
        bad.append(-1e9)
    if limits.high is not None:
        bad.append(limits.high if limits.high_open else limits.high + 1)
    if limits.integer:
        bad.append((limits.low or 0) + 1.5)
    return bad


def _defaults() -> dict:
    return json.loads(DEFAULT_PARAMS_PATH.read_text())


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_every_numeric_parameter_has_limits():
    numeric = {
        key
        for key, value in _leaves(_defaults())
        if (isinstance(value, (int, float)) and not isinstance(value, bool))
        or key in NULLABLE_NUMBERS
        or key in NUMBER_LISTS
    }
    assert numeric and numeric <= set(PARAM_LIMITS), numeric - set(PARAM_LIMITS)


BAD_OVERRIDES = [
    (key, value)
    for key, limits in sorted(PARAM_LIMITS.items())
    for value in _outside(limits)
    if key not in NUMBER_LISTS
] + [
    ("training.optimizer.betas", [0.9, 1.0]),
    ("training.optimizer.betas", [-0.1, 0.999]),
    ("training.optimizer.betas", [0.9]),
    ("training.optimizer.betas", ["0.9", 0.999]),
    ("training.num_epochs", None),
    ("prediction.chunk_sentences", "many"),
    ("encoder.pooling", "max"),
    ("training.precision", "fp8"),
    ("training.learning_rate_scheduler.type", "cosine"),
]


@pytest.mark.parametrize(("key", "value"), BAD_OVERRIDES, ids=lambda v: str(v))
def test_an_out_of_range_parameter_is_one_error_before_anything_is_created(
    tmp_path, params, capsys, key, value
):
    config = dataset_config(tmp_path)
    override = f"{key}={json.dumps(value, allow_nan=True)}"
    code = train_cli(params, tmp_path / "logs", config, extra=("--override", override))
    error = one_error(capsys, code)
    assert error.startswith(f"error: --override: key '{key}' must be ")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(("key", "choices"), sorted(PARAM_CHOICES.items()))
def test_every_choice_of_a_choice_parameter_is_accepted(key, choices):
    from machamp_lite.config import load_params

    for choice in choices:
        assert load_params(None, [f"{key}={choice}"])[key.split(".")[0]] is not None


def test_a_bad_number_in_a_parameters_file_names_the_file(tmp_path, params, capsys):
    config = dataset_config(tmp_path)
    bad = write(tmp_path / "p.json", json.dumps({"prediction": {"chunk_sentences": 0}}))
    error = one_error(capsys, train_cli(bad, tmp_path / "logs", config))
    assert error == f"error: {bad}: key 'prediction.chunk_sentences' must be at least 1, got 0"
    assert not (tmp_path / "logs").exists()


DATASET_CASES = {
    "max_sents_zero": ({"max_sents": 0}, "key 'max_sents' must be -1 (every sentence) or at least"),
    "max_sents_negative": ({"max_sents": -5}, "key 'max_sents' must be -1"),
    "max_dev_sents_zero": ({"max_dev_sents": 0}, "key 'max_dev_sents' must be -1"),
    "sent_idxs_negative": ({"sent_idxs": [-1]}, "key 'sent_idxs' must be a list of column"),
}
TASK_CASES = {
    "loss_weight_negative": ({"loss_weight": -1}, "key 'loss_weight' is negative (-1)"),
    "loss_weight_nan": ({"loss_weight": math.nan}, "key 'loss_weight' must be a finite number"),
    "loss_weight_string": ({"loss_weight": "1"}, "key 'loss_weight' must be a finite number"),
    "dropout_string": ({"dropout": "0.1"}, "key 'dropout' must be a number"),
    "dropout_one": ({"dropout": 1}, "key 'dropout' must be at least 0 and below 1, got 1"),
    "dropout_negative": ({"dropout": -0.1}, "key 'dropout' must be at least 0 and below 1"),
    "allow_flag_string": (
        {"allow_negative_loss_weight": "yes"},
        "key 'allow_negative_loss_weight' must be true or false",
    ),
}


@pytest.mark.parametrize("case", list(DATASET_CASES) + list(TASK_CASES))
def test_a_bad_number_in_a_dataset_or_task_names_the_dataset_and_key(
    tmp_path, params, capsys, case
):
    train = write(tmp_path / "train.conll", sentences())
    settings, expected = {**DATASET_CASES, **TASK_CASES}[case]
    task = {"task_type": "seq_bio", "column_idx": -1}
    dataset = {"train_data_path": str(train), "tasks": {"ner": task}}
    (task if case in TASK_CASES else dataset).update(settings)
    config = write(tmp_path / "d.json", json.dumps({"small": dataset}, allow_nan=True))
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: {config}, dataset 'small'")
    assert expected in error
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (
            {"task_type": "multiseq", "threshold": 1},
            "key 'threshold' must be at least 0 and below 1",
        ),
        ({"task_type": "multiseq", "threshold": -0.5}, "key 'threshold' must be at least 0"),
        ({"task_type": "dependency", "arc_dim": 0}, "key 'arc_dim' must be at least 1, got 0"),
        ({"task_type": "dependency", "single_root": 1}, "key 'single_root' must be a boolean"),
    ],
)
def test_decoder_arguments_are_checked_by_type_and_range(tmp_path, params, capsys, task, expected):
    train = write(tmp_path / "train.conll", sentences())
    config = write(
        tmp_path / "d.json",
        json.dumps({"small": {"train_data_path": str(train), "tasks": {"t": task}}}),
    )
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: {config}, dataset 'small', task 't'") and expected in error
    assert not (tmp_path / "logs").exists()


def test_a_negative_loss_weight_trains_when_explicitly_allowed(tmp_path, params):
    from machamp_lite.config import load_dataset_configs

    train = write(tmp_path / "train.conll", sentences())
    task = {"task_type": "seq_bio", "loss_weight": -0.5, "allow_negative_loss_weight": True}
    config = write(
        tmp_path / "d.json",
        json.dumps({"s": {"train_data_path": str(train), "tasks": {"t": task}}}),
    )
    assert load_dataset_configs([str(config)])["s"]["tasks"]["t"]["loss_weight"] == -0.5


MAX = 2**32 - 1


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--threads", "0"), "error: --threads 0: must be at least 1"),
        (("--threads", "-2"), "error: --threads -2: must be at least 1"),
        (("--seed", "-1"), f"error: --seed -1: must be at least 0 and at most {MAX}"),
        (
            ("--seed", str(2**40)),
            f"error: --seed {2**40}: must be at least 0 and at most 4294967295",
        ),
        (("--memory_budget_gb", "0"), "error: --memory_budget_gb 0.0: must be above 0"),
        (("--memory_budget_gb", "nan"), "error: --memory_budget_gb nan: must be above 0"),
        (("--nproc", "0"), "error: --nproc 0: must be at least 1"),
    ],
)
def test_numeric_command_line_flags_are_checked_before_anything_is_created(
    tmp_path, params, capsys, flags, expected
):
    config = dataset_config(tmp_path)
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config, extra=flags))
    assert error == expected
    assert not (tmp_path / "logs").exists()


# ---- 6. repeated flags accumulate ----


def test_repeated_override_flags_all_apply(tmp_path, params):
    config = dataset_config(tmp_path)
    code = train_cli(
        params,
        tmp_path / "logs",
        config,
        extra=(
            "--override",
            "batching.batch_size=3",
            "--override",
            "training.optimizer.eps=1e-07",
            "small.max_sents=2",
        ),
    )
    assert code == 0
    [run] = (tmp_path / "logs" / "run").iterdir()
    saved = json.loads((run / "params.json").read_text())
    assert saved["batching"]["batch_size"] == 3  # the first --override is kept
    assert saved["training"]["optimizer"]["eps"] == 1e-07
    assert json.loads((run / "datasets.json").read_text())["small"]["max_sents"] == 2


def test_repeated_flags_accumulate_on_experiment_and_train():
    parser = build_parser()
    args = parser.parse_args(
        [
            "experiment",
            "--dataset_configs",
            "a.json",
            "--dataset_configs",
            "b.json",
            "--parameters_configs",
            "p.json",
            "--parameters_configs",
            "q.json",
            "--seeds",
            "1",
            "--seeds",
            "2",
            "3",
            "--override",
            "x=1",
            "--override",
            "y=2",
            "--name",
            "grid",
        ]
    )
    assert args.dataset_configs == ["a.json", "b.json"]
    assert args.parameters_configs == ["p.json", "q.json"]
    assert args.seeds == [1, 2, 3]
    assert args.override == ["x=1", "y=2"]
    train = parser.parse_args(
        ["train", "--dataset_configs", "a", "--dataset_configs", "b", "--override", "x=1"]
    )
    assert train.dataset_configs == ["a", "b"] and train.override == ["x=1"]
    assert parser.parse_args(["train"]).override == []  # the default list is not shared


# ---- 7. signals, full disks, jsonnet bombs ----


def _wait_for(predicate, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_sigterm_during_training_exits_143_with_one_line_and_no_temporary_files(tmp_path, params):
    config = dataset_config(
        tmp_path,
        train_data_path=str(write(tmp_path / "t.conll", sentences(200))),
        dev_data_path=str(write(tmp_path / "d.conll", sentences(20))),
    )
    output = tmp_path / "logs"
    command = train_command(
        config, params, output, "--override", "training.num_epochs=500", "batching.batch_size=2"
    )
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    try:
        # Wait until the first epoch's checkpoint exists: the run is in its training loop.
        assert _wait_for(lambda: any(output.rglob("checkpoints/epoch-001")), 120)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    [run] = (output / "run").iterdir()
    assert errors[0].startswith("error: terminated by SIGTERM; temporary files were removed; ")
    assert f"machamp-lite train --resume {run}" in errors[0]
    assert not (run / ".tokenizer").exists()
    leftovers = [p for p in run.rglob(".*")] + [p for p in run.rglob("*.tmp")]
    assert leftovers == []


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


JSONNET_BOMBS = {
    # Doubling a string: memory grows until the limit.
    "memory": (
        "local f(s, n) = if n == 0 then std.length(s) else f(s + s, n - 1) tailstrict;\n"
        "{ small: { train_data_path: 'x', tasks: {}, n: f('x', 64) } }\n",
        {"MACHAMP_JSONNET_MEMORY_MB": "300"},
        "needed more than 300 MB of memory, so it was stopped",
    ),
    # Counting down from a huge number in constant memory: only the time limit stops it.
    "time": (
        "local f(n) = if n == 0 then 0 else f(n - 1) tailstrict;\n"
        "{ small: { train_data_path: 'x', tasks: {}, n: f(1e15) } }\n",
        {"MACHAMP_JSONNET_TIMEOUT": "2"},
        "took longer than 2 s, so it was stopped",
    ),
    "recursion": (
        "local f(n) = f(n + 1) + 1;\n{ small: { n: f(0) } }\n",
        {},
        "max stack frames exceeded",
    ),
}


@pytest.mark.parametrize("kind", list(JSONNET_BOMBS))
def test_a_jsonnet_bomb_is_stopped_with_one_error_line(tmp_path, params, kind):
    text, env, expected = JSONNET_BOMBS[kind]
    bomb = write(tmp_path / "bomb.jsonnet", text)
    started = time.time()
    result = subprocess.run(
        train_command(bomb, params, tmp_path / "logs"),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    error = _one_error_line(result)
    assert error.startswith(f"error: {bomb}: ") and expected in error
    assert time.time() - started < 60
    assert not (tmp_path / "logs").exists()


def test_a_config_that_is_a_symlink_loop_says_so(tmp_path, params, capsys):
    loop = tmp_path / "loop.json"
    loop.symlink_to(tmp_path / "loop2.json")
    (tmp_path / "loop2.json").symlink_to(loop)
    error = one_error(capsys, train_cli(params, tmp_path / "logs", loop))
    assert error == (
        f"error: {loop}: is a symbolic link loop (a link on this path points, through other "
        "links, back to itself); fix the link or give the config file's own path"
    )
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "gone.json")
    error = one_error(capsys, train_cli(params, tmp_path / "logs", dangling))
    assert error == (
        f"error: {dangling}: is a symbolic link to {tmp_path / 'gone.json'}, which does not "
        "exist; fix the link or give the config file's own path"
    )


def test_a_config_with_a_key_given_twice_is_refused(tmp_path, params, capsys):
    config = write(tmp_path / "d.json", '{"small": {"tasks": {}, "tasks": {}}}')
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error == f"error: {config}: key 'tasks' is given twice in one object"


def test_a_full_disk_while_saving_a_checkpoint_is_one_error_and_leaves_no_temporary_folder(
    tmp_path, params, capsys, monkeypatch
):
    """Simulated by a patched writer that fails as safetensors does on a full disk (the test
    machines cannot be relied on to let a test mount a small file system)."""
    from machamp_lite.training import checkpoint

    def full_disk(model, filename, *args, **kwargs):
        Path(filename).write_bytes(b"partial")
        raise RuntimeError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    monkeypatch.setattr(checkpoint, "save_model", full_disk)
    config = dataset_config(tmp_path)
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    [run] = (tmp_path / "logs" / "run").iterdir()
    target = run / "checkpoints" / "epoch-001"
    assert error == (
        f"error: {target}: cannot save the checkpoint, the disk is full (no space left on "
        "device); there is no earlier checkpoint: free space and start the run again"
    )
    assert list((run / "checkpoints").iterdir()) == []
    assert not (run / ".tokenizer").exists()


def test_a_nan_loss_before_any_checkpoint_says_there_is_none(tmp_path, params, capsys):
    data = write(tmp_path / "nan.conll", sentences(6))
    config = dataset_config(tmp_path, name="nan", train_data_path=str(data))
    overrides = (
        "training.optimizer.lr=1e30",
        "training.optimizer.decoder_lr=1e30",
        "training.learning_rate_scheduler.type=constant",
        "batching.batch_size=1",
    )
    error = one_error(
        capsys, train_cli(params, tmp_path / "logs", config, extra=("--override", *overrides))
    )
    assert "the training loss became" in error
    assert "there is no checkpoint yet (no epoch finished), so nothing was saved" in error
    assert "last checkpoint" not in error


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_a_data_file_is_refused_instead_of_read_forever(
    tmp_path, params, capsys, device
):
    config = dataset_config(tmp_path, train_data_path=device)
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error == (
        f"error: {config}, dataset 'small': key 'train_data_path' names {device}, which is a "
        "device or a pipe, not a data file; give the path of a file"
    )


# ---- 2. configs run no code the user did not name ----

MARKER_PLUGIN = """
from pathlib import Path
Path(__file__).with_name("imported.marker").write_text("ran")
"""


@pytest.mark.parametrize("where", ["dataset", "params"])
def test_a_plugin_module_a_config_names_is_imported_only_when_allowed(
    tmp_path, params, capsys, monkeypatch, where
):
    module = f"trust_marker_{where}"
    plugin_dir = tmp_path / "plugins"
    write(plugin_dir / f"{module}.py", MARKER_PLUGIN)
    monkeypatch.syspath_prepend(str(plugin_dir))
    config = dataset_config(tmp_path, **({"plugins": [module]} if where == "dataset" else {}))
    own_params = params
    if where == "params":
        settings = json.loads(params.read_text())
        own_params = write(tmp_path / "p.json", json.dumps({**settings, "plugins": [module]}))
    source = config if where == "dataset" else own_params
    error = one_error(capsys, train_cli(own_params, tmp_path / "logs", config))
    assert error.startswith(f"error: this run needs plugin module '{module}' (in {source}), ")
    assert f"pass --plugins {module} to machamp-lite train" in error
    assert not (plugin_dir / "imported.marker").exists()  # no code ran
    assert not (tmp_path / "logs").exists()
    code = train_cli(own_params, tmp_path / "logs", config, extra=("--plugins", module))
    assert code == 0, capsys.readouterr().err
    assert (plugin_dir / "imported.marker").read_text() == "ran"
    sys.modules.pop(module, None)


@pytest.mark.parametrize("command", ["train", "experiment"])
@pytest.mark.parametrize("name", ["../outside", "/tmp/machamp-lite-outside", "a\tb"])
def test_a_run_name_that_leaves_the_output_folder_is_refused(
    tmp_path, params, capsys, command, name
):
    config = dataset_config(tmp_path)
    argv = [command, "--dataset_configs", str(config), "--name", name]
    argv += ["--output_dir", str(tmp_path / "logs")]
    argv += ["--parameters_config" if command == "train" else "--parameters_configs", str(params)]
    before = files_under(tmp_path)
    error = one_error(capsys, main(argv))
    assert error.startswith(f"error: --name {name!r}: a run name is a folder name under")
    assert files_under(tmp_path) == before
    assert not Path("/tmp/machamp-lite-outside").exists()


# ---- 3. a config's mistakes come out together, before anything is built ----


def test_a_string_dropout_and_a_misspelled_key_are_one_error_before_anything_is_built(tmp_path):
    """The real command in a fresh process; the model path does not exist, so an error that
    came after loading the model would be about the model, not the config."""
    config = dataset_config(tmp_path)
    missing_model = tmp_path / "no-such-model"
    params = write(
        tmp_path / "p.json",
        json.dumps(
            {
                "transformer_model": str(missing_model),
                "encoder": {"dropout": "0.1"},
                "trainng": {"num_epochs": 1},
            }
        ),
    )
    result = subprocess.run(
        train_command(config, params, tmp_path / "logs"), capture_output=True, text=True
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "no-such-model" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: the configuration has 2 problems:"], result.stderr
    lines = result.stderr.split("error: ", 1)[1].splitlines()[1:]
    assert lines[0] == (
        f"  - {params}: key 'encoder.dropout' must be a number (like the default 0.1), got \"0.1\""
    )
    assert lines[1].startswith(f"  - {params}: unknown key 'trainng'; expected one of: ")
    assert not (tmp_path / "logs").exists()


def test_an_unknown_metric_is_one_error_before_data_are_read_or_a_model_is_built(tmp_path, capsys):
    missing_data = tmp_path / "not-there.conll"
    task = {"task_type": "seq_bio", "column_idx": -1, "metric": "nope"}
    config = write(
        tmp_path / "d.json",
        json.dumps({"small": {"train_data_path": str(missing_data), "tasks": {"ner": task}}}),
    )
    params = write(
        tmp_path / "p.json", json.dumps({"transformer_model": str(tmp_path / "no-model")})
    )
    error = one_error(capsys, train_cli(params, tmp_path / "logs", config))
    assert error.startswith(f"error: unknown metric 'nope' (in {config}, dataset 'small', task ")
    assert "; registered metrics: accuracy, " in error and "span_f1" in error
    assert not (tmp_path / "logs").exists()
