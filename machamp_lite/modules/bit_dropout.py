"""Dropout whose mask comes from random 64-bit words, four 16-bit draws in each.

Why: on a CPU, ``torch.nn.functional.dropout`` draws one random number per element
(``bernoulli_``), about 12 ns each on the project's 2-core machines. A transformer layer drops
out two hidden-state tensors, so at batch 32 x 27 subwords multilingual-e5-small's twelve layers
draw about 8 million numbers per training step, which took 14% of the step
(docs/performance.md, "Dropout"). Filling the same mask from ``int64`` words cut in four 16-bit
lanes draws a quarter as many words with a cheaper generator call: the same Mersenne Twister,
seeded by ``torch.manual_seed`` as before, so runs stay reproducible.

An element is dropped when its 16-bit lane falls below ``round(p * 65536)`` of the 65,536 values,
so the drop probability is ``p`` to within 1/131,072 (0.1 becomes 0.100006); kept elements are
scaled by ``1 / (1 - p_exact)`` so the expected activation is unchanged, as with torch's dropout.
On a GPU, torch's fused dropout is already fast and is used unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

LANES = 4  # 16-bit lanes in one int64 word
LEVELS = 1 << 16


def lane_threshold(p: float) -> int:
    """The int16 value below which a lane drops its element: ``round(p * 65536)`` levels."""
    return -(LEVELS // 2) + round(p * LEVELS)


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """A boolean mask of ``shape``: each element kept with probability ``1 - p`` (to 1/65,536)."""
    count = 1
    for size in shape:
        count *= size
    words = torch.empty((count + LANES - 1) // LANES, dtype=torch.int64, device=device)
    # The full signed range: random_() alone leaves the top bit 0, which biases the top lane.
    words.random_(-(1 << 63), (1 << 63) - 1)
    lanes = words.view(torch.int16)[:count]
    return (lanes >= lane_threshold(p)).view(shape)


class _MaskedScale(torch.autograd.Function):
    """``x * keep * scale`` with only the boolean mask kept for the backward pass (one byte per
    element, as torch's dropout keeps)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None, None


class BitDropout(nn.Dropout):
    """``nn.Dropout`` with the mask of ``keep_mask`` on a CPU. Subclassing keeps ``p``,
    ``inplace`` and ``repr`` so that code reading ``module.p`` (Hugging Face's attention passes
    its dropout's ``p`` to ``scaled_dot_product_attention``) sees what it saw before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1.0:
            return x * 0.0
        threshold = lane_threshold(self.p)
        kept_fraction = 1.0 - (threshold + LEVELS // 2) / LEVELS
        if kept_fraction <= 0.0:
            return x * 0.0
        keep = keep_mask(x.shape, self.p, x.device)
        return _MaskedScale.apply(x, keep, 1.0 / kept_fraction)


def use_bit_dropout(module: nn.Module) -> int:
    """Replace every plain ``nn.Dropout`` inside ``module`` by a ``BitDropout`` of the same
    ``p``; returns how many were replaced. Subclasses of ``nn.Dropout`` (somebody's own
    dropout) are left alone."""
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, BitDropout(child.p, child.inplace))
                replaced += 1
    return replaced
