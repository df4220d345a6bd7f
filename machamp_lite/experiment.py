"""``machamp-lite experiment``: a grid of parameter configs x seeds over the same dataset
configs, run one after another, resumable, summarised like the paper's Tables 3 and 5."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Problems, check_run_name, load_dataset_configs, load_params, split_overrides
from .errors import ConfigError, MachampError, Terminated
from .training.checkpoint import latest_checkpoint


@dataclass
class GridRun:
    params_path: str
    seed: int
    run_dir: Path

    @property
    def label(self) -> str:
        return f"{Path(self.params_path).stem}-seed{self.seed}"


def plan(params_paths: list[str], seeds: list[int], root: Path) -> list[GridRun]:
    stems = [Path(p).stem for p in params_paths]
    if len(set(stems)) != len(stems):
        raise ConfigError("two parameter configs share a file name; rename one so runs stay apart")
    return [
        GridRun(p, s, root / "runs" / f"{Path(p).stem}-seed{s}")
        for p in params_paths
        for s in seeds
    ]


def run_state(run: GridRun) -> str:
    """ "done", "resume" (a checkpoint exists), "restart" (died before its first epoch ended)
    or "new"."""
    metrics_path = run.run_dir / "metrics.json"
    if metrics_path.is_file() and (run.run_dir / "model").is_dir():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        params = json.loads((run.run_dir / "params.json").read_text(encoding="utf-8"))
        if len(metrics["epochs"]) >= int(params["training"]["num_epochs"]):
            return "done"
    if latest_checkpoint(run.run_dir) is not None:
        return "resume"
    return "restart" if run.run_dir.exists() else "new"


def run_grid(
    dataset_configs: list[str],
    params_paths: list[str],
    seeds: list[int],
    name: str,
    output_dir: str = "logs",
    data_dir: str | None = None,
    overrides: list[str] | None = None,
    device: str | None = None,
    threads: int | None = None,
    allow_plugins: list[str] | None = None,
) -> Path:
    """Run every (parameter config, seed) that is not finished yet, then write the tables.
    ``allow_plugins``: the plugin modules the configs may import (``--plugins``)."""
    check_run_name(name)
    root = Path(output_dir) / name
    runs = plan(params_paths, seeds, root)
    check_grid_configs(dataset_configs, params_paths, overrides or [], data_dir)
    for run in runs:
        state = run_state(run)
        print(f"[{run.label}] {state}", flush=True)
        if state == "done":
            continue
        allowed = list(allow_plugins or [])
        if state == "resume":
            arguments: dict[str, Any] = {"resume": str(run.run_dir), "allow_plugins": allowed}
            _train_in_fresh_process(run, arguments, device, threads)
            continue
        if state == "restart":
            shutil.rmtree(run.run_dir)
        arguments = {
            "dataset_configs": dataset_configs,
            "parameters_config": run.params_path,
            "seed": run.seed,
            "data_dir": data_dir,
            "overrides": overrides,
            "run_dir": str(run.run_dir),
            "allow_plugins": allowed,
        }
        _train_in_fresh_process(run, arguments, device, threads)
    return write_tables(root, runs)


def check_grid_configs(
    dataset_configs: list[str], params_paths: list[str], overrides: list[str], data_dir: str | None
) -> None:
    """Every parameter config and the dataset configs, checked before hours of training: a
    mistake in the last config of the grid would otherwise surface when the first runs are
    done. All problems of all files come out in one error."""
    param_overrides, _ = split_overrides(overrides, dataset_configs)
    problems = Problems()
    plugins: list[str] = []
    for params_path in params_paths:
        with problems.catch():
            plugins += load_params(params_path, param_overrides)["plugins"]
    with problems.catch():
        load_dataset_configs(dataset_configs, data_dir, overrides, plugins=plugins)
    problems.raise_if_any()


def _train_in_fresh_process(
    run: GridRun, arguments: dict[str, Any], device: str | None, threads: int | None
) -> None:
    """Train one run of the grid in a new Python process.

    Each run's peak memory is then its own: RSS is a per-process maximum that never falls, so
    runs sharing one process would all report the largest peak so far (a 23M-parameter model
    after a 118M one reported the same 2.1 GB). Memory is also given back between runs, and a
    run that crashes leaves the grid's process intact. The new process re-imports what a run
    needs: the config's ``plugins`` and the calling script's top level, so components that a
    script registers inside ``if __name__ == "__main__":`` are not seen there; register them
    at the top level or in a plugin module."""
    context = multiprocessing.get_context("spawn")
    process = context.Process(
        target=_train_child, args=({**arguments, "device": device, "threads": threads},)
    )
    process.start()
    try:
        process.join()
    except BaseException:
        # SIGTERM or Ctrl-C reached the grid: stop the run too (it cleans up as a CLI run
        # does), rather than leave it training on as an orphan.
        process.terminate()
        process.join(timeout=120)
        raise
    if process.exitcode != 0:
        log = run.run_dir / "train.log"
        raise MachampError(
            f"run {run.label} stopped with exit code {process.exitcode}; the error is above"
            + (f" and in {log}" if log.is_file() else "")
            + ". Fix the cause and run the same command again: finished runs are kept and "
            "this one starts again or resumes."
        )


def _train_child(arguments: dict[str, Any]) -> None:
    """The body of a run's process: errors the user can fix end as one line, as in the CLI."""
    from .training.run import train

    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        train(**arguments)
    except MachampError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except Terminated:
        sys.exit(128 + signal.SIGTERM)  # the grid's process reports it


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _model_label(name: str) -> str:
    """The model's name for the tables: a hub name as it is; a folder (environment variables
    expanded) by its name, with its parent when the folder is just called ``model``."""
    expanded = os.path.expandvars(name)
    path = Path(expanded)
    if not path.is_dir():
        return expanded
    return f"{path.parent.name}/{path.name}" if path.name == "model" else path.name


