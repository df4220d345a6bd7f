"""Mixed precision, in one place for training and prediction: which precisions there are, the
autocast context that runs one, and whether this processor does bf16 arithmetic itself.

Why the last matters: torch's CPU autocast runs bf16 on any x86 processor, but only one with
AVX512-BF16 or AMX computes it natively; elsewhere (AVX2 only) oneDNN converts every operand,
and a bf16 prediction of multilingual-e5-small measured 4.7x to 5.4x slower than float32
(docs/performance.md, "bf16 on the CPU"). So a bf16 request on such a processor still runs,
with a warning that says it is slower. The default, ``auto``, takes bf16 only where it is
native (``resolve_precision``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
# A setting may also say "auto": bf16 where the device computes it itself, else fp32.
AUTO = "auto"
SETTINGS = (AUTO, *PRECISIONS)
# Linux /proc/cpuinfo flags of processors with bf16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision: str, where: str = "--precision") -> str:
    """``precision`` when it is one of SETTINGS, else one clear error."""
    if precision not in SETTINGS:
        raise ConfigError(f"{where} {precision!r}: use one of {', '.join(SETTINGS)}")
    return precision


def resolve_precision(setting: str, device: torch.device) -> str:
    """The precision a setting runs in on ``device``: ``auto`` is bf16 where the device
    computes bf16 itself (a GPU with bf16, a CPU with AVX512-BF16 or AMX) and fp32 elsewhere,
    where bf16 is emulated and slower. bf16 training kept the F1 on the small MultiCoNER setup
    (four epochs: 0.558 against fp32's 0.552) at 1.46x fp32's speed per step on a CPU with
    AVX512-BF16 (docs/performance.md, "bf16 on the CPU")."""
    check_precision(setting)
    if setting == AUTO:
        return "bf16" if native_bf16(device) else "fp32"
    return setting


def cpu_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The processor's feature flags (empty where /proc/cpuinfo cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 itself rather than emulating it."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)
    return False


def slow_precision_note(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` will run slower than float32 on ``device``, or None."""
    if precision == "bf16" and not native_bf16(device):
        return (
            f"bf16 on {device.type}: this processor has no bf16 arithmetic (AVX512-BF16, AMX or "
            "a bf16 GPU), so it is emulated and slower than fp32 (fp32 is the fast choice here)"
        )
    if precision == "fp16" and device.type == "cpu":
        return "fp16 on the CPU is emulated and slower than fp32 (fp32 is the fast choice here)"
    return None


def decoder_precision(like: torch.Tensor):
    """The context decoders run in: float32 even inside a bf16 or fp16 autocast. Their layers
    are small, and scores rounded to bf16 tie often, so that Viterbi, top-n and marginals could
    pick different labels for the same scores (tests/test_prediction_precision.py)."""
    return torch.autocast(device_type=like.device.type, enabled=False)


def autocast(precision: str, device: torch.device):
    """The context a forward pass runs in: nothing for fp32, else torch's autocast. Decoders
    (the CRF) and losses compute in float32 or float64 inside it."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)
