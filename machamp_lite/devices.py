"""One place that turns a ``--device`` value into a torch device, for training and prediction
alike, so both refuse a bad value with the same message (and neither with a raw traceback)."""

from __future__ import annotations

import resource

import torch

from .errors import ConfigError


def resolve_device(device: str | None, local_rank: int | None = None) -> torch.device:
    """The device to run on: ``device`` as given (``cpu``, ``cuda``, ``cuda:N``, or MaChAmp's
    ``-1`` for the CPU and ``N`` for GPU N), else a GPU when there is one. ``local_rank`` (a
    data-parallel process) picks that process's GPU when the run uses GPUs."""
    if device == "-1":
        device = "cpu"
    elif device is not None and device.isdigit():
        device = f"cuda:{device}"
    cuda = torch.cuda.is_available()
    if local_rank is not None and cuda and (device is None or device.startswith("cuda")):
        return torch.device("cuda", local_rank)
    if not device:
        return torch.device("cuda" if cuda else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not cuda:
        raise ConfigError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    return resolved


def move(inputs: dict, device: torch.device) -> dict:
    """The inputs on ``device``; entries that are not tensors (``max_tokens``) pass as they are."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in inputs.items()
    }


def describe_device(device: torch.device) -> str:
    """What metrics.json and the log say the run ran on."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak process RSS, and on GPU the peak allocated and reserved memory, in MB."""
    report = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        report["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        report["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    return report
