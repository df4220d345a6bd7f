"""AdamW with separate encoder and heads learning rates, and the learning-rate schedules."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..errors import ConfigError
from .adam_uncorrected import AdamWWithoutBiasCorrection
from .slanted_triangular import ENCODER, SlantedTriangular, triangle_proportion

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
# The pretrained model inside the encoder. Everything else (decoders, scalar mixes, dataset
# embeddings...) starts from scratch: the heads, with their own rate and schedule options.
ENCODER_PREFIX = "encoder.transformer."
HEADS = "heads"
SCHEDULES = ("linear", "slanted_triangular", "constant")
# Options that only MaChAmp's slanted triangle gives a meaning to.
SLANTED_ONLY = ("discriminative_fine_tuning", "gradual_unfreezing")


def build_optimizer(model: torch.nn.Module, settings: dict[str, Any]) -> torch.optim.Optimizer:
    """AdamW; the pretrained encoder gets ``lr`` and the freshly initialised heads (decoders
    and everything else outside ``encoder.transformer``) ``decoder_lr``: new layers need a
    larger step to catch up within a few epochs."""
    if settings.get("type", "adamw") != "adamw":
        raise ConfigError(
            f'training.optimizer.type: only "adamw" is available, got {settings["type"]!r}'
        )
    # MaChAmp decays every weight; machamp-lite spares biases and norms by default.
    every_weight = bool(settings.get("decay_bias_and_norm", False))
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue  # frozen by the configuration: no group, so no schedule unfreezes it
        part = ENCODER if name.startswith(ENCODER_PREFIX) else HEADS
        decay = every_weight or not any(marker in name for marker in NO_DECAY)
        groups.setdefault((part, decay), []).append(param)
    lr = float(settings["lr"])
    decoder_lr = float(settings.get("decoder_lr") or lr)
    weight_decay = float(settings.get("weight_decay", 0.0))
    # Heads first, then the encoder; each without then with weight decay. The ``part`` key
    # tells the schedules which groups are the encoder's (AdamW ignores it).
    order = [(HEADS, False), (HEADS, True), (ENCODER, False), (ENCODER, True)]
    param_groups = [
        {
            "params": groups[key],
            "lr": lr if key[0] == ENCODER else decoder_lr,
            "weight_decay": weight_decay if key[1] else 0.0,
            "part": key[0],
        }
        for key in order
        if key in groups
    ]
    kwargs: dict[str, Any] = {
        "betas": tuple(settings.get("betas", (0.9, 0.999))),
        "eps": float(settings.get("eps", 1e-8)),
    }
    if settings.get("correct_bias", True) is False:
        return AdamWWithoutBiasCorrection(param_groups, **kwargs)
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
    """Multiplier of the base learning rate at ``step`` (from 0) of ``total`` optimizer steps.

    ``linear``: linear warmup over ``warmup_fraction`` of the steps, then linear decay to 0.
    ``slanted_triangular``: Howard & Ruder's triangle (rise over ``cut_frac``, then fall) with
    ``ratio`` between the peak and the lowest rate; training runs it as ``SlantedTriangular``,
    which adds MaChAmp's step numbering and layer-wise options. ``constant``: no change.
    """
    kind = check_schedule(settings)
    total = max(1, total)
    if kind == "constant":
        return 1.0
    if kind == "linear":
        warmup = int(math.ceil(float(settings.get("warmup_fraction", 0.1)) * total))
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    ratio = float(settings.get("ratio", 32))
    height = triangle_proportion(step, total, float(settings.get("cut_frac", 0.3)))
    return (1 + height * (ratio - 1)) / ratio


def check_schedule(settings: dict[str, Any]) -> str:
    """The schedule's type, after refusing options it would silently ignore: discriminative
    fine-tuning and gradual unfreezing are defined by the slanted triangle (its per-group
    rates and its restart after the frozen epoch), so another type with them is an error."""
    kind = settings.get("type", "linear")
    if kind not in SCHEDULES:
        raise ConfigError(
            f"training.learning_rate_scheduler.type must be {', '.join(SCHEDULES[:-1])} or "
            f"{SCHEDULES[-1]}, got {kind!r}"
        )
    for key in SLANTED_ONLY:
        if kind != "slanted_triangular" and settings.get(key):
            raise ConfigError(
                f"training.learning_rate_scheduler.{key} is MaChAmp's option of the "
                f'"slanted_triangular" schedule, but type is {kind!r}: set type to '
                f"slanted_triangular or {key} to false"
            )
    return kind


def freezes_encoder(settings: dict[str, Any]) -> bool:
    """Whether the schedule freezes the encoder for epoch 1 (gradual unfreezing): a
    data-parallel run then has to let DDP find parameters without gradients."""
    return check_schedule(settings) == "slanted_triangular" and bool(
        settings.get("gradual_unfreezing")
    )


class StepSchedule(LambdaLR):
    """A schedule that depends on the step count alone (``linear``, ``constant``): the end
    of an epoch changes nothing."""

    def end_epoch(self) -> None:
        """Nothing to do: the trainer calls this on every schedule."""


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    settings: dict[str, Any],
    steps_per_epoch: int,
    num_epochs: int,
) -> StepSchedule | SlantedTriangular:
    """The schedule of ``training.learning_rate_scheduler``, over ``num_epochs`` epochs of
    about ``steps_per_epoch`` optimizer steps. The trainer calls ``step()`` after every
    optimizer step and ``end_epoch()`` after every epoch."""
    if check_schedule(settings) == "slanted_triangular":
        return SlantedTriangular(
            optimizer,
            steps_per_epoch,
            num_epochs,
            cut_frac=float(settings.get("cut_frac", 0.3)),
            ratio=float(settings.get("ratio", 32)),
            decay_factor=float(settings.get("decay_factor", 0.38)),
            discriminative_fine_tuning=bool(settings.get("discriminative_fine_tuning")),
            gradual_unfreezing=bool(settings.get("gradual_unfreezing")),
        )
    total = steps_per_epoch * num_epochs
    return StepSchedule(optimizer, lambda step: schedule_factor(step, total, settings))
