"""Long sentences: seconds and peak RSS of predicting one sentence of 10k, 100k and 1M
subwords, each in a fresh process, with this checkout's code and optionally an earlier revision.

    python -m benchmarks.bench_long_sentence [--sizes 10000 100000 1000000]
        [--shapes words token] [--model small|HF_FOLDER] [--old_ref REV]
        [--old_max_seconds 900] [--max_rss_mb 8000] [--threads 1] [--out FILE.json]

Two shapes of sentence: ``words`` repeats the words of the shipped demo data until the
sentence has the given number of subwords (about 2.7 subwords a word with the small model's
tokenizer); ``token`` is one whitespace-free word of that many subwords (``x.x.x.``), the case
of the issue that reported it (one 200,000-subword token ran for minutes at 7 GB).

``--model small`` (the default) is a random BERT with 512-subword windows, 2 layers and hidden
size 128, its archive trained one epoch on 40 demo sentences; a Hugging Face folder (e.g.
``$ME5_SMALL``) is trained the same way. ``--old_ref`` also runs each case with the package as
it was at that git revision (extracted to a temporary folder); a run of either is stopped when
it passes ``--max_rss_mb`` of resident memory, or (old only) ``--old_max_seconds``, and is
then reported as stopped, with what it had reached.

One torch thread by default, so that the figures depend less on other work sharing the cores:
on the 2-core machine one 1M-subword run at two threads took 55 s when run directly, and was
still running after 277 s inside a benchmark run while other sessions used the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO_TRAIN = ROOT / "data/demo/multiconer_demo_train.conll"
DEMO_DEV = ROOT / "data/demo/multiconer_demo_dev.conll"
SMALL_SIZES = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "max_position_embeddings": 512,
}
SMALL_DESCRIPTION = (
    "random BERT (2 layers, hidden 128, 4 heads, 512 positions, WordPiece 400), CRF tagger, "
    "trained 1 epoch on 40 demo sentences"
)

# Runs in the measured process, as ``python -c``, in the folder whose machamp_lite it measures
# (so an earlier revision's package is the one imported). Uses only what every revision has.
CHILD = """
import json, resource, sys, time
import torch
model, shape, subwords, demo, threads = sys.argv[1:6]
subwords, threads = int(subwords), int(threads)
torch.set_num_threads(threads)
from machamp_lite.predict import Predictor

