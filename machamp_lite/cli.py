"""The ``machamp-lite`` command line: train, predict, evaluate, export, components.

Every failure the user can fix is reported as one ``error:`` line naming the file, line or key;
tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from .errors import ConfigError, MachampError, Terminated

PLUGINS_HELP_CONFIGS = "plugin modules the configs may import (importing runs their code)"
PLUGINS_HELP_MODEL = (
    "import these modules first, and let the model import them: a plugin module that a model "
    "names is imported only when listed here (importing runs its code)"
)


def add_plugins_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--plugins MODULE ...``, repeatable: the only way a config or a model folder gets a
    Python module imported is that the user names it here."""
    parser.add_argument(
        "--plugins", nargs="+", action="extend", default=[], metavar="MODULE", help=help_text
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="machamp-lite", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model from dataset and parameter configs")
    train.add_argument(
        "--dataset_configs", nargs="+", action="extend", default=None, metavar="CONFIG"
    )
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last complete checkpoint",
    )
    train.add_argument(
        "--retrain",
        default=None,
        metavar="MODEL_DIR",
        help="start from an earlier run's model (its RUN/model folder): its encoder, and its "
        "decoders where a task of the same name has the same labels (MaChAmp's --retrain)",
    )
    train.add_argument(
        "--sequential",
        action="store_true",
        help="train on the dataset configs one after another, each run starting from the "
        "previous one's model (MaChAmp's --sequential); runs are named NAME.0, NAME.1, ...",
    )
    train.add_argument(
        "--parameters_config",
        default=None,
        metavar="CONFIG",
        help="merged over the defaults (machamp_lite/default_params.json, listed in "
        "docs/configuration.md)",
    )
    train.add_argument("--name", default=None, help="run name (folder under --output_dir)")
    train.add_argument("--output_dir", default="logs")
    train.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)"
    )
    train.add_argument("--seed", type=int, default=None)
    train.add_argument(
        "--data_dir",
        default=None,
        help="root for relative data paths (default: $MACHAMP_DATA_DIR or the working directory)",
    )
    train.add_argument(
        "--override",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. training.optimizer.lr=1e-5 training.num_epochs=4",
    )
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    train.add_argument(
        "--memory_budget_gb",
        type=float,
        default=None,
        help="warn early when the run is about to need more (GPU reserved memory, or RSS on CPU)",
    )
    add_plugins_argument(train, PLUGINS_HELP_CONFIGS)
    train.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel processes on this machine (runs torchrun; one per GPU, or gloo on CPU)",
    )

    experiment = commands.add_parser(
        "experiment", help="run parameter configs x seeds and tabulate the results"
    )
    experiment.add_argument(
        "--dataset_configs", nargs="+", action="extend", required=True, metavar="CONFIG"
    )
    experiment.add_argument(
        "--parameters_configs", nargs="+", action="extend", required=True, metavar="CONFIG"
    )
    experiment.add_argument("--seeds", nargs="+", action="extend", type=int, default=None)
    experiment.add_argument("--name", required=True, help="folder under --output_dir")
    experiment.add_argument("--output_dir", default="logs")
    experiment.add_argument("--data_dir", default=None)
    experiment.add_argument(
        "--override", nargs="+", action="extend", default=[], metavar="KEY=VALUE"
    )
    experiment.add_argument("--device", default=None)
    experiment.add_argument("--threads", type=int, default=None)
    experiment.add_argument("--memory_budget_gb", type=float, default=None)
    add_plugins_argument(experiment, PLUGINS_HELP_CONFIGS)

    from .cli_predict import add_predict_arguments

    predict = commands.add_parser("predict", help="label a file with a trained model")
    add_predict_arguments(predict)
    add_plugins_argument(predict, PLUGINS_HELP_MODEL)

    from .export_hf import add_export_arguments

    export = commands.add_parser(
        "export", help="write a model as Hugging Face folders (hf) or one ONNX graph (onnx)"
    )
    add_export_arguments(export)
    add_plugins_argument(export, PLUGINS_HELP_MODEL)

    from .calibration import add_calibrate_arguments

    calibrate = commands.add_parser("calibrate", help="fit each task's temperature on dev data")
    add_calibrate_arguments(calibrate)
    add_plugins_argument(calibrate, PLUGINS_HELP_MODEL)

    from .evaluate_cli import add_evaluate_arguments

    add_evaluate_arguments(
        commands.add_parser(
            "evaluate", help="score predictions: spans, UD (CoNLL-U) metrics, or every task"
        )
    )

    components = commands.add_parser(
        "components", help="list registered readers, encoders, decoders, metrics"
    )
    components.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of text: each argument with its type, the JSON types a config "
        "may give it, and its default",
    )
    add_plugins_argument(components, "import these modules first")
    return parser


