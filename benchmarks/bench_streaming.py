"""Streaming prediction: peak RSS and sentences/s of ``machamp-lite predict`` on generated
MultiCoNER-like files of 20k and 200k sentences with a tiny model. Peak RSS should stay flat.

    python -m benchmarks.bench_streaming [--sizes 20000 200000] [--out FILE.json]

Each size runs in its own process (peak RSS is per process). The input repeats the sentences
of the shipped demo data in MultiCoNER format (`# id` lines, `token _ _ TAG`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_input(path: Path, sentences: int) -> None:
    blocks = (ROOT / "data/demo/multiconer_demo_train.conll").read_text().strip().split("\n\n")
    with open(path, "w", encoding="utf-8") as out:
        for i in range(sentences):
            lines = blocks[i % len(blocks)].split("\n")
            out.write(f"# id s{i}\tdomain=bench\n" + "\n".join(lines[1:]) + "\n\n")


def child(model_dir: str, input_path: str, output_path: str) -> dict:
    import torch

    from machamp_lite.predict import Predictor

    torch.set_num_threads(2)
    predictor = Predictor.load(model_dir, device="cpu")
    start = time.time()
    count = predictor.predict_file(input_path, output_path)
    seconds = time.time() - start
    return {
        "sentences": count,
        "seconds": seconds,
        "sentences_per_s": count / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def train_tiny(folder: Path) -> Path:
    """A tiny model archive trained for one epoch on the demo data."""
    import machamp_lite
    from machamp_lite.testing import build_tiny_model, demo_texts

    model = build_tiny_model(folder / "tiny", demo_texts())
    params = folder / "params.json"
    params.write_text(
        json.dumps(
            {
                "transformer_model": str(model),
                "encoder": {"max_input_length": 64},
                "training": {"num_epochs": 1},
            }
        )
    )
    run = machamp_lite.train(
        [str(ROOT / "dataset_configs/demo.json")],
        str(params),
        output_dir=str(folder / "logs"),
        data_dir=str(ROOT),
        threads=2,
    )
    return run / "model"


def run(sizes: list[int]) -> dict:
    from benchmarks.bench_train_predict import load_average, machine

    description = machine()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_tiny(folder)
        for size in sizes:
            source = folder / f"in_{size}.conll"
            make_input(source, size)
            command = [
                sys.executable,
                "-m",
                "benchmarks.bench_streaming",
                "--child",
                str(model),
                str(source),
                str(folder / f"out_{size}.conll"),
            ]
            output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
            results[str(size)] = json.loads(output.stdout.strip().splitlines()[-1])
            source.unlink()
    small, large = results[str(min(sizes))], results[str(max(sizes))]
    return {
        "benchmark": "streaming_predict",
        "command": "python -m benchmarks.bench_streaming --sizes "
        + " ".join(str(size) for size in sizes),
        "machine": description,
        "load_average_end": load_average(),
        "model": "tiny BERT (2 layers, hidden 32) trained 1 epoch on the demo data",
        "results": results,
        "peak_rss_ratio_largest_vs_smallest": large["peak_rss_mb"] / small["peak_rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[20_000, 200_000])
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "INPUT", "OUTPUT"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    result = run(args.sizes)
    out = Path(args.out or ROOT / "benchmarks/results/streaming_predict.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
