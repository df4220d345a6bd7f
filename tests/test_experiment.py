"""The experiment runner: parameter configs x seeds, resumable, with the paper's table layout."""

from __future__ import annotations

import csv
import json
import shutil

from machamp_lite.cli import main
from machamp_lite.experiment import plan, run_state

from conftest import ROOT, tiny_training_params, write


def grid_command(tmp_path, params_paths) -> list[str]:
    """``experiment`` over the demo dataset config, named grid, under tmp_path/logs."""
    return [
        "experiment",
        "--dataset_configs",
        str(ROOT / "dataset_configs/demo.json"),
        "--parameters_configs",
        *[str(p) for p in params_paths],
        "--name",
        "grid",
        "--output_dir",
        str(tmp_path / "logs"),
        "--data_dir",
        str(ROOT),
    ]


def test_grid_runs_every_combination_resumes_and_writes_tables(tmp_path, tiny_model, capsys):
    fast = tiny_training_params(tmp_path / "fast.json", tiny_model, 1)
    slow_path = tiny_training_params(
        tmp_path / "slow.json", tiny_model, 1, optimizer={"lr": 0.0001}
    )
    command = grid_command(tmp_path, [fast, slow_path]) + [
        "--seeds",
        "1",
        "2",
        "--memory_budget_gb",
        "20",
        "--override",
        "multiconer_demo.max_sents=40",
    ]
    assert main(command) == 0
    root = tmp_path / "logs" / "grid"
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [(r["params"], r["seed"]) for r in rows] == [
        ("fast", "1"),
        ("fast", "2"),
        ("slow", "1"),
        ("slow", "2"),
    ]
    assert {r["lr"] for r in rows} == {"0.001", "0.0001"}
    assert all(r["fits_budget"] == "True" for r in rows)
    for row, run in zip(rows, plan([str(fast), str(slow_path)], [1, 2], root)):
        metrics = json.loads((run.run_dir / "metrics.json").read_text())
        assert (
            float(row["dev_micro_f1"]) == metrics["best_dev"]["multiconer_demo/ner"]["micro"]["f1"]
        )
    summary = list(csv.DictReader((root / "summary.csv").open()))
    assert [s["seeds"] for s in summary] == ["2", "2"] and "±" in summary[0]["dev_micro_f1"]
    markdown = (root / "results.md").read_text()
    assert "| params | model | lr | seed | dev_micro_f1 |" in markdown
    assert "Mean ± standard" in markdown
    assert {r["model"] for r in rows} == {tiny_model.name}

    # A second call runs nothing that is finished; a run that died before its first checkpoint
    # is started again; the tables are rewritten.
    runs = plan([str(fast), str(slow_path)], [1, 2], root)
    before = (runs[0].run_dir / "metrics.json").read_bytes()
    shutil.rmtree(runs[3].run_dir / "checkpoints")
    (runs[3].run_dir / "metrics.json").unlink()
    assert run_state(runs[3]) == "restart"
    capsys.readouterr()
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert printed.count("] done") == 3 and "[slow-seed2] restart" in printed
    assert (runs[0].run_dir / "metrics.json").read_bytes() == before
    assert run_state(runs[3]) == "done"


def test_a_run_that_fails_stops_the_grid_with_one_error_naming_it(tmp_path, tiny_model, capfd):
    """Each run trains in its own process; an error there ends the grid with one line that
    names the run (and its log when it got that far), not a traceback."""
    missing = {"transformer_model": str(tmp_path / "no-such-model")}
    path = write(tmp_path / "broken.json", json.dumps(missing))
    command = grid_command(tmp_path, [path])
    assert main(command) != 0
    err = capfd.readouterr().err  # the child writes to the same stderr file descriptor
    assert "no-such-model" in err  # the child's own error line
    assert "run broken-seed1 stopped with exit code 2" in err
    assert "Traceback" not in err


def test_every_config_of_the_grid_is_checked_before_the_first_run(tmp_path, capsys):
    """Mistakes in the second parameter config and in the dataset configs come out with the
    first one's, in one error, before any run starts."""
    first = write(tmp_path / "a.json", json.dumps({"encoder": {"dropout": "0.1"}}))
    second = write(tmp_path / "b.json", json.dumps({"trainng": {}}))
    command = grid_command(tmp_path, [first, second]) + [
        "--override",
        "multiconer_demo.max_sents=none",
    ]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the configuration has 3 problems:\n")
    assert f"  - {first}: key 'encoder.dropout' must be a number" in err
    assert f"  - {second}: unknown key 'trainng'" in err
    assert "dataset 'multiconer_demo': key 'max_sents' must be an integer" in err
    assert not (tmp_path / "logs").exists()