def check_numeric_flags(args) -> None:
    """Zero, negative and out-of-range numbers on the command line are one error naming the
    flag, before anything is read or created."""
    from .config import MAX_SEED, POSITIVE, POSITIVE_INT, Range

    seed = Range(0, MAX_SEED, integer=True)
    checks = {
        "threads": POSITIVE_INT,
        "max_sents": POSITIVE_INT,
        "nproc": POSITIVE_INT,
        "memory_budget_gb": POSITIVE,
        "seed": seed,
        "seeds": seed,
    }
    for flag, allowed in checks.items():
        value = getattr(args, flag, None)
        for item in value if isinstance(value, list) else [value]:
            if item is not None and not allowed.contains(item):
                raise ConfigError(f"--{flag} {item}: must be {allowed.describe()}")


def launch_torchrun(args) -> int:
    """Re-run this command under torchrun with ``--nproc`` processes (PyTorch's own launcher)."""
    import subprocess

    argv = list(args.argv)
    for i, item in enumerate(argv):
        if item == "--nproc":
            del argv[i : i + 2]
            break
        if item.startswith("--nproc="):
            del argv[i]
            break
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={args.nproc}",
        "-m",
        "machamp_lite",
        *argv,
    ]
    return subprocess.run(command).returncode


def run_train(args) -> None:
    from .training.run import train

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        code = launch_torchrun(args)
        if code:
            raise SystemExit(code)
        return

    settings = {
        "parameters_config": args.parameters_config,
        "output_dir": args.output_dir,
        "device": args.device,
        "seed": args.seed,
        "data_dir": args.data_dir,
        "overrides": args.override
        + ([f"training.memory_budget_gb={args.memory_budget_gb}"] if args.memory_budget_gb else []),
        "threads": args.threads,
        "resume": args.resume,
        "allow_plugins": args.plugins,
        "retrain": args.retrain,
    }
    if args.sequential:
        from .training.run import train_sequential

        runs = train_sequential(args.dataset_configs or [], name=args.name, **settings)
        for run in runs[:-1]:
            print(f"model of run {run.parent.name} saved in {run / 'model'}")
        run_dir = runs[-1]
    else:
        run_dir = train(args.dataset_configs, name=args.name, **settings)
    if os.environ.get("RANK", "0") == "0":
        print(f"model saved in {run_dir / 'model'}")


def run_experiment(args) -> None:
    from .experiment import run_grid

    overrides = args.override + (
        [f"training.memory_budget_gb={args.memory_budget_gb}"] if args.memory_budget_gb else []
    )
    root = run_grid(
        args.dataset_configs,
        args.parameters_configs,
        args.seeds or [1],
        args.name,
        args.output_dir,
        args.data_dir,
        overrides,
        args.device,
        args.threads,
        allow_plugins=args.plugins,
    )
    print((root / "results.md").read_text(encoding="utf-8"))
    print(f"tables in {root}/results.md, results.csv and summary.csv")


def run_predict(args) -> None:
    from .cli_predict import run_predict as predict

    predict(args)


def run_evaluate(args) -> None:
    from .evaluate_cli import run_evaluate as evaluate

    evaluate(args)


def run_export(args) -> None:
    from .export_hf import run_export as export

    export(args)


def run_calibrate(args) -> None:
    from .calibration import run_calibrate as calibrate

    calibrate(args)


def run_components(args) -> None:
    import json

    from .reference import describe_components, format_components
    from .registry import import_plugin_modules, load_plugins

    load_plugins()
    import_plugin_modules(args.plugins, "--plugins")
    listing = describe_components()
    print(json.dumps(listing, indent=2) if args.json else format_components(listing))


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # SIGTERM (a cluster's time limit, kill) unwinds like Ctrl-C, so temporary files, the
    # run's .tokenizer folder and half-written outputs are removed on the way out.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed the usage and its error (or the help)
        return exit_.code if isinstance(exit_.code, int) else 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    handlers = {
        "train": run_train,
        "experiment": run_experiment,
        "predict": run_predict,
        "evaluate": run_evaluate,
        "export": run_export,
        "calibrate": run_calibrate,
        "components": run_components,
    }
    try:
        check_numeric_flags(args)
        handlers[args.command](args)
    except MachampError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # The file system refused (no permission, a full disk, a folder where a file should be):
        # something the user can fix, so one line naming the path rather than a traceback.
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated as stop:
        detail = f"; {stop}" if str(stop) else ""
        print(
            f"error: terminated by SIGTERM; temporary files were removed{detail}",
            file=sys.stderr,
        )
        return 128 + signal.SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
