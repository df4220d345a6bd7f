"""A learned weighted sum of several transformer layers, one per task (``layers_to_use``).

Lower layers of a transformer hold more surface and syntactic information, higher ones more
task-specific context, and which mixture suits a task is not known in advance; so a task that
names several layers learns it. The form is ELMo's scalar mix (Peters et al., 2018), as
MaChAmp takes it from AllenNLP: ``gamma * sum_k softmax(w)_k * layer_k``, with ``w`` starting
at zero (an even average) and ``gamma`` at one. MaChAmp builds it without the optional
per-layer normalisation, and so does this one.
"""

from __future__ import annotations

import torch
from torch import nn


class ScalarMix(nn.Module):
    """``gamma * sum_k softmax(scalar_parameters)_k * layers[k]`` over a stack of layers."""

    def __init__(self, num_layers: int):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a scalar mix needs at least one layer, got {num_layers}")
        self.num_layers = num_layers
        # Zeros give every layer the same share at the start: no layer is preferred before
        # the task has said which helps it.
        self.scalar_parameters = nn.Parameter(torch.zeros(num_layers))
        self.gamma = nn.Parameter(torch.ones(1))

    def weights(self) -> torch.Tensor:
        """The normalised share of each layer (they sum to one), for reports."""
        return torch.softmax(self.scalar_parameters, dim=0)

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        """``layers`` is ``[num_layers, ...]``; the result has the shape of one layer."""
        if layers.shape[0] != self.num_layers:
            raise ValueError(
                f"this scalar mix was built for {self.num_layers} layers, got {layers.shape[0]}"
            )
        shares = self.weights().to(layers.dtype)
        mixed = torch.tensordot(shares, layers, dims=([0], [0]))
        return self.gamma.to(layers.dtype) * mixed
