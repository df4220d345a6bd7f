"""Time the CRF's loss (forward + backward) and Viterbi decoding against pytorch-crf 0.7.2 on
one CPU thread, and check that both give the same numbers, so that the CRF head stays cheap."""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from machamp_lite.modules.crf import ConditionalRandomField

BATCH = 32
NUM_TAGS = 13
LENGTHS = (50, 200)
SEED = 13


def median_ms(
    functions: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, float]:
    """Median wall time of each function in ms. The functions take turns within every repeat,
    so that load from elsewhere on the machine hits all of them alike."""
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def _inputs(steps: int, full: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random emissions, tags and a left-aligned mask; every sentence has `steps` words when
    `full`, otherwise lengths are uniform in 1..steps with one sentence of the full length."""
    generator = torch.Generator().manual_seed(SEED + steps)
    emissions = torch.randn(BATCH, steps, NUM_TAGS, generator=generator) * 2
    tags = torch.randint(NUM_TAGS, (BATCH, steps), generator=generator)
    lengths = torch.full((BATCH,), steps)
    if not full:
        lengths = torch.randint(1, steps + 1, (BATCH,), generator=generator)
        lengths[0] = steps
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return emissions, tags, mask


def _ours_and_theirs(torchcrf: Any) -> tuple[ConditionalRandomField, Any]:
    """Our CRF (no constraints) and a pytorch-crf CRF with the same parameters."""
    torch.manual_seed(SEED)
    ours = ConditionalRandomField(NUM_TAGS)
    with torch.no_grad():
        for param in ours.parameters():
            param.normal_(0.0, 0.5)
    theirs = torchcrf.CRF(NUM_TAGS, batch_first=True)
    with torch.no_grad():
        # Both keep transitions as [from, to].
        theirs.transitions.copy_(ours.transitions)
        theirs.start_transitions.copy_(ours.start_transitions)
        theirs.end_transitions.copy_(ours.end_transitions)
    return ours, theirs


def _agreement(ours: ConditionalRandomField, theirs: Any) -> dict[str, Any]:
    """Same log-likelihoods (atol 1e-4 on top of torch.allclose's default rtol, since
    pytorch-crf sums in float32) and identical best paths, on full-length and variable-length
    batches. Also the distance to pytorch-crf run in float64, which is the exact answer."""
    exact = copy.deepcopy(theirs).double()
    worst = 0.0
    worst_exact = 0.0
    close = True
    same_paths = True
    for steps in LENGTHS:
        for full in (True, False):
            emissions, tags, mask = _inputs(steps, full)
            with torch.no_grad():
                mine = ours.log_likelihood(emissions, tags, mask)
                reference = theirs(emissions, tags, mask, reduction="none")
                exact_ll = exact(emissions.double(), tags, mask, reduction="none")
                same_paths = same_paths and (
                    ours.viterbi_decode(emissions, mask) == theirs.decode(emissions, mask)
                )
            worst = max(worst, (mine - reference).abs().max().item())
            worst_exact = max(worst_exact, (mine.double() - exact_ll).abs().max().item())
            close = close and torch.allclose(mine, reference, atol=1e-4)
    return {
        "crf_matches_pytorch_crf": bool(close and same_paths),
        "crf_paths_identical": bool(same_paths),
        "crf_loglik_max_abs_diff": worst,
        "crf_loglik_max_abs_diff_vs_float64": worst_exact,
    }


def _contenders(
    ours: ConditionalRandomField,
    theirs: Any | None,
    emissions: torch.Tensor,
    tags: torch.Tensor,
    mask: torch.Tensor,
) -> dict[str, Callable[[], object]]:
    """The timed calls on one input: loglik is forward + backward of the mean loss."""
    emissions = emissions.detach().requires_grad_()

    def our_loss() -> None:
        emissions.grad = None
        ours.negative_log_likelihood(emissions, tags, mask).backward()

    def our_decode() -> None:
        ours.viterbi_decode(emissions, mask)

    functions: dict[str, Callable[[], object]] = {
        "ours_loglik": our_loss,
        "ours_decode": our_decode,
    }
    if theirs is not None:

        def their_loss() -> None:
            emissions.grad = None
            (-theirs(emissions, tags, mask, reduction="mean")).backward()

        def their_decode() -> None:
            with torch.no_grad():
                theirs.decode(emissions, mask)

        functions["pytorch_crf_loglik"] = their_loss
        functions["pytorch_crf_decode"] = their_decode
    return functions


def _timings(
    ours: ConditionalRandomField, theirs: Any | None, full: bool, repeats: int, warmup: int
) -> dict[str, dict[str, float]]:
    """Median ms per call of every contender, per sentence length."""
    return {
        str(steps): median_ms(_contenders(ours, theirs, *_inputs(steps, full)), repeats, warmup)
        for steps in LENGTHS
    }


def run(quick: bool = True) -> dict:
    """Benchmark on one thread, batch 32, 13 tags, T in (50, 200); sentences of full length T
    for the headline numbers, plus a variable-length batch for reference.

    The speedups are pytorch-crf's median time over ours, the smaller of the T=50 and T=200
    ratios; loglik means forward + backward of the mean loss."""
    repeats, warmup = (15, 3) if quick else (60, 10)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            import torchcrf
        except ImportError:
            torchcrf = None
        result: dict[str, Any] = {
            "batch": BATCH,
            "num_tags": NUM_TAGS,
            "threads": 1,
            "repeats": repeats,
            "torch": torch.__version__,
        }
        if torchcrf is None:
            ours = ConditionalRandomField(NUM_TAGS)
            theirs = None
            result["note"] = (
                "pytorch-crf is not importable (pip install pytorch-crf==0.7.2): "
                "comparison skipped, only our timings are reported"
            )
            result["crf_matches_pytorch_crf"] = None
            result["crf_loglik_speedup_vs_pytorch_crf"] = None
            result["crf_decode_speedup_vs_pytorch_crf"] = None
        else:
            ours, theirs = _ours_and_theirs(torchcrf)
            result["pytorch_crf_version"] = torchcrf.__version__
            result.update(_agreement(ours, theirs))

        for full in (True, False):
            timings = _timings(ours, theirs, full, repeats, warmup)
            prefix = "" if full else "variable_length_"
            for steps, times in timings.items():
                for name, ms in times.items():
                    result[f"{prefix}{name}_ms_T{steps}"] = round(ms, 3)
            if theirs is None:
                continue
            for kind in ("loglik", "decode"):
                ratios = {
                    steps: times[f"pytorch_crf_{kind}"] / times[f"ours_{kind}"]
                    for steps, times in timings.items()
                }
                for steps, ratio in ratios.items():
                    result[f"{prefix}crf_{kind}_speedup_T{steps}"] = round(ratio, 2)
                result[f"{prefix}crf_{kind}_speedup_vs_pytorch_crf"] = round(
                    min(ratios.values()), 2
                )
        return result
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
