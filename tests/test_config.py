"""Tests for config loading: JSON/jsonnet, defaults, overrides, data paths and clear errors."""

from __future__ import annotations

import json
import os

import pytest

from machamp_lite.config import (
    DATA_DIR_ENV,
    DATASET_KEYS,
    DEFAULT_PARAMS_PATH,
    check_task_components,
    deep_merge,
    load_config_file,
    load_configs,
    load_dataset_configs,
    load_params,
    parse_override,
    resolve_data_path,
    split_overrides,
)
from machamp_lite.errors import ConfigError

from conftest import write

DEFAULTS = json.loads(DEFAULT_PARAMS_PATH.read_text(encoding="utf-8"))


def write_json(path, value):
    return write(path, json.dumps(value))


def dataset_file(tmp_path, name="demo.json", **datasets):
    datasets = datasets or {
        "demo": {
            "train_data_path": "train.conll",
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        }
    }
    return write_json(tmp_path / name, datasets)


# ---- JSON and jsonnet ----


def test_jsonnet_comments_trailing_commas_locals_and_imports(tmp_path):
    write(tmp_path / "common.libsonnet", "{ lr: 2e-5, // learning rate\n}\n")
    path = write(
        tmp_path / "params.jsonnet",
        """// a comment
        /* a block comment */
        local common = import 'common.libsonnet';
        local epochs = 3;
        {
          training: {
            num_epochs: epochs,
            optimizer: { lr: common.lr, },
          },
        }
        """,
    )
    assert load_config_file(path) == {"training": {"num_epochs": 3, "optimizer": {"lr": 2e-5}}}
    params = load_params(path)
    assert params["training"]["num_epochs"] == 3
    assert params["training"]["optimizer"]["lr"] == 2e-5


def test_plain_json(tmp_path):
    path = write_json(tmp_path / "p.json", {"random_seed": 1})
    assert load_config_file(path) == {"random_seed": 1}