predictor = Predictor.load(model, device="cpu")
encoder = predictor.model.encoder
if shape == "token":
    words, count = ["x." * (subwords // 2)], None
else:
    vocabulary = [line.split()[0] for line in open(demo, encoding="utf-8")
                  if line.strip() and not line.startswith("# id")]
    pieces = {w: len(p) for w, p in zip(vocabulary, encoder.subwords.word_pieces(vocabulary))}
    words, count = [], 0
    while count < subwords:
        words.append(vocabulary[len(words) % len(vocabulary)])
        count += pieces[words[-1]]
calls = []
encoder.transformer.register_forward_pre_hook(
    lambda module, args, kwargs: calls.append(tuple(kwargs["input_ids"].shape)),
    with_kwargs=True)
def resident_mb():
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def reset_peak():
    # Linux: the peak (VmHWM, and ru_maxrss with it) restarts from the current RSS, so the
    # peak read afterwards is that of what follows, not of loading the model
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False

peak_reset = reset_peak()
rss_before = resident_mb()
print(json.dumps({"rss_before_mb": round(rss_before, 1)}), flush=True)
start = time.perf_counter()
(labels,) = predictor.predict([words])
seconds = time.perf_counter() - start
task = next(iter(labels))
if count is None:
    count = len(encoder.subwords.encode(words).subword_ids)
print(json.dumps({
    "subwords": count,
    "words": len(words),
    "labels": len(labels[task]),
    "seconds": round(seconds, 2),
    "transformer_calls": len(calls),
    "windows_encoded": sum(rows for rows, _ in calls),
    "largest_call_positions": max(rows * width for rows, width in calls),
    "rss_before_mb": round(rss_before, 1),
    "peak_reset_before_predicting": peak_reset,
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
}), flush=True)
"""


def train_archive(folder: Path, model: str, threads: int) -> Path:
    """An archive of ``model`` (the small random BERT, or a Hugging Face folder) with a CRF
    tagger trained one epoch on 40 demo sentences: prediction speed and memory do not depend
    on how well it tags."""
    import machamp_lite
    from machamp_lite.testing import build_random_model, demo_texts

    if model == "small":
        model = str(build_random_model(folder / "small", demo_texts(), 400, SMALL_SIZES))
    params = folder / "params.json"
    params.write_text(
        json.dumps(
            {
                "transformer_model": model,
                "encoder": {"max_input_length": 512},
                "training": {"num_epochs": 1},
            }
        ),
        encoding="utf-8",
    )
    dataset = folder / "dataset.json"
    dataset.write_text(
        json.dumps(
            {
                "demo": {
                    "train_data_path": str(DEMO_TRAIN),
                    "dev_data_path": str(DEMO_DEV),
                    "word_idx": 0,
                    "max_sents": 40,
                    "max_dev_sents": 10,
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                }
            }
        ),
        encoding="utf-8",
    )
    run = machamp_lite.train(
        [str(dataset)], str(params), output_dir=str(folder / "logs"), threads=threads
    )
    return run / "model"


def extract_revision(ref: str, folder: Path) -> Path:
    """The machamp_lite package as it was at git revision ``ref``, in ``folder``."""
    archive = subprocess.run(
        ["git", "archive", ref, "machamp_lite"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def resident_peak_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a running process, from /proc (Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def measure(
    code_root: Path,
    archive: Path,
    shape: str,
    subwords: int,
    threads: int,
    max_rss_mb: float,
    max_seconds: float | None,
) -> dict[str, Any]:
    """One prediction in a fresh process, watched: stopped past ``max_rss_mb`` resident or
    ``max_seconds`` of prediction. The child prints one JSON line when it starts predicting
    and one with its measurements at the end."""
    from benchmarks.bench_train_predict import child_environment

    command = [
        sys.executable,
        "-c",
        CHILD,
        str(archive),
        shape,
        str(subwords),
        str(DEMO_TRAIN),
        str(threads),
    ]
    env = child_environment({"PYTHONPATH": None, "TOKENIZERS_PARALLELISM": "false"})
    lines: list[dict[str, Any]] = []
    started: list[float] = []

    def read(stream) -> None:
        for line in stream:
            if line.startswith("{"):
                lines.append(json.loads(line))
                started.append(time.perf_counter())

    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(
            command, cwd=code_root, stdout=subprocess.PIPE, stderr=err, env=env, text=True
        )
        reader = threading.Thread(target=read, args=(child.stdout,), daemon=True)
        reader.start()
        peak, stopped = 0.0, None
        while child.poll() is None:
            time.sleep(0.2)
            peak = max(peak, resident_peak_mb(child.pid) or 0.0)
            predicting = time.perf_counter() - started[0] if started else 0.0
            if peak > max_rss_mb:
                stopped = f"stopped: resident memory passed {max_rss_mb:.0f} MB"
            elif max_seconds and predicting > max_seconds:
                stopped = f"stopped: still predicting after {max_seconds:.0f} s"
            if stopped:
                child.kill()
                child.wait()
                reader.join()
                return {
                    "stopped": stopped,
                    "seconds_at_stop": round(predicting, 1),
                    "peak_rss_mb_at_stop": round(peak, 1),
                    **(lines[0] if lines else {}),
                }
        reader.join()
        if child.returncode != 0 or len(lines) < 2:
            err.seek(0)
            raise RuntimeError(f"child failed (exit {child.returncode}):\n{err.read()[-3000:]}")
        return lines[-1]


def run(
    sizes: list[int],
    shapes: list[str],
    model: str = "small",
    old_ref: str | None = None,
    old_max_seconds: float = 900,
    max_rss_mb: float = 8000,
    threads: int = 1,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Every (shape, size) case in its own process, and with ``old_ref`` again with the
    package of that revision; ``model_name`` is how the command line named the model."""
    from benchmarks.bench_train_predict import load_average, machine

    model_name = model_name or model

    description = machine()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        archive = train_archive(folder, model, threads)
        old_root = extract_revision(old_ref, folder / "old") if old_ref else None
        for shape in shapes:
            for size in sizes:
                row: dict[str, Any] = {
                    "new": measure(ROOT, archive, shape, size, threads, max_rss_mb, None)
                }
                if old_root is not None:
                    row["old"] = measure(
                        old_root, archive, shape, size, threads, max_rss_mb, old_max_seconds
                    )
                results.setdefault(shape, {})[str(size)] = row
                print(json.dumps({shape: {size: row}}), file=sys.stderr, flush=True)
    command = "python -m benchmarks.bench_long_sentence --sizes " + " ".join(map(str, sizes))
    command += " --shapes " + " ".join(shapes) + f" --threads {threads}"
    if model_name != "small":
        command += f" --model {model_name}"
    if old_ref:
        command += f" --old_ref {old_ref} --old_max_seconds {old_max_seconds:g}"
    return {
        "benchmark": "long_sentence",
        "command": command + f" --max_rss_mb {max_rss_mb:g}",
        "machine": description,
        "load_average_end": load_average(),
        "model": SMALL_DESCRIPTION
        if model == "small"
        else f"{model_name} ({model}), CRF tagger, trained 1 epoch on 40 demo sentences",
        "old_ref": old_ref,
        "old_commit": (
            subprocess.run(
                ["git", "rev-parse", old_ref], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
            if old_ref
            else None
        ),
        "threads": threads,
        "results": results,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--shapes", nargs="+", choices=["words", "token"], default=["words"])
    parser.add_argument("--model", default="small")
    parser.add_argument("--old_ref", default=None)
    parser.add_argument("--old_max_seconds", type=float, default=900)
    parser.add_argument("--max_rss_mb", type=float, default=8000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    model = os.path.expandvars(args.model)
    result = run(
        args.sizes,
        args.shapes,
        model,
        args.old_ref,
        args.old_max_seconds,
        args.max_rss_mb,
        args.threads,
        args.model,
    )
    out = Path(args.out or ROOT / "benchmarks/results/long_sentence.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
