"""Training and prediction speed, peak memory and dev F1 of the real library path
(``machamp_lite.train`` with generated configs) on the small MultiCoNER setup: the first 500
sentences of each full train set (en de es nl ru tr ko: 3,500) and the first 200 of each of the
11 dev sets (2,200), with multilingual-e5-small on 2 threads.

Each run is a fresh Python process, so its peak RSS is its own. The numbers come from the run's
``metrics.json`` (per epoch: ``train_seconds``, ``train_sentences``, ``dev_seconds``,
``peak_rss_mb``, dev scores), i.e. what a user's run reports.

``profile_steps`` splits single training steps into forward, backward, gradient clipping and
optimizer step, for settings that take turns on one model (so machine load hits all alike).

Also the helpers the other benchmarks share: model and data paths, machine description and
the fresh-process runner.

    python -m benchmarks.bench_train_predict [--epochs 1] [--set KEY=VALUE ...]
    python -m benchmarks.bench_train_predict --profile [--threads 1]
    python -m benchmarks.bench_train_predict --code /tmp/old   # another checkout's machamp_lite
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.predict_backends import FP32_BACKEND, measure_backends

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
GET_MODELS = SHARED / "tools" / "get-models"

TRAIN_LANGUAGES = ("en", "de", "es", "nl", "ru", "tr", "ko")
DEV_LANGUAGES = ("bn", "de", "en", "es", "fa", "hi", "ko", "nl", "ru", "tr", "zh")
LANGUAGE_FOLDERS = {
    "bn": "BN-Bangla",
    "de": "DE-German",
    "en": "EN-English",
    "es": "ES-Spanish",
    "fa": "FA-Farsi",
    "hi": "HI-Hindi",
    "ko": "KO-Korean",
    "nl": "NL-Dutch",
    "ru": "RU-Russian",
    "tr": "TR-Turkish",
    "zh": "ZH-Chinese",
}
MODULE = "benchmarks.bench_train_predict"
DATASET = "multiconer_small"
TASK = "ner"

# MaChAmp v0.4 with its default settings on the same setup and machine type, measured before
# this benchmark existed (the anchors); not re-measured here.
MACHAMP_ANCHORS = {
    "train_sentences_per_s": 12.0,
    "train_epoch_seconds": 295.0,
    "predict_sentences_per_s": 58.0,
    "predict_seconds": 38.0,
    "peak_rss_mb": 4200.0,
    "dev_micro_f1_after_4_epochs": 0.10,
    "tokenize_seconds_multiconer_train": 204.0,
}
TARGETS = {
    "train_sentences_per_s": 24.0,
    "predict_sentences_per_s": 116.0,
    "peak_rss_mb": 2100.0,
    # Issue 17: the four-epoch F1 of the default recipe (docs/reproducing.md) not below 0.55.
    "dev_micro_f1_after_4_epochs": 0.55,
    "tokenize_seconds_multiconer_train": 15.0,
    # Issue 17: ratios against the plain fine-tuning loop trained and used for prediction in
    # the same run (benchmarks/bench_reference.py), so that they hold on any machine. The best
    # prediction backend counts only when its dev F1 is within 0.005 of the torch fp32 model's.
    "train_speedup_vs_reference": 3.0,
    "predict_speedup_vs_reference_best": 4.0,
    "predict_best_f1_within_of_fp32": 0.005,
}


# ---------------------------------------------------------------- shared helpers


def train_file(language: str) -> str:
    """A full MultiCoNER train set, relative to the data directory (Russian is the rebuilt one)."""
    name = "ru_train.reconstructed.conll" if language == "ru" else f"{language}_train.conll"
    return f"multiconer2022/{LANGUAGE_FOLDERS[language]}/{name}"


def dev_file(language: str) -> str:
    return f"multiconer2022/{LANGUAGE_FOLDERS[language]}/{language}_dev.conll"


def default_data_dir() -> Path:
    return Path(os.environ.get("MACHAMP_DATA_DIR") or SHARED / "data")


def find_models() -> dict[str, str]:
    """Paths of the offline encoders: $ME5_SMALL / $MINILM when set, else what
    ../shared/tools/get-models prints (it builds them once, then only prints them)."""
    found = {k: os.environ[k] for k in ("ME5_SMALL", "MINILM") if os.environ.get(k)}
    if len(found) == 2 or not GET_MODELS.exists():
        return found
    output = subprocess.run([str(GET_MODELS)], check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            found.setdefault(key.strip(), value.strip())
    return found


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


SPEED_FLAGS = {"avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8"}


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was (other processes share
    its cores, so the load average belongs next to every timing)."""
    import torch

    from machamp_lite.precision import cpu_flags

    description: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": load_average(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        # Machines of one kind differ in these, and the ratios follow them: bf16 and int8
        # dot products (AVX512-BF16/AMX, VNNI) decide what bf16 and int8 buy.
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_flags": sorted(cpu_flags() & SPEED_FLAGS),
    }
    try:
        import transformers

        description["transformers"] = transformers.__version__
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            description["memory_gb"] = round(int(meminfo.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return description


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def child_environment(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a measurement process.

    OpenMP threads wait for work as the GNU runtime does by default: spinning, which on a
    machine whose cores other processes also use takes the cores those processes need, and
    the spinning thread's partner then waits for a core. On the 2-core machine, with another
    training run on the same cores (load average 3.4), one multilingual-e5-small training step
    took 10.6 and 2.4 s spinning against 1.3 and 1.6 s with ``OMP_WAIT_POLICY=PASSIVE``, the
    two taking turns (docs/performance.md). Measurements run with PASSIVE unless
    the caller's environment sets a policy; it is read when torch starts, so it has to be in
    the environment of a new process. In ``extra``, None removes a variable."""
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_child(
    module: str,
    spec: dict[str, Any],
    timeout: float | None = None,
    env: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Run ``python -m MODULE --child SPEC`` in a fresh process and return the JSON object on
    its last stdout line, with the OpenMP wait policy it ran under. Its stderr (logging,
    progress bars) stays out of the benchmark's own output and is shown only when the child
    fails."""
    command = [sys.executable, "-m", module, "--child", json.dumps(spec)]
    environment = child_environment(env)
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} failed (exit {done.returncode}):\n"
            f"{done.stderr[-3000:]}\n{done.stdout[-1000:]}"
        )
    result = json.loads(lines[-1])
    result["omp_wait_policy"] = environment.get("OMP_WAIT_POLICY", "unset (GNU default)")
    return result


def train_in_child(
    model: str,
    data_dir: str,
    overrides: list[str],
    train_sents: int,
    dev_sents: int,
    device: str | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    """``train_and_predict`` for one epoch with seed 1 in a fresh process (its peak memory is
    its own): one row of a benchmark that compares settings."""
    spec: dict[str, Any] = {
        "kind": "train",
        "model": model,
        "data_dir": data_dir,
        "epochs": 1,
        "train_sents": train_sents,
        "dev_sents": dev_sents,
        "threads": threads,
        "seed": 1,
        "overrides": overrides,
    }
    if device:
        spec["device"] = device
    return run_child(MODULE, spec)


def use_code(path: str | None) -> None:
    """Import ``machamp_lite`` from another checkout (the folder that holds the package), so
    that an older version can be measured by the same benchmark."""
    if not path:
        return
    sys.path.insert(0, str(Path(path).resolve()))
    for name in [m for m in sys.modules if m == "machamp_lite" or m.startswith("machamp_lite.")]:
        del sys.modules[name]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- train and predict


def write_configs(
    folder: Path, model: str, train_sents: int, dev_sents: int, epochs: int
) -> tuple[Path, Path]:
    """The dataset config (one dataset, all languages: the multilingual setup) and the
    parameter config (the default recipe with e5-small and ``epochs``)."""
    dataset = {
        DATASET: {
            "train_data_path": [train_file(language) for language in TRAIN_LANGUAGES],
            "dev_data_path": [dev_file(language) for language in DEV_LANGUAGES],
            "max_sents": train_sents,
            "max_dev_sents": dev_sents,
            "word_idx": 0,
            "tasks": {TASK: {"task_type": "seq_bio", "column_idx": -1}},
        }
    }
    params = {"transformer_model": model, "training": {"num_epochs": epochs}}
    dataset_path = folder / "dataset.json"
    params_path = folder / "params.json"
    dataset_path.write_text(json.dumps(dataset, indent=2), encoding="utf-8")
    params_path.write_text(json.dumps(params, indent=2), encoding="utf-8")
    return dataset_path, params_path


def train_and_predict(
    model: str,
    data_dir: str,
    train_sents: int = 500,
    dev_sents: int = 200,
    epochs: int = 1,
    overrides: list[str] | None = None,
    threads: int = 2,
    seed: int | None = None,
    device: str | None = None,
    predict_repeats: int = 3,
) -> dict[str, Any]:
    """One ``machamp_lite.train`` run in this process; training speed, memory and F1 from its
    metrics.json (what a user's run reports).

    Prediction speed is measured twice. ``dev_eval_sentences_per_s``: the dev sentences over
    each epoch's ``dev_seconds`` (prediction and scoring inside training). And
    ``predict_sentences_per_s``: the trained archive loaded with ``Predictor`` labels the same
    dev sentences ``predict_repeats`` times (subword tokenization, batched prediction under
    inference mode, Viterbi, labels), median seconds; every round is kept in
    ``predict_rounds_seconds``. ``predict_backends`` has the same, with the dev F1 of the
    labels, for every backend of ``predict_backends.PREDICT_BACKENDS`` (torch fp32 is the one
    above). One pass over 2,200 sentences lasts about 17 s, and on this shared machine the
    same pass measured anywhere from 106 to 146 sentences/s, so a median of repeats is the
    steadier figure."""
    import machamp_lite

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        folder = Path(tmp)
        dataset_path, params_path = write_configs(folder, model, train_sents, dev_sents, epochs)
        dev = _dev_sentences(dataset_path, data_dir)
        dev_count = len(dev)
        started = time.perf_counter()
        run = machamp_lite.train(
            [str(dataset_path)],
            str(params_path),
            output_dir=str(folder / "logs"),
            data_dir=data_dir,
            overrides=list(overrides or []),
            threads=threads,
            seed=seed,
            device=device,
        )
        wall = time.perf_counter() - started
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        backends = measure_backends(run / "model", dev, device, predict_repeats)
    epochs_out = []
    for record in metrics["epochs"]:
        scores = record.get("dev", {}).get(f"{DATASET}/{TASK}", {})
        epochs_out.append(
            {
                "epoch": record["epoch"],
                "train_seconds": round(record["train_seconds"], 2),
                "train_sentences": record["train_sentences"],
                "train_sentences_per_s": round(
                    record["train_sentences"] / record["train_seconds"], 2
                ),
                "dev_seconds": round(record["dev_seconds"], 2),
                "dev_eval_sentences_per_s": round(dev_count / record["dev_seconds"], 2),
                "dev_micro_f1": scores.get("micro", {}).get("f1"),
                "train_loss": round(record["train_loss"], 4),
                "peak_rss_mb": round(record["peak_rss_mb"], 1),
            }
        )
    return {
        "settings": {
            "transformer_model": model,
            "train_sentences_per_language": train_sents,
            "dev_sentences_per_language": dev_sents,
            "epochs": epochs,
            "threads": threads,
            "overrides": list(overrides or []),
        },
        "dev_sentences": dev_count,
        "epochs": epochs_out,
        "train_sentences_per_s": median([e["train_sentences_per_s"] for e in epochs_out]),
        "dev_eval_sentences_per_s": median([e["dev_eval_sentences_per_s"] for e in epochs_out]),
        "predict_sentences_per_s": backends[FP32_BACKEND]["sentences_per_s"],
        "predict_rounds_seconds": backends[FP32_BACKEND]["rounds_seconds"],
        "predict_backends": backends,
        "peak_rss_mb": round(metrics["peak_rss_mb"], 1),
        **{
            key: round(metrics[key], 1)
            for key in ("peak_gpu_allocated_mb", "peak_gpu_reserved_mb")
            if metrics.get(key) is not None
        },
        "device": metrics.get("device"),
        "dev_micro_f1_last": epochs_out[-1]["dev_micro_f1"],
        "dev_micro_f1_best": (metrics.get("best_dev") or {})
        .get(f"{DATASET}/{TASK}", {})
        .get("micro", {})
        .get("f1"),
        "trainable_parameters": metrics.get("trainable_parameters"),
        "parameters": metrics.get("parameters"),
        "run_seconds": round(wall, 1),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def _dev_sentences(dataset_path: Path, data_dir: str) -> list[Any]:
    """The dev sentences a run predicts (words and gold labels), read as the trainer reads
    them."""
    from machamp_lite.config import load_dataset_configs
    from machamp_lite.data.dataset import read_dataset_file

    dataset = load_dataset_configs([str(dataset_path)], data_dir, [])[DATASET]
    limit = dataset.get("max_dev_sents", -1)
    return [
        sentence
        for path in dataset["dev_data_path"]
        for sentence in read_dataset_file(dataset, path, limit=limit)
    ]


# ---------------------------------------------------------------- one training step, split


STEP_VARIANTS = {
    "before: dense embeddings, foreach AdamW": {"frozen": False, "fused": False},
    "dense embeddings, fused AdamW": {"frozen": False, "fused": True},
    "frozen embeddings, fused AdamW (default)": {"frozen": True, "fused": True},
    "frozen embeddings, fused AdamW, training.bit_dropout": {
        "frozen": True,
        "fused": True,
        "bit_dropout": True,
    },
    "frozen embeddings, fused AdamW, bf16 autocast": {"frozen": True, "fused": True, "bf16": True},
    "frozen embeddings, fused AdamW, training.bit_dropout, encoder.freeze_layers=2": {
        "frozen": True,
        "fused": True,
        "bit_dropout": True,
        "freeze_layers": 2,
    },
    "frozen embeddings, fused AdamW, training.bit_dropout, encoder.freeze_layers=4": {
        "frozen": True,
        "fused": True,
        "bit_dropout": True,
        "freeze_layers": 4,
    },
}

DEFAULT_STEP = "frozen embeddings, fused AdamW (default)"


def profile_steps(
    model: str,
    data_dir: str,
    threads: int = 1,
    repeats: int = 5,
    variants: dict[str, dict[str, Any]] | None = None,
    wall: bool | None = None,
) -> dict[str, Any]:
    """Median seconds of forward, backward, clipping and optimizer step for each setting, on
    the batch of median padded size among the trainer's batches of the small setup.

    The settings take turns on one model, one step each per round, so load from other
    processes hits all of them alike. With one thread the clock is the thread's CPU time
    (unless ``wall``), which other processes barely change; with more threads it is wall
    time."""
    import torch

    from machamp_lite.config import load_dataset_configs, load_params
    from machamp_lite.data.batching import make_batches
    from machamp_lite.model import build_model, collect_tasks
    from machamp_lite.modules.bit_dropout import BitDropout, use_bit_dropout
    from machamp_lite.modules.layer_freezing import freeze_lower_layers
    from machamp_lite.training.optimization import build_optimizer
    from machamp_lite.training.splits import build_vocabularies, encode_splits, read_splits

    variants = variants or STEP_VARIANTS
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    wall = threads != 1 if wall is None else wall
    clock = time.perf_counter if wall else time.thread_time
    with tempfile.TemporaryDirectory(prefix="bench-step-") as tmp:
        dataset_path, _ = write_configs(Path(tmp), model, 500, 1, 1)
        datasets = load_dataset_configs([str(dataset_path)], data_dir, [])
    params = load_params(None, [f"transformer_model={model}"])
    tasks = collect_tasks(datasets)
    train, _ = read_splits(datasets)
    torch.manual_seed(0)
    network = build_model(params, tasks, build_vocabularies(tasks, train))
    encoder = network.encoder
    split = train[0]
    encode_splits(encoder, [split])
    lengths = split.lengths
    batches = make_batches(lengths, 32, 1024)
    batches.sort(key=lambda b: len(b) * max(lengths[i] for i in b))
    batch = batches[len(batches) // 2]
    inputs = encoder.collate([split.encoded[i] for i in batch], 1024)
    num_words = inputs["word_mask"].shape[1]
    gold = {
        TASK: split.codecs[TASK].to_tensor(
            network.decoders[TASK].vocabulary, [split.targets[TASK][i] for i in batch], num_words
        )
    }
    embeddings = encoder.transformer.get_input_embeddings().weight
    # One model for every setting: its dropout modules change class between torch's dropout
    # and BitDropout (a subclass with no state of its own) from one step to the next.
    use_bit_dropout(network)
    dropouts = [m for m in network.modules() if isinstance(m, BitDropout)]
    optimizers = {}

    def freeze(variant: dict[str, Any]) -> None:
        encoder.transformer.requires_grad_(True)
        embeddings.requires_grad_(not variant.get("frozen", False))
        # a test model with fewer layers than the variant names freezes all of its layers
        count = min(int(variant.get("freeze_layers", 0)), encoder.num_layers)
        freeze_lower_layers(encoder.transformer, count)

    for name, variant in variants.items():
        freeze(variant)
        built = build_optimizer(network, params["training"]["optimizer"])
        if not variant.get("fused", True):
            groups = [dict(g, params=list(g["params"])) for g in built.param_groups]
            for group in groups:
                for key in ("fused", "foreach"):
                    group.pop(key, None)
            built = torch.optim.AdamW(groups, foreach=True)
        optimizers[name] = built

    def step(name: str) -> tuple[float, float, float, float]:
        variant = variants[name]
        freeze(variant)
        for module in dropouts:
            module.__class__ = BitDropout if variant.get("bit_dropout") else torch.nn.Dropout
        optimizer = optimizers[name]
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if variant.get("bf16")
            else contextlib.nullcontext()
        )
        # All gradients, not only this optimizer's: a frozen setting must not clip the
        # embedding gradient a dense setting left behind.
        network.zero_grad(set_to_none=True)
        start = clock()
        with autocast:
            loss, _ = network(inputs, gold)
        forward = clock()
        loss.backward()
        backward = clock()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        clipped = clock()
        optimizer.step()
        stepped = clock()
        return forward - start, backward - forward, clipped - backward, stepped - clipped

    network.train()
    times: dict[str, list[tuple[float, ...]]] = {name: [] for name in variants}
    try:
        for name in variants:  # warm-up: first-call allocations, oneDNN kernel selection
            step(name)
        for _ in range(repeats):
            for name in variants:
                times[name].append(step(name))
    finally:
        torch.set_num_threads(previous_threads)
    phases = ("forward", "backward", "clip", "optimizer_step")
    result: dict[str, Any] = {
        "threads": threads,
        "clock": "wall time" if wall else "thread CPU time",
        "repeats": repeats,
        "batch_sentences": len(batch),
        "batch_padded_shape": list(inputs["input_ids"].shape),
        "load_average": load_average(),
        "seconds": {},
    }
    for name, values in times.items():
        medians = {
            p: round(statistics.median(v[i] for v in values), 4) for i, p in enumerate(phases)
        }
        medians["total"] = round(sum(medians.values()), 4)
        result["seconds"][name] = medians
    return result


# ---------------------------------------------------------------- entry points


def run(
    quick: bool = True,
    data_dir: str | None = None,
    model: str | None = None,
    profile: bool | None = None,
) -> dict[str, Any]:
    """The numbers run.py reports. Quick: one epoch of the default recipe. Full: four epochs of
    the default recipe and of the same with dense (trainable) embeddings, plus the step
    profile."""
    data_dir = str(data_dir or default_data_dir())
    model = model or find_models().get("ME5_SMALL")
    if not model:
        return {"skipped": "multilingual-e5-small not found: set ME5_SMALL or add ../shared"}
    if not Path(data_dir, train_file("en")).exists():
        return {"skipped": f"MultiCoNER not found under {data_dir} (--data_dir)"}
    base = {"kind": "train", "model": model, "data_dir": data_dir, "threads": 2}
    result: dict[str, Any] = {}
    if quick:
        result["default_recipe"] = run_child(MODULE, {**base, "epochs": 1})
    else:
        result["default_recipe"] = run_child(MODULE, {**base, "epochs": 4})
        result["dense_embeddings"] = run_child(
            MODULE, {**base, "epochs": 4, "overrides": ["encoder.freeze_embeddings=false"]}
        )
    if profile if profile is not None else not quick:
        result["step_profile"] = run_child(
            MODULE, {"kind": "profile", "model": model, "data_dir": data_dir, "threads": 1}
        )
        # One default step on 2 threads with the GNU default wait policy and with PASSIVE,
        # taking turns.
        default = [DEFAULT_STEP]
        spec = {**base, "kind": "profile", "variants": default, "repeats": 5}
        result["omp_wait_policy_steps"] = [
            run_child(MODULE, spec, env={"OMP_WAIT_POLICY": policy})
            for _ in range(2)
            for policy in (None, "PASSIVE")
        ]
    return result


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    use_code(spec.get("code"))
    if spec["kind"] == "profile":
        variants = None
        if spec.get("variants"):
            variants = {name: STEP_VARIANTS[name] for name in spec["variants"]}
        return profile_steps(
            spec["model"],
            spec["data_dir"],
            spec.get("threads", 1),
            spec.get("repeats", 5),
            variants,
            spec.get("wall"),
        )
    return train_and_predict(
        spec["model"],
        spec["data_dir"],
        spec.get("train_sents", 500),
        spec.get("dev_sents", 200),
        spec.get("epochs", 1),
        spec.get("overrides"),
        spec.get("threads", 2),
        spec.get("seed"),
        spec.get("device"),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--model", default=None, help="default: $ME5_SMALL or get-models")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train_sents", type=int, default=500, help="per train file")
    parser.add_argument("--dev_sents", type=int, default=200, help="per dev file")
    parser.add_argument("--threads", type=int, default=None, help="default 2 (profile: 1)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--set", nargs="*", default=[], help="parameter overrides KEY=VALUE")
    parser.add_argument("--profile", action="store_true", help="split training steps instead")
    parser.add_argument("--repeats", type=int, default=5, help="--profile rounds")
    parser.add_argument("--variants", nargs="*", default=None, help="--profile settings")
    parser.add_argument("--wall", action="store_true", help="--profile: wall time on 1 thread")
    parser.add_argument("--code", default=None, help="folder holding another machamp_lite")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    spec = {
        "model": args.model or find_models().get("ME5_SMALL"),
        "data_dir": str(args.data_dir or default_data_dir()),
        "code": args.code,
    }
    if args.profile:
        spec.update(
            kind="profile",
            threads=args.threads or 1,
            repeats=args.repeats,
            variants=args.variants,
            wall=args.wall or None,
        )
    else:
        spec.update(
            kind="train",
            epochs=args.epochs,
            train_sents=args.train_sents,
            dev_sents=args.dev_sents,
            threads=args.threads or 2,
            overrides=args.set,
            seed=args.seed,
        )
    result = run_child(MODULE, spec)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
