"""MaChAmp's learning-rate schedule: Howard & Ruder's slanted triangle, as AllenNLP's
``SlantedTriangular`` scheduler runs it, with discriminative fine-tuning and gradual unfreezing.

The optimizer's parameter groups each carry a ``part``: ``encoder`` (the pretrained
transformer) or ``heads`` (everything trained from scratch: decoders, scalar mixes, dataset
embeddings). MaChAmp has exactly these two groups (plus an empty default one), so its
layer-wise options act on them:

- discriminative fine-tuning lowers the encoder's base rate by ``decay_factor`` (one layer
  below the heads: ``decay_factor ** 1``; the heads keep theirs, ``** 0``);
- gradual unfreezing trains only the heads in epoch 1, over which the rate makes one whole
  triangle; from epoch 2 everything trains and a new triangle spans the remaining epochs.

Step numbering follows MaChAmp, which moves the rate just before each optimizer step: the
first update uses step 1 of the triangle, not step 0. The trainer calls ``step`` after each
optimizer step (it sets the rate of the next one) and ``end_epoch`` after each epoch.
"""

from __future__ import annotations

from typing import Any

import torch

ENCODER = "encoder"


def triangle_proportion(step: int, num_steps: int, cut_frac: float) -> float:
    """Where ``step`` of ``num_steps`` sits on the triangle: 0 at the start and the end, 1 at
    the peak (step ``int(num_steps * cut_frac)``). Steps past the end stay at the end."""
    num_steps = max(0, num_steps)
    step = min(step, num_steps)
    cut = int(num_steps * cut_frac)
    if step < cut:
        return step / cut
    # Only a schedule of 0 steps (gradual unfreezing with 1 epoch: nothing after epoch 1)
    # has no falling side; it is never used for an update.
    return 1 - (step - cut) / max(1, num_steps - cut)


class SlantedTriangular:
    """The slanted-triangular rate of every parameter group, optimizer step by optimizer step.

    ``steps_per_epoch`` is the expected number of optimizer steps in an epoch (batches over
    ``accumulation_steps`` and ranks); like MaChAmp, once an epoch has ended the average
    number of steps the finished epochs really took replaces it, so a varying epoch length
    stretches or shrinks the rest of the triangle instead of leaving it unfinished."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        steps_per_epoch: int,
        num_epochs: int,
        *,
        cut_frac: float = 0.3,
        ratio: float = 32,
        decay_factor: float = 0.38,
        discriminative_fine_tuning: bool = False,
        gradual_unfreezing: bool = False,
    ):
        self.optimizer = optimizer
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.num_epochs = int(num_epochs)
        self.cut_frac = float(cut_frac)
        self.ratio = float(ratio)
        self.gradual_unfreezing = bool(gradual_unfreezing)
        encoder_factor = float(decay_factor) if discriminative_fine_tuning else 1.0
        self.base_lrs = [
            group["lr"] * (encoder_factor if group.get("part") == ENCODER else 1.0)
            for group in optimizer.param_groups
        ]
        self.steps = 0  # optimizer steps taken
        self.epoch_ends = [0]  # steps taken when each epoch ended, after a 0 for the start
        # In epoch 1 of gradual unfreezing. Kept apart from ``frozen``: the triangle's shape
        # stays MaChAmp's even when the configuration left no encoder weight to freeze.
        self.freezing = self.gradual_unfreezing
        # (group, position) of each parameter this schedule froze and has to unfreeze: only
        # encoder parameters that were training, so ones frozen by the configuration
        # (encoder.freeze_embeddings, say) never start training here.
        self.frozen: list[tuple[int, int]] = []
        if self.gradual_unfreezing:
            self._freeze_encoder()
        self._set_rates()

    def _encoder_parameters(self) -> list[tuple[int, int, torch.Tensor]]:
        return [
            (g, p, param)
            for g, group in enumerate(self.optimizer.param_groups)
            if group.get("part") == ENCODER
            for p, param in enumerate(group["params"])
        ]

    def _freeze_encoder(self) -> None:
        """Stop the encoder's training for epoch 1: without gradients AdamW leaves its weights
        and moments untouched, and the backward pass stops at the heads."""
        for g, p, param in self._encoder_parameters():
            if param.requires_grad:
                param.requires_grad_(False)
                self.frozen.append((g, p))

    def _unfreeze(self) -> None:
        for g, p in self.frozen:
            self.optimizer.param_groups[g]["params"][p].requires_grad_(True)
        self.frozen = []

    def proportion(self, step: int) -> float:
        """The triangle's height (0 to 1) at optimizer step ``step`` (counted from 1)."""
        finished = len(self.epoch_ends) - 1
        if finished:
            per_epoch = int(self.epoch_ends[-1] / finished)
        else:
            per_epoch = max(self.steps_per_epoch, step)
        if self.freezing:
            # Heads only: a triangle over this epoch alone.
            return triangle_proportion(step - self.epoch_ends[-1], per_epoch, self.cut_frac)
        # After a frozen first epoch the triangle starts again and spans the epochs left.
        start = self.epoch_ends[1] if self.gradual_unfreezing else 0
        total = self.num_epochs * per_epoch - start
        return triangle_proportion(step - start, total, self.cut_frac)

    def _set_rates(self) -> None:
        """Give every group the rate of the next optimizer step."""
        height = self.proportion(self.steps + 1)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * (1 + height * (self.ratio - 1)) / self.ratio

    def step(self) -> None:
        """After each optimizer step."""
        self.steps += 1
        self._set_rates()

    def end_epoch(self) -> None:
        """After each epoch: note its length, and after epoch 1 unfreeze the encoder."""
        self.epoch_ends.append(self.steps)
        self.freezing = False
        self._unfreeze()
        self._set_rates()

    def get_last_lr(self) -> list[float]:
        """The groups' current rates (those of the next optimizer step)."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """What an exact resume needs, frozen parameters included; plain values only, so it
        loads with ``torch.load(weights_only=True)``."""
        return {
            "base_lrs": list(self.base_lrs),
            "steps": self.steps,
            "epoch_ends": list(self.epoch_ends),
            "freezing": self.freezing,
            "frozen": [list(position) for position in self.frozen],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` was saved: the same step count, epoch lengths and frozen
        parameters (this freshly built schedule's own freezing is undone first)."""
        self._unfreeze()
        self.base_lrs = [float(value) for value in state["base_lrs"]]
        self.steps = int(state["steps"])
        self.epoch_ends = [int(value) for value in state["epoch_ends"]]
        self.freezing = bool(state["freezing"])
        for g, p in state["frozen"]:
            self.optimizer.param_groups[g]["params"][p].requires_grad_(False)
            self.frozen.append((int(g), int(p)))
        self._set_rates()