def test_invalid_jsonnet_names_the_file(tmp_path):
    path = write(tmp_path / "broken.json", '{"training": {"num_epochs": }')
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON/jsonnet"):
        load_config_file(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.json"):
        load_params(tmp_path / "nope.json")


def test_top_level_must_be_an_object(tmp_path):
    path = write(tmp_path / "list.json", "[1, 2]")
    with pytest.raises(ConfigError, match=r"list\.json: expected a JSON object"):
        load_config_file(path)


# ---- defaults and merging ----


def test_defaults_are_deep_merged_with_the_users_file(tmp_path):
    path = write_json(tmp_path / "p.json", {"training": {"optimizer": {"lr": 5e-5}}})
    params = load_params(path)
    assert params["training"]["optimizer"]["lr"] == 5e-5
    # sibling keys at every level keep their defaults
    assert (
        params["training"]["optimizer"]["decoder_lr"]
        == DEFAULTS["training"]["optimizer"]["decoder_lr"]
    )
    assert params["training"]["num_epochs"] == DEFAULTS["training"]["num_epochs"]
    assert params["encoder"] == DEFAULTS["encoder"]


def test_without_a_file_the_defaults_are_used():
    assert load_params() == DEFAULTS


def test_deep_merge_does_not_modify_its_inputs():
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    update = {"a": {"b": 3}, "e": {"f": 4}}
    merged = deep_merge(base, update)
    assert merged == {"a": {"b": 3, "c": [1]}, "d": 2, "e": {"f": 4}}
    merged["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "d": 2}


# ---- overrides ----


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("training.optimizer.lr=1e-5", ["training", "optimizer", "lr"], 1e-5),
        ("training.num_epochs=3", ["training", "num_epochs"], 3),
        ("training.train_metrics=false", ["training", "train_metrics"], False),
        ("encoder.pooling=mean", ["encoder", "pooling"], "mean"),
        ("training.optimizer.betas=[0.9, 0.98]", ["training", "optimizer", "betas"], [0.9, 0.98]),
        ("transformer_model=a=b", ["transformer_model"], "a=b"),
    ],
)
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_overrides_apply_to_nested_keys(tmp_path):
    path = write_json(tmp_path / "p.json", {"training": {"num_epochs": 5}})
    params = load_params(
        path,
        [
            "training.optimizer.lr=1e-5",
            "training.num_epochs=3",
            "training.train_metrics=true",
            "encoder.pooling=mean",
            "training.optimizer.betas=[0.8,0.9]",
        ],
    )
    assert params["training"]["optimizer"]["lr"] == 1e-5
    assert params["training"]["optimizer"]["decoder_lr"] == 0.001
    assert params["training"]["num_epochs"] == 3
    assert params["training"]["train_metrics"] is True
    assert params["encoder"]["pooling"] == "mean"
    assert params["training"]["optimizer"]["betas"] == [0.8, 0.9]


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ("training.optimzer.lr=1", r"--override: unknown key 'training\.optimzer'"),
        ("training.num_epochs=many", r"--override: key 'training\.num_epochs' must be an integer"),
        ("no_equals_sign", r"expected KEY=VALUE"),
    ],
)
def test_bad_overrides(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_params(None, [override])


def test_dataset_override(tmp_path):
    path = dataset_file(tmp_path)
    datasets = load_dataset_configs(
        [str(path)],
        overrides=["demo.max_sents=10", "demo.tasks.ner.column_idx=1", "training.num_epochs=2"],
    )
    assert datasets["demo"]["max_sents"] == 10
    assert datasets["demo"]["tasks"]["ner"]["column_idx"] == 1


def test_dataset_override_is_validated(tmp_path):
    path = dataset_file(tmp_path)
    with pytest.raises(ConfigError, match=r"dataset 'demo': key 'max_sents' must be an integer"):
        load_dataset_configs([str(path)], overrides=["demo.max_sents=ten"])


# ---- data paths ----


def test_relative_paths_resolve_against_data_dir_then_env_then_cwd(tmp_path, monkeypatch):
    path = dataset_file(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    explicit = load_dataset_configs([str(path)], data_dir=str(tmp_path / "root"))
    assert explicit["demo"]["train_data_path"] == str(tmp_path / "root" / "train.conll")
    from_env = load_dataset_configs([str(path)])
    assert from_env["demo"]["train_data_path"] == str(tmp_path / "env" / "train.conll")
    monkeypatch.delenv(DATA_DIR_ENV)
    monkeypatch.chdir(tmp_path)
    plain = load_dataset_configs([str(path)])
    assert os.path.abspath(plain["demo"]["train_data_path"]) == str(tmp_path / "train.conll")


def test_absolute_paths_are_untouched(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    absolute = str(tmp_path / "elsewhere" / "dev.conll")
    assert resolve_data_path(absolute, str(tmp_path / "root")) == absolute
    assert resolve_data_path(absolute, None) == absolute


def test_dev_path_resolves_and_defaults_are_filled(tmp_path):
    path = dataset_file(
        tmp_path,
        demo={
            "train_data_path": "a/train.conll",
            "dev_data_path": "a/dev.conll",
            "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
        },
    )
    [(name, dataset)] = load_dataset_configs([str(path)], data_dir="/data").items()
    assert name == "demo"
    assert dataset["dev_data_path"] == str(os.path.join("/data", "a", "dev.conll"))
    assert dataset["separator"] == "whitespace"
    assert dataset["encoding"] == "utf-8"
    assert dataset["source"] == str(path)


# ---- errors that name the file and the key ----


@pytest.mark.parametrize(
    ("user", "pattern"),
    [
        ({"trainig": {}}, r"unknown key 'trainig'"),
        ({"training": {"optimzer": {"lr": 1}}}, r"unknown key 'training\.optimzer'"),
        ({"training": {"optimizer": {"lr": "fast"}}}, r"key 'training\.optimizer\.lr' must be a"),
        ({"training": {"num_epochs": "3"}}, r"key 'training\.num_epochs' must be an integer"),
        ({"training": {"num_epochs": 2.5}}, r"key 'training\.num_epochs' must be an integer"),
        ({"training": 3}, r"key 'training' must be an object"),
        ({"training": {"train_metrics": 1}}, r"key 'training\.train_metrics' must be a boolean"),
    ],
)
def test_parameter_config_errors_name_file_and_key(tmp_path, user, pattern):
    path = write_json(tmp_path / "params.json", user)
    with pytest.raises(ConfigError, match=r"params\.json: " + pattern):
        load_params(path)


def test_unknown_key_lists_the_expected_keys(tmp_path):
    path = write_json(tmp_path / "params.json", {"training": {"optimzer": {}}})
    with pytest.raises(ConfigError, match=r"expected one of: .*training\.optimizer"):
        load_params(path)


def test_integer_valued_float_is_accepted_for_an_integer_key(tmp_path):
    path = write_json(tmp_path / "params.json", {"training": {"num_epochs": 4.0}})
    params = load_params(path)
    assert params["training"]["num_epochs"] == 4
    assert isinstance(params["training"]["num_epochs"], int)


def dataset_error(tmp_path, dataset) -> str:
    path = dataset_file(tmp_path, "ds.json", demo=dataset)
    with pytest.raises(ConfigError) as caught:
        load_dataset_configs([str(path)])
    message = str(caught.value)
    assert "ds.json, dataset 'demo'" in message
    return message


TASKS = {"ner": {"task_type": "seq_bio", "column_idx": -1}}


def test_unknown_dataset_key(tmp_path):
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": TASKS, "word_id": 0})
    assert "unknown key 'word_id'" in message
    assert "word_idx" in message


def test_wrong_dataset_key_type(tmp_path):
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": TASKS, "word_idx": "0"})
    assert "key 'word_idx' must be an integer" in message


def test_missing_train_data_path(tmp_path):
    message = dataset_error(tmp_path, {"tasks": TASKS})
    assert "missing required key 'train_data_path'" in message


@pytest.mark.parametrize("tasks", [None, {}])
def test_missing_tasks(tmp_path, tasks):
    dataset = {"train_data_path": "a"} if tasks is None else {"train_data_path": "a", "tasks": {}}
    message = dataset_error(tmp_path, dataset)
    assert "missing required key 'tasks'" in message


def test_task_without_task_type(tmp_path):
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": {"ner": {}}})
    assert "task 'ner': missing required key 'task_type'" in message


def test_bad_separator(tmp_path):
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": TASKS, "separator": ","})
    assert "'separator' must be" in message


def test_duplicate_dataset_names_across_files(tmp_path):
    first = dataset_file(tmp_path, "one.json")
    second = dataset_file(tmp_path, "two.json")
    with pytest.raises(ConfigError) as caught:
        load_dataset_configs([str(first), str(second)])
    message = str(caught.value)
    assert "two.json: dataset name 'demo' is also defined in" in message
    assert "one.json" in message


def test_no_datasets(tmp_path):
    path = write_json(tmp_path / "empty.json", {})
    with pytest.raises(ConfigError, match=r"no datasets defined in .*empty\.json"):
        load_dataset_configs([str(path)])


def test_the_shipped_demo_dataset_config_is_valid(tmp_path, monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(tmp_path)  # so data/demo is not found under the working directory

    datasets = load_dataset_configs([str(ROOT / "dataset_configs" / "demo.json")], data_dir="/d")
    assert datasets["multiconer_demo"]["train_data_path"].startswith("/d")
    assert datasets["multiconer_demo"]["tasks"]["ner"]["column_idx"] == -1


def test_a_file_missing_under_the_data_root_but_present_here_is_taken_from_here(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.conll").write_text("a _ _ O\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "shared.conll").write_text("a _ _ O\n")
    assert resolve_data_path("local.conll", str(root)) == "local.conll"
    assert resolve_data_path("shared.conll", str(root)) == str(root / "shared.conll")
    assert resolve_data_path("absent.conll", str(root)) == str(root / "absent.conll")


def test_jsonnet_imports_may_not_leave_the_configs_folder(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "lib.libsonnet").write_text("{lr: 0.5}")
    (folder / "good.jsonnet").write_text("local lib = import 'lib.libsonnet'; {training: lib}")
    (folder / "bad.jsonnet").write_text("{text: importstr '../secret.txt'}")
    assert load_config_file(folder / "good.jsonnet") == {"training": {"lr": 0.5}}
    with pytest.raises(ConfigError, match="leaves the config's folder"):
        load_config_file(folder / "bad.jsonnet")
    monkeypatch.setenv("MACHAMP_CONFIG_IMPORT_PATH", str(tmp_path))
    assert load_config_file(folder / "bad.jsonnet") == {"text": "do not read"}


def test_every_shipped_dataset_config_loads(tmp_path):
    from conftest import ROOT

    for path in sorted((ROOT / "dataset_configs").glob("*.json")):
        datasets = load_dataset_configs([str(path)], data_dir=str(tmp_path))
        assert datasets, path
        for dataset in datasets.values():
            assert all(t["task_type"] == "seq_bio" for t in dataset["tasks"].values()), path


PAPER_LEARNING_RATES = {
    "mbert.json": ("bert-base-multilingual-cased", 1e-5),
    "xlmr-base.json": ("xlm-roberta-base", 1e-4),
    "xlmr-large.json": ("xlm-roberta-large", 1e-4),
    "xlmr-large-machamp.json": ("xlm-roberta-large", 1e-4),
    "rembert.json": ("google/rembert", 1e-5),
    "rembert-lr1e-4.json": ("google/rembert", 1e-4),
}


def test_every_shipped_parameter_config_loads_over_the_defaults():
    from conftest import ROOT

    shipped = sorted((ROOT / "param_configs").glob("*.json"))
    assert {p.name for p in shipped} >= set(PAPER_LEARNING_RATES) | {"e5-small.json"}
    for path in shipped:
        params = load_params(str(path))
        assert params["training"]["num_epochs"] >= 1, path
        assert params["transformer_model"], path


def test_paper_configs_have_the_papers_encoders_learning_rates_and_full_fine_tuning():
    """Table 3's settings: 20 epochs, each encoder's learning rate, every weight trained (the
    paper froze nothing), whatever the project's small-budget default is."""
    from conftest import ROOT

    for name, (model, lr) in PAPER_LEARNING_RATES.items():
        params = load_params(str(ROOT / "param_configs" / name))
        assert params["transformer_model"] == model, name
        assert params["training"]["optimizer"]["lr"] == lr, name
        assert params["training"]["num_epochs"] == 20, name
        assert params["encoder"]["freeze_embeddings"] is False, name
        assert params["encoder"]["freeze_layers"] == 0, name


# ---- where each --override goes ----


def test_split_overrides_sends_keys_that_start_with_a_dataset_name_to_the_datasets(tmp_path):
    path = dataset_file(tmp_path)
    missing = str(tmp_path / "missing.json")  # unreadable files add no names; loading says why
    overrides = ["demo.max_sents=10", "training.num_epochs=2", "demos.x=1", "demo.tasks.ner.a=1"]
    params, datasets = split_overrides(overrides, [str(path), missing])
    assert params == ["training.num_epochs=2", "demos.x=1"]
    assert datasets == ["demo.max_sents=10", "demo.tasks.ner.a=1"]
    assert split_overrides([], [missing]) == ([], [])


def test_dataset_configs_take_every_override_or_only_the_dataset_ones_alike(tmp_path):
    path = dataset_file(tmp_path)
    overrides = ["demo.max_sents=10", "training.num_epochs=2"]
    _, only_datasets = split_overrides(overrides, [str(path)])
    every = load_dataset_configs([str(path)], overrides=overrides)
    assert every == load_dataset_configs([str(path)], overrides=only_datasets)
    assert every["demo"]["max_sents"] == 10


def test_an_override_that_names_only_a_dataset_is_refused(tmp_path):
    path = dataset_file(tmp_path)
    with pytest.raises(ConfigError, match=r"--override 'demo=5': 'demo' is a dataset; set one"):
        load_dataset_configs([str(path)], overrides=["demo=5"])


# ---- several mistakes, one error ----


def problem_lines(error: ConfigError) -> list[str]:
    header, *lines = str(error).split("\n")
    assert header == f"the configuration has {len(lines)} problems:"
    assert all(line.startswith("  - ") for line in lines)
    assert error.problems == [line[4:] for line in lines]
    return error.problems


def test_a_parameter_config_with_several_mistakes_is_one_error_naming_each(tmp_path):
    path = write_json(
        tmp_path / "params.json",
        {"encoder": {"dropout": "0.1", "poolng": "mean"}, "trainng": {"num_epochs": 2}},
    )
    with pytest.raises(ConfigError) as caught:
        load_params(path, ["batching.batch_size=0", "no_equals_sign"])
    lines = problem_lines(caught.value)
    assert len(lines) == 5
    assert f"{path}: key 'encoder.dropout' must be a number (like the default 0.1), got " in (
        lines[0] + lines[1] + lines[2]
    )
    joined = "\n".join(lines)
    assert f"{path}: unknown key 'encoder.poolng'" in joined
    assert f"{path}: unknown key 'trainng'" in joined
    assert "--override 'no_equals_sign': expected KEY=VALUE" in joined
    assert "--override: key 'batching.batch_size' must be at least 1, got 0" in joined


def test_one_mistake_reads_as_it_always_did(tmp_path):
    path = write_json(tmp_path / "params.json", {"trainng": {}})
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: unknown key 'trainng'; expected one of:")
    assert "\n" not in str(caught.value)


def test_dataset_configs_with_several_mistakes_are_one_error_naming_each(tmp_path):
    first = dataset_file(
        tmp_path,
        "one.json",
        a={"train_data_path": "x", "word_id": 0, "max_sents": 0, "tasks": TASKS},
        b={"tasks": {"ner": {"task_type": "seq_bio", "column_idx": "1", "dropout": "x"}}},
    )
    second = dataset_file(tmp_path, "two.json", a={"train_data_path": "y", "tasks": TASKS})
    with pytest.raises(ConfigError) as caught:
        load_dataset_configs([str(first), str(second)])
    lines = problem_lines(caught.value)
    assert lines == [
        f"{second}: dataset name 'a' is also defined in {first}; each dataset needs a unique name",
        f"{first}, dataset 'a': unknown key 'word_id'; expected one of: "
        + ", ".join(sorted(DATASET_KEYS)),
        f"{first}, dataset 'a': key 'max_sents' must be -1 (every sentence) or at least 1, got 0",
        f"{first}, dataset 'b': missing required key 'train_data_path'",
        f"{first}, dataset 'b', task 'ner': key 'column_idx' must be an integer, got \"1\"",
        f"{first}, dataset 'b', task 'ner': key 'dropout' must be a number (like the default "
        '0.0), got "x"',
    ]


def test_load_configs_reports_parameter_and_dataset_mistakes_together(tmp_path):
    datasets = dataset_file(
        tmp_path, demo={"train_data_path": "t", "tasks": {"ner": {"task_type": "seq_bio"}}}
    )
    params = write_json(tmp_path / "params.json", {"encoder": {"dropout": "0.1"}})
    with pytest.raises(ConfigError) as caught:
        load_configs([str(datasets)], params, ["demo.max_sents=ten", "training.num_epochs=0"])
    lines = problem_lines(caught.value)
    assert [line.split(": key ")[1].split(" must")[0] for line in lines] == [
        "'encoder.dropout'",
        "'training.num_epochs'",
        "'max_sents'",
    ]
    good = write_json(tmp_path / "good.json", {"training": {"num_epochs": 3}})
    loaded, data = load_configs([str(datasets)], good, ["demo.max_sents=4", "random_seed=7"])
    assert loaded["training"]["num_epochs"] == 3 and loaded["random_seed"] == 7
    assert data["demo"]["max_sents"] == 4


# ---- components that tasks choose, checked when the config is read ----


def test_an_unknown_metric_fails_when_the_config_is_read(tmp_path):
    task = {"task_type": "seq_bio", "column_idx": -1, "metric": "nope"}
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": {"ner": task}})
    assert message.startswith("unknown metric 'nope' (in ")
    assert "ds.json, dataset 'demo', task 'ner')" in message
    assert "registered metrics: accuracy, " in message and "las, " in message
    assert "span_f1" in message


def test_an_unregistered_name_waits_for_a_plugin_that_is_not_imported_yet(tmp_path):
    task = {"task_type": "plugin_seq", "column_idx": -1, "metric": "plugin_metric", "x": "y"}
    dataset = {"train_data_path": "a", "tasks": {"ner": task}}
    waiting = dataset_file(tmp_path, "w.json", demo={**dataset, "plugins": ["not_imported_x"]})
    assert load_dataset_configs([str(waiting)])["demo"]["tasks"]["ner"]["metric"] == "plugin_metric"
    plain = dataset_file(tmp_path, "p.json", demo=dataset)
    assert load_dataset_configs([str(plain)], plugins=["not_imported_x"])
    # A plugin that is imported already has registered all it will: the names are unknown.
    with pytest.raises(ConfigError) as caught:
        load_dataset_configs([str(plain)], plugins=["json"])
    assert "unknown metric 'plugin_metric'" in str(caught.value)
    assert "unknown decoder 'plugin_seq'" in str(caught.value)
    # Once the plugins are imported (here: they registered nothing), the names are checked.
    datasets = load_dataset_configs([str(waiting)])
    with pytest.raises(ConfigError) as caught:
        check_task_components(datasets)
    metric, decoder = problem_lines(caught.value)
    where = f"(in {waiting}, dataset 'demo', task 'ner'); registered"
    assert metric.startswith(f"unknown metric 'plugin_metric' {where} metrics: accuracy, ")
    assert decoder.startswith(f"unknown decoder 'plugin_seq' {where} decoders: classification, ")


def test_decoder_arguments_are_checked_when_the_config_is_read(tmp_path):
    task = {"task_type": "dependency", "arc_dim": 64.0, "single_root": "yes", "dropuot": 0.1}
    message = dataset_error(tmp_path, {"train_data_path": "a", "tasks": {"t": task}})
    assert "key 'single_root' must be a boolean (like the default true), got \"yes\"" in message
    assert "unknown key 'dropuot' for BiaffineDependencyParser" in message
    assert "key 'arc_dim'" not in message


def test_a_whole_number_written_as_a_float_is_passed_as_an_integer(tmp_path):
    task = {"task_type": "dependency", "arc_dim": 64.0, "dropout": 0}
    path = dataset_file(tmp_path, demo={"train_data_path": "a", "tasks": {"t": task}})
    task = load_dataset_configs([str(path)])["demo"]["tasks"]["t"]
    assert task["arc_dim"] == 64 and isinstance(task["arc_dim"], int)
    assert task["dropout"] == 0


def test_the_defaults_file_is_the_packages_only_copy():
    from conftest import ROOT

    assert DEFAULT_PARAMS_PATH.parent.name == "machamp_lite"
    assert not (ROOT / "param_configs" / "params.json").exists()


def test_every_name_the_code_imports_from_config_is_still_there():
    """config.py was split in modules; what other modules and the tests import stays here."""
    import re

    import machamp_lite.config as config

    from conftest import ROOT

    pattern = re.compile(r"from (?:machamp_lite\.|\.+)config import (?:\(([^)]*)\)|([\w ,]+))")
    names = set()
    folders = ("machamp_lite", "tests", "benchmarks")
    for path in [path for folder in folders for path in ROOT.glob(f"{folder}/**/*.py")]:
        for group in pattern.findall(path.read_text(encoding="utf-8")):
            names.update(n.strip() for n in ",".join(group).split(",") if n.strip())
    assert {"Range", "load_dataset_configs", "validate_dataset", "PARAM_LIMITS"} <= names
    assert names and not [n for n in names if not hasattr(config, n)]
