"""Smoothing the feed-forward layers before int8 quantization (the idea of SmoothQuant, Xiao et
al. 2023), for ``export --format onnx --int8 --calibration FILE``.

Why: dynamic int8 quantization gives every activation matrix one scale for the whole batch, so
a few input channels with large values leave the others a handful of int8 levels. In the
feed-forward layers of multilingual-e5-small this cost 0.6 to 1.2 points of span F1 on the small
MultiCoNER setup whatever else was kept in float32 (docs/performance.md, "ONNX and int8"), and
keeping those layers float32 gave back most of the loss but also most of the speed.

Smoothing moves that range from the activations into the weights, which int8 stores with one
scale per output column: each input channel ``j`` of a feed-forward linear layer is divided by
``s_j`` and the weights' row ``j`` multiplied by it, ``s_j = max|x_j| ** alpha / max|W_j| **
(1 - alpha)``, where ``max|x_j|`` is measured on calibration sentences the user names. In
float32 the smoothed layer computes the same function (the export checks the smoothed graph's
scores against torch's); only the int8 rounding changes. The division is one elementwise ``Mul``
before the layer's ``MatMul`` in the graph.

The attention projections are left as they are: keeping them float32 changed the int8 loss by
less than its spread from one set of sentences to the next, while keeping either feed-forward
matrix float32 halved it (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

logger = logging.getLogger(__name__)

# alpha: how much of the activations' range moves into the weights. 0.8 was the best of 0.5,
# 0.7, 0.8 and 0.9 on three disjoint sets of MultiCoNER dev sentences (docs/performance.md).
ALPHA = 0.8
CALIBRATION_SENTENCES = 1000
FLOOR = 1e-5  # no scale from a channel that never fired (or a zero weight row) is 0


class SmoothedLinear(nn.Module):
    """``linear(x / s, W * s, b)``: the layer's function, with the input channels rescaled."""

    inverse_scale: torch.Tensor

    def __init__(self, linear: nn.Linear, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("inverse_scale", (1.0 / scale).to(linear.weight.dtype))
        self.weight = nn.Parameter(linear.weight.detach() * scale[None, :], requires_grad=False)
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x * self.inverse_scale, self.weight, self.bias)


def feed_forward_linears(model) -> dict[str, nn.Linear]:
    """The linear layers of the model's transformer whose input and output widths differ: each
    layer's feed-forward expansion and contraction (BERT's ``intermediate.dense`` and
    ``output.dense``). The attention's projections are square and are not smoothed."""
    transformer = model.encoder.transformer
    return {
        name: module
        for name, module in transformer.named_modules()
        if type(module) is nn.Linear
        and module.in_features != module.out_features
        and name != "pooler.dense"
    }


def read_calibration(
    paths: Sequence[str], dataset: dict[str, Any], limit: int = CALIBRATION_SENTENCES
) -> list:
    """Up to ``limit`` sentences, the same share from the start of each file, read with the
    dataset's reader settings (labels are not needed)."""
    from .data.dataset import read_dataset_file

    share = max(1, -(-limit // len(paths)))
    sentences = []
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(
                f"--calibration {path}: not a file; name files of sentences in the model's "
                "dataset format (its training files, say)"
            )
        sentences += read_dataset_file(dataset, path, require_labels=False, limit=share)
    return sentences[:limit]


@contextlib.contextmanager
def recording_input_ranges(linears: Mapping[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """While open, every forward pass of ``linears`` records the largest absolute value each
    input channel has taken into the yielded dict (name to a vector of the input width)."""
    ranges: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def record(_module, inputs) -> None:
            values = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0).float()
            seen = ranges.get(name)
            ranges[name] = values if seen is None else torch.maximum(seen, values)

        return record

    hooks = [linear.register_forward_pre_hook(recorder(n)) for n, linear in linears.items()]
    try:
        yield ranges
    finally:
        for hook in hooks:
            hook.remove()


def input_ranges(model, sentences: list, linears: dict[str, nn.Linear]) -> dict[str, torch.Tensor]:
    """The input ranges of ``linears`` (``recording_input_ranges``) over the sentences, from
    the model predicting them (eval mode, batches as in prediction)."""
    from .predict import encode_sentences, predict_encoded

    encoded = encode_sentences(model.encoder, sentences)
    with recording_input_ranges(linears) as ranges, torch.inference_mode():
        predict_encoded(model, encoded, list(model.decoders), 64, 4096)
    return ranges


def scale_layers(root: nn.Module, ranges: dict[str, torch.Tensor], alpha: float = ALPHA) -> int:
    """Replace each linear layer of ``root`` named in ``ranges`` (its input channels' largest
    absolute values) by its ``SmoothedLinear``; returns how many were replaced."""
    replaced = 0
    for name, observed in ranges.items():
        if not bool(torch.isfinite(observed).all()):
            continue  # an overflowing activation: no finite scale; the layer stays as it is
        linear = cast(nn.Linear, root.get_submodule(name))
        weight_range = linear.weight.detach().abs().amax(0).float().clamp(min=FLOOR)
        scale = observed.clamp(min=FLOOR) ** alpha / weight_range ** (1 - alpha)
        parent_name, _, attribute = name.rpartition(".")
        parent = root.get_submodule(parent_name) if parent_name else root
        setattr(parent, attribute, SmoothedLinear(linear, scale.clamp(min=FLOOR)))
        replaced += 1
    return replaced


def smooth(model, sentences: list, alpha: float = ALPHA) -> dict[str, Any]:
    """Replace each feed-forward linear layer of ``model`` by its ``SmoothedLinear``, scales
    from the activations on ``sentences``; returns what was done, for the export's report."""
    linears = feed_forward_linears(model)
    if not linears:
        raise ConfigError(
            "--calibration: this encoder has no feed-forward linear layers to smooth (no "
            "nn.Linear whose input and output widths differ); export --int8 without it"
        )
    # A layer the sentences never reached has no range and stays as it is.
    ranges = input_ranges(model, sentences, linears)
    smoothed = scale_layers(model.encoder.transformer, ranges, alpha)
    logger.info("int8: %d feed-forward layers smoothed on %d sentences", smoothed, len(sentences))
    return {
        "method": "per-channel smoothing of the feed-forward layers (SmoothQuant)",
        "alpha": alpha,
        "layers": smoothed,
        "calibration_sentences": len(sentences),
    }
