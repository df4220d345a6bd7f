"""The ``machamp-lite`` command line: train, predict, evaluate, components.

Every failure the user can fix is reported as one ``error:`` line naming the file, line or key;
tracebacks are kept for real bugs.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import MachampError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="machamp-lite", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model from dataset and parameter configs")
    train.add_argument("--dataset_configs", nargs="+", default=None, metavar="CONFIG")
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its last complete checkpoint",
    )
    train.add_argument(
        "--parameters_config",
        default=None,
        metavar="CONFIG",
        help="merged over param_configs/params.json (the defaults)",
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
        default=[],
        metavar="KEY=VALUE",
        help="e.g. training.optimizer.lr=1e-5 training.num_epochs=4",
    )
    train.add_argument("--threads", type=int, default=None, help="torch CPU threads")

    predict = commands.add_parser("predict", help="label a file with a trained model")
    predict.add_argument("model_dir")
    predict.add_argument("input")
    predict.add_argument("output")
    predict.add_argument(
        "--dataset", default=None, help="which training dataset's format and tasks to use"
    )
    predict.add_argument(
        "--labels_only",
        action="store_true",
        help="one label per token line, blank line between sentences",
    )
    predict.add_argument(
        "--raw_text",
        action="store_true",
        help="input is plain text, one sentence per line; output token<TAB>label",
    )
    predict.add_argument("--device", default=None)
    predict.add_argument("--threads", type=int, default=None)

    from .evaluate_cli import add_evaluate_arguments

    add_evaluate_arguments(
        commands.add_parser("evaluate", help="span precision, recall and F1 of predictions")
    )

    commands.add_parser("components", help="list registered readers, encoders, decoders, metrics")
    return parser


def run_train(args) -> None:
    from .training.trainer import train

    run_dir = train(
        args.dataset_configs,
        args.parameters_config,
        args.name,
        args.output_dir,
        args.device,
        args.seed,
        args.data_dir,
        args.override,
        args.threads,
        args.resume,
    )
    print(f"model saved in {run_dir / 'model'}")


def run_predict(args) -> None:
    import torch

    from .predict import Predictor

    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor.load(args.model_dir, args.device)
    count = predictor.predict_file(
        args.input, args.output, args.dataset, args.labels_only, args.raw_text
    )
    print(f"wrote {count} sentences to {args.output}", file=sys.stderr)


def run_evaluate(args) -> None:
    from .evaluate_cli import run_evaluate as evaluate

    evaluate(args)


def run_components(args) -> None:
    from .registry import decoders, describe_parameters, encoders, metrics, readers

    for registry in (readers, encoders, decoders, metrics):
        print(f"{registry.kind}s:")
        for name, component in registry.items():
            params = ", ".join(
                f"{p['name']}={p['default']}" for p in describe_parameters(component)
            )
            print(f"  {name}: {params}")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    handlers = {
        "train": run_train,
        "predict": run_predict,
        "evaluate": run_evaluate,
        "components": run_components,
    }
    try:
        handlers[args.command](args)
    except MachampError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
