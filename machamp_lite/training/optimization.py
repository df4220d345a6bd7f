"""AdamW with separate encoder and decoder learning rates, and the learning-rate schedules."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


def build_optimizer(model: torch.nn.Module, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW; the pretrained encoder gets ``lr`` and the freshly initialised decoders
    ``decoder_lr``: new layers need a larger step to catch up within a few epochs."""
    if settings.get("type", "adamw") != "adamw":
        raise ConfigError(
            f'training.optimizer.type: only "adamw" is available, got {settings["type"]!r}'
        )
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "encoder" if name.startswith("encoder.") else "decoder"
        decay = not any(marker in name for marker in NO_DECAY)
        groups.setdefault((part, decay), []).append(param)
    lr = float(settings["lr"])
    decoder_lr = float(settings.get("decoder_lr") or lr)
    weight_decay = float(settings.get("weight_decay", 0.0))
    param_groups = [
        {
            "params": params,
            "lr": lr if part == "encoder" else decoder_lr,
            "weight_decay": weight_decay if decay else 0.0,
        }
        for (part, decay), params in sorted(groups.items())
    ]
    kwargs: dict[str, Any] = {
        "betas": tuple(settings.get("betas", (0.9, 0.999))),
        "eps": float(settings.get("eps", 1e-8)),
    }
    # The fused kernel updates each parameter in one pass over its four tensors (weight,
    # gradient, two moments) where foreach makes about ten passes, and the update is bound by
    # memory traffic: on CPU it was 4.7x faster on multilingual-e5-small's 118M parameters
    # (docs/performance.md). Torch builds without a fused kernel for the parameters' device
    # refuse it at construction; then foreach, then the plain loop.
    implementations: tuple[dict[str, Any], ...] = ({"fused": True}, {"foreach": True})
    for implementation in implementations:
        try:
            return torch.optim.AdamW(param_groups, **implementation, **kwargs)
        except (TypeError, RuntimeError, ValueError):
            continue
    return torch.optim.AdamW(param_groups, **kwargs)


def schedule_factor(step: int, total: int, settings: dict[str, Any]) -> float:
    """Multiplier of the base learning rate at ``step`` of ``total`` optimizer steps.

    ``linear``: linear warmup over ``warmup_fraction`` of the steps, then linear decay to 0.
    ``slanted_triangular``: Howard & Ruder's schedule (rise over ``cut_frac``, then fall) with
    ``ratio`` between the peak and the lowest rate. ``constant``: no change.
    """
    kind = settings.get("type", "linear")
    total = max(1, total)
    if kind == "constant":
        return 1.0
    if kind == "linear":
        warmup = int(math.ceil(float(settings.get("warmup_fraction", 0.1)) * total))
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    if kind == "slanted_triangular":
        cut = max(1, int(total * float(settings.get("cut_frac", 0.3))))
        ratio = float(settings.get("ratio", 32))
        p = step / cut if step < cut else 1 - (step - cut) / max(1, total - cut)
        return (1 + max(0.0, p) * (ratio - 1)) / ratio
    raise ConfigError(
        "training.learning_rate_scheduler.type must be linear, slanted_triangular or constant, "
        f"got {kind!r}"
    )


def build_scheduler(optimizer, total_steps: int, settings: dict[str, Any]) -> LambdaLR:
    schedule_factor(0, total_steps, settings)  # validate the type before training starts
    return LambdaLR(optimizer, lambda step: schedule_factor(step, total_steps, settings))
