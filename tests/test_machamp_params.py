"""MaChAmp's parameter files read with MaChAmp's meaning (issue 14): the MaChAmp profile
beneath a MaChAmp file, the ``decoders`` section as task defaults, older key homes, and
values that cannot be honoured refused with the key named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from machamp_lite.config import default_params, load_configs, load_params
from machamp_lite.config_machamp import PROFILES
from machamp_lite.errors import ConfigError
from machamp_lite.training.callbacks import TopModelsKeeper

from conftest import write

MACHAMP = Path(__file__).parent / "machamp_configs"
TOKENS = "anna B-PER\nlives O\n\nbob B-PER\n\n"


def keys(tree: dict, prefix: str = "") -> set[str]:
    found = set()
    for key, value in tree.items():
        found.add(prefix + key)
        if isinstance(value, dict) and key != "decoders":
            found |= keys(value, prefix + key + ".")
    return found


def test_the_machamp_profile_has_every_key_of_the_defaults_and_no_other():
    profile = json.loads(PROFILES["machamp"].read_text(encoding="utf-8"))
    assert keys(profile) == keys(default_params())


def test_machamp_v042_params_file_reads_as_machamp_trains(capsys):
    params = load_params(MACHAMP / "params-nodiv-1.json")
    assert "read as a MaChAmp parameters file" in capsys.readouterr().err
    optimizer = params["training"]["optimizer"]
    schedule = params["training"]["learning_rate_scheduler"]
    # Given in the file:
    assert optimizer["lr"] == 0.0001 and optimizer["betas"] == [0.9, 0.99]
    assert schedule["decay_factor"] == 0.38 and schedule["cut_frac"] == 0.3
    assert schedule["discriminative_fine_tuning"] and schedule["gradual_unfreezing"]
    # Left out of the file, so MaChAmp's own defaults (not machamp-lite's):
    assert schedule["type"] == "slanted_triangular"  # MaChAmp always uses it
    assert optimizer["decoder_lr"] is None  # one rate; the schedule's groups differ
    assert optimizer["eps"] == 1e-6 and optimizer["decay_bias_and_norm"]
    assert params["encoder"]["pooling"] == "last"
    assert params["encoder"]["freeze_embeddings"] is False
    assert params["decoder"]["dropout"] == 0.0 and params["training"]["grad_clip"] == 0.0
    assert params["decoders"]["seq_bio"] == {"metric": "span_f1"}


def test_a_machamp_file_can_ask_for_machamp_lite_defaults(tmp_path):
    user = {"defaults": "machamp-lite", "decoders": {"seq_bio": {"metric": "span_f1"}}}
    params = load_params(write(tmp_path / "p.json", json.dumps(user)))
    assert params["training"]["learning_rate_scheduler"]["type"] == "linear"
    assert params["decoders"]["seq_bio"] == {"metric": "span_f1"}


def test_older_key_homes_move_where_they_are_read(capsys):
    params = load_params(MACHAMP / "params-v0.4.0.json")
    assert params["encoder"]["pooling"] == "last"
    assert "layers_to_use" not in params["encoder"]
    assert params["decoders"]["default_decoder"]["layers_to_use"] == [-1]


def test_correct_bias_false_is_honoured_by_the_optimizer_setting():
    params = load_params(MACHAMP / "params-v0.4.0.json")
    assert params["training"]["optimizer"]["correct_bias"] is False


def dataset_config(tmp_path: Path, tasks: dict) -> str:
    train = write(tmp_path / "train.txt", TOKENS)
    config = {"d": {"train_data_path": str(train), "word_idx": 0, "tasks": tasks}}
    return str(write(tmp_path / "d.json", json.dumps(config)))


def test_decoders_sections_give_tasks_defaults_and_the_task_wins(tmp_path):
    tasks = {
        "ner": {"task_type": "seq_bio", "column_idx": 1},
        "pos": {"task_type": "seq", "column_idx": 1},
        "own": {"task_type": "seq_bio", "column_idx": 1, "metric": "accuracy", "loss_weight": 2},
    }
    _, datasets = load_configs(
        [dataset_config(tmp_path, tasks)], str(MACHAMP / "params-nodiv-1.json")
    )
    loaded = datasets["d"]["tasks"]
    assert loaded["ner"]["metric"] == "span_f1"  # decoders.seq_bio
    assert loaded["pos"]["metric"] == "accuracy"  # decoders.default_decoder
    assert loaded["own"]["metric"] == "accuracy" and loaded["own"]["loss_weight"] == 2.0
    assert loaded["ner"]["layers_to_use"] == [-1] and loaded["ner"]["topn"] == 1


def test_machamp_dependency_sizes_reach_the_parser_under_its_names(tmp_path):
    tasks = {"dep": {"task_type": "dependency", "column_idx": 1}}
    _, datasets = load_configs(
        [dataset_config(tmp_path, tasks)], str(MACHAMP / "params-nodiv-1.json")
    )
    task = datasets["d"]["tasks"]["dep"]
    assert (task["arc_dim"], task["relation_dim"], task["metric"]) == (768, 256, "las")
    assert "arc_representation_dim" not in task


def test_a_type_section_key_the_decoder_cannot_take_names_the_section(tmp_path):
    params = write(tmp_path / "p.json", json.dumps({"decoders": {"seq": {"beam": 3}}}))
    tasks = {"pos": {"task_type": "seq", "column_idx": 1}}
    with pytest.raises(ConfigError, match=r"'decoders\.seq\.beam' is not a setting"):
        load_configs([dataset_config(tmp_path, tasks)], str(params))


@pytest.mark.parametrize(
    "decoders, pattern",
    [
        ({"sequence": {}}, r"'decoders\.sequence' names no task type"),
        ({"seq": 3}, r"'decoders\.seq' must be an object"),
        ([], r"'decoders' must be an object"),
    ],
)
def test_a_malformed_decoders_section_is_refused(tmp_path, decoders, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_params(write(tmp_path / "p.json", json.dumps({"decoders": decoders})))


@pytest.mark.parametrize(
    "task, pattern",
    [
        ({"topn": 0}, r"'topn' must be an integer >= 1"),
        ({"layers_to_use": []}, r"'layers_to_use' must be a non-empty list"),
        ({"layers_to_use": [-1, -1]}, r"'layers_to_use' must be a non-empty list of distinct"),
        ({"layers_to_use": ["last"]}, r"'layers_to_use' must be"),
        ({"dec_dataset_embed_idx": -2}, r"'dec_dataset_embed_idx' must be -1"),
    ],
)
def test_machamp_task_keys_out_of_range_are_refused(tmp_path, task, pattern):
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": 1, **task}}
    with pytest.raises(ConfigError, match=pattern):
        load_configs([dataset_config(tmp_path, tasks)])


def test_an_unknown_defaults_name_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"'defaults' must be one of machamp-lite, machamp"):
        load_params(write(tmp_path / "p.json", json.dumps({"defaults": "allennlp"})))


def test_keep_top_n_keeps_the_best_epochs_ties_to_the_earlier():
    keeper = TopModelsKeeper(Path("."), {}, {}, {}, keep=2)
    history = [
        {"epoch": 1, "dev_sum": 0.5},
        {"epoch": 2, "dev_sum": 0.7},
        {"epoch": 3, "dev_sum": 0.5},
        {"epoch": 4, "dev_sum": 0.6},
    ]
    assert keeper.top_epochs(history) == {2, 4}
    assert keeper.top_epochs(history[:3]) == {1, 2}
    assert keeper.top_epochs([{"epoch": e, "dev_sum": None} for e in (1, 2, 3)]) == {2, 3}


def test_machamps_params_file_and_the_profile_give_the_same_run(tmp_path, capsys):
    """MaChAmp's v0.4.2 parameter file and ``{"defaults": "machamp"}`` (the profile alone)
    resolve to the same parameters, key for key: they train the same way."""
    own = load_params(MACHAMP / "params-nodiv-1.json")
    profile = load_params(write(tmp_path / "p.json", json.dumps({"defaults": "machamp"})))
    assert own == profile
