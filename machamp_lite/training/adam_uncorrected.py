"""AdamW without bias correction: MaChAmp's ``"correct_bias": false``.

MaChAmp v0.4.0's ``configs/params.json`` trains with the AdamW of older transformers releases
and ``correct_bias: false``. That optimizer skips Adam's division of the moment estimates by
``1 - beta**t``; in the first steps the update is then smaller than torch's AdamW would make it
(by ``sqrt(1 - beta2**t) / (1 - beta1**t)``, which is 1 in the limit), a warm-up of its own.
torch's AdamW has no switch for that, so this is the update written out, as that optimizer
defines it: moments, the step ``lr * m / (sqrt(v) + eps)``, then decoupled weight decay on the
updated weights.

Only the ``correct_bias: false`` case comes here; everything else uses torch's fused AdamW.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch


class AdamWWithoutBiasCorrection(torch.optim.Optimizer):
    """AdamW whose moments are used as they are, without dividing by ``1 - beta**t``."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(
                        param, memory_format=torch.preserve_format
                    )
                state["step"] += 1
                grad = param.grad
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                param.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(eps), value=-lr)
                if decay > 0:
                    param.add_(param, alpha=-lr * decay)
        return loss
