"""``machamp-lite predict``: its arguments (MaChAmp's ``predict.py`` flags and the confidence
options of prediction_confidence.py) and the run that labels each INPUT OUTPUT pair with one
loaded model."""

from __future__ import annotations

import argparse
import sys

from .errors import ConfigError


def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``predict`` beside ``--plugins`` (which cli.py adds to every command
    that loads code)."""
    parser.add_argument("model_dir")
    parser.add_argument(
        "files",
        nargs="+",
        metavar="INPUT OUTPUT",
        help="an input file and the output to write; several pairs as MaChAmp's predict.py "
        "takes them (INPUT1 OUTPUT1 INPUT2 OUTPUT2 ...)",
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        default=None,
        help="sentences per prediction batch (default: the model's prediction.batch_size)",
    )
    parser.add_argument(
        "--topn",
        type=int,
        default=None,
        metavar="N",
        help="write MaChAmp's top-n cells (label=probability pairs joined by |, the first the "
        "prediction) for every task that gives probabilities; for seq_bio the i-th pair is the "
        "word's label in the i-th best sequence (default: each task's topn key, 1)",
    )
    parser.add_argument(
        "--probabilities",
        nargs="?",
        const=True,
        default=None,
        metavar="FILE",
        help="also write the probabilities (each word's, each entity's) as JSON lines, one per "
        "sentence, to FILE (default OUTPUT.probabilities.jsonl); the output keeps its format",
    )
    parser.add_argument(
        "--min_confidence",
        type=float,
        default=None,
        metavar="P",
        help="write seq_bio entities whose probability is below P (0 to 1) as O: the "
        "precision/recall dial (evaluate --probabilities shows the curve)",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="probabilities without the temperature fitted on dev data after training",
    )
    parser.add_argument(
        "--dataset", default=None, help="which training dataset's format and tasks to use"
    )
    parser.add_argument(
        "--labels_only",
        action="store_true",
        help="one label per token line, blank line between sentences",
    )
    parser.add_argument(
        "--raw_text",
        action="store_true",
        help="input is plain text, one sentence per line; output token<TAB>label",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N; MaChAmp's -1 (cpu) and N (cuda:N)"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default="torch",
        help="torch: MODEL is a model folder; onnx: MODEL is the folder of machamp-lite export "
        "--format onnx, run by onnxruntime on the CPU (same labels, no --probabilities/--topn)",
    )
    parser.add_argument(
        "--onnx_graph",
        choices=("fp32", "int8"),
        default=None,
        help="with --backend onnx: the float32 graph (default) or the int8 one (export --int8)",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        default="auto",
        help="with --backend torch: bf16 or fp16 runs the encoder under autocast (fast on a GPU "
        "or a CPU with AVX512-BF16/AMX, emulated and slower elsewhere; see performance.md); "
        "auto (default): bf16 where it is fast, else fp32",
    )
    parser.add_argument(
        "--max_sents",
        type=int,
        default=None,
        metavar="N",
        help="predict and write only the first N sentences of each input (N >= 1; MaChAmp's "
        "--max_sents); the output then ends after sentence N",
    )
    parser.add_argument(
        "--encoding",
        default=None,
        help="of the input and of the output written in place (default: the dataset's "
        '"encoding" key, utf-8 unless set; e.g. utf-16, latin-1)',
    )


def run_predict(args) -> None:
    import torch

    from .predict import Predictor
    from .registry import import_plugin_modules

    if args.threads:
        torch.set_num_threads(args.threads)
    import_plugin_modules(args.plugins, "--plugins")
    pairs = prediction_pairs(args.files)
    if args.probabilities is not None and args.probabilities is not True and len(pairs) > 1:
        raise ConfigError(
            "--probabilities FILE names one file but there are several outputs; give "
            "--probabilities without a file name (each output gets OUTPUT.probabilities.jsonl)"
        )
    if args.topn is not None and args.topn < 1:
        raise ConfigError(f"--topn {args.topn}: must be at least 1")
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        raise ConfigError(f"--min_confidence {args.min_confidence}: must be from 0 to 1")
    if args.batch_size is not None and args.batch_size < 1:
        raise ConfigError(f"--batch_size {args.batch_size}: must be at least 1")
    predictor = Predictor.load(
        args.model_dir,
        args.device,
        allow_plugins=args.plugins,
        backend=args.backend,
        onnx_graph=args.onnx_graph,
        precision=args.precision,
    )
    if args.batch_size is not None:
        predictor.params.setdefault("prediction", {})["batch_size"] = args.batch_size
    for input_path, output_path in pairs:
        count = predictor.predict_file(
            input_path,
            output_path,
            args.dataset,
            args.labels_only,
            args.raw_text,
            encoding=args.encoding,
            max_sents=args.max_sents,
            probabilities=args.probabilities,
            topn=args.topn,
            min_confidence=args.min_confidence,
            calibrated=not args.uncalibrated,
        )
        print(f"wrote {count} sentences to {output_path}", file=sys.stderr)


def prediction_pairs(files: list[str]) -> list[tuple[str, str]]:
    """``predict``'s positional files as (input, output) pairs: one pair, or several as
    MaChAmp's predict.py takes them; an odd count is an error before anything is loaded."""
    if len(files) % 2:
        raise ConfigError(
            f"predict takes an output file for each input file (INPUT OUTPUT [INPUT OUTPUT ...]), "
            f"got {len(files)} file(s): {' '.join(files)}"
        )
    pairs = list(zip(files[0::2], files[1::2]))
    outputs = [output for _, output in pairs]
    if len(set(outputs)) != len(outputs):
        raise ConfigError("predict: two inputs name the same output file; give each its own")
    return pairs
