"""Whether ``torch.compile`` speeds up a training step on this machine: one step of a real
encoder (forward, a linear scoring layer, backward, fused AdamW; the embedding matrix frozen as
in the default recipe) eager and compiled, alternating, on one fixed batch shape so that nothing
recompiles: the most compilation can give. The compilation time is reported apart.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.bench_compile [--model PATH] [--rows 32]
        [--width 27] [--steps 6] [--threads 2] [--out benchmarks/results/compile.json]

Default model: multilingual-e5-small ($ME5_SMALL or ../shared/tools/get-models); 32 x 27 is the
median padded batch of the small MultiCoNER setup.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.bench_train_predict import find_models, machine

RESULTS = Path(__file__).resolve().parent / "results"


def measure(model_path: str, rows: int, width: int, steps: int, threads: int) -> dict[str, Any]:
    from transformers import AutoModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(model_path)
    model.get_input_embeddings().weight.requires_grad_(False)
    head = torch.nn.Linear(model.config.hidden_size, 13)
    trained = [p for p in [*model.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5, fused=True)
    ids = torch.randint(5, min(1000, model.config.vocab_size), (rows, width))
    mask = torch.ones_like(ids)
    model.train()

    def step(forward) -> float:
        started = time.perf_counter()
        hidden = forward(input_ids=ids, attention_mask=mask).last_hidden_state
        loss = head(hidden).logsumexp(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return time.perf_counter() - started

    compiled = torch.compile(model, dynamic=False)
    started = time.perf_counter()
    step(compiled)
    compile_seconds = time.perf_counter() - started
    eager, fast = [], []
    for _ in range(steps):
        eager.append(step(model))
        fast.append(step(compiled))
    return {
        "batch": [rows, width],
        "threads": threads,
        "compile_and_first_step_seconds": round(compile_seconds, 1),
        "eager_step_seconds": round(statistics.median(eager), 3),
        "compiled_step_seconds": round(statistics.median(fast), 3),
        "speedup": round(statistics.median(eager) / statistics.median(fast), 2),
        "eager_rounds": [round(x, 3) for x in eager],
        "compiled_rounds": [round(x, 3) for x in fast],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--width", type=int, default=27)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "compile.json"))
    args = parser.parse_args(argv)
    for name in ("rows", "width", "steps", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    model = args.model or find_models().get("ME5_SMALL")
    if not model:
        parser.error("no model: give --model or set ME5_SMALL")
    result = {
        "benchmark": "compile",
        "model": model,
        **measure(model, args.rows, args.width, args.steps, args.threads),
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