def run_row(run: GridRun) -> dict[str, Any]:
    metrics = json.loads((run.run_dir / "metrics.json").read_text(encoding="utf-8"))
    params = json.loads((run.run_dir / "params.json").read_text(encoding="utf-8"))
    best = metrics.get("best_dev") or {}
    main_task = next(iter(best), None)  # the first task of the first dataset config
    result = best.get(main_task, {}) if main_task else {}
    peak_mb = metrics.get("peak_gpu_reserved_mb", metrics.get("peak_rss_mb"))
    return {
        "params": Path(run.params_path).stem,
        "model": _model_label(str(params["transformer_model"])),
        "lr": params["training"]["optimizer"]["lr"],
        "seed": run.seed,
        "main_task": main_task,
        "best_epoch": metrics.get("best_epoch"),
        "dev_micro_f1": result.get("micro", {}).get("f1", result.get("score")),
        "dev_macro_f1": result.get("macro", {}).get("f1"),
        "dev_sum": metrics.get("best_dev_sum"),
        "train_hours": metrics["training_seconds"] / 3600,
        "peak_memory_gb": peak_mb / 1024 if peak_mb is not None else None,
        "memory": "GPU reserved" if "peak_gpu_reserved_mb" in metrics else "CPU RSS",
        "fits_budget": metrics.get("fits_memory_budget"),
        "device": metrics.get("device"),
    }


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def write_tables(root: Path, runs: list[GridRun]) -> Path:
    """results.csv and results.md (one row per run, Table 3) plus mean ± std over seeds
    (Table 5) in summary.csv and results.md."""
    rows = [run_row(r) for r in runs if run_state(r) == "done"]
    if not rows:
        raise ConfigError(f"{root}: no finished runs to summarise")
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    (root / "results.csv").write_text(buffer.getvalue(), encoding="utf-8")

    summary = []
    for params in dict.fromkeys(r["params"] for r in rows):
        group = [r for r in rows if r["params"] == params]
        summary.append(
            {
                "params": params,
                "model": group[0]["model"],
                "lr": group[0]["lr"],
                "seeds": len(group),
                "dev_micro_f1": _mean_std([r["dev_micro_f1"] for r in group]),
                "dev_macro_f1": _mean_std([r["dev_macro_f1"] for r in group]),
                "train_hours": _mean_std([r["train_hours"] for r in group]),
                "peak_memory_gb": _mean_std([r["peak_memory_gb"] for r in group]),
            }
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(summary[0]))
    writer.writeheader()
    writer.writerows(summary)
    (root / "summary.csv").write_text(buffer.getvalue(), encoding="utf-8")

    shown = [
        "params",
        "model",
        "lr",
        "seed",
        "dev_micro_f1",
        "dev_macro_f1",
        "train_hours",
        "peak_memory_gb",
        "memory",
        "fits_budget",
    ]
    lines = [
        f"# Results: {root.name}",
        "",
        f"Main task: {rows[0]['main_task']}; one row per run.",
        "",
        "| " + " | ".join(shown) + " |",
        "|" + "---|" * len(shown),
    ]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in shown) + " |" for r in rows]
    lines += [
        "",
        "## Mean ± standard deviation over seeds",
        "",
        "| " + " | ".join(summary[0]) + " |",
        "|" + "---|" * len(summary[0]),
    ]
    lines += ["| " + " | ".join(_fmt(v) for v in s.values()) + " |" for s in summary]
    (root / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
