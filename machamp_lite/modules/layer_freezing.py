"""Freezing the lower transformer layers (``encoder.freeze_layers``).

On a CPU, training time is the transformer's forward and backward pass. Autograd computes no
gradient below the lowest parameter that needs one, so once the embeddings and the first N
layers are frozen, the backward pass stops at layer N: no weight gradients for those layers,
no gradient flowing into them, and their forward activations are not kept. Lower layers
change least in fine-tuning, which is why this is a speed lever whose F1 cost is measured
(docs/performance.md) rather than assumed.

Everything below the first trained layer must be frozen, the position and type embeddings
too: if any of them still trained, the backward pass would have to go through every frozen
layer to reach it, and nothing would be saved.
"""

from __future__ import annotations

import logging

from torch import nn

from ..errors import ConfigError

logger = logging.getLogger(__name__)

# ``encoder.freeze_layers: null`` freezes this share of the layers, rounded down: 2 of
# multilingual-e5-small's 12 (its four-epoch F1 0.2 points lower), 4 of XLM-R large's 24, none
# of a model with fewer than 6. Off by default: on all-MiniLM-L6-v2 and the demo data one frozen
# layer of 6 cost 3 points per task (docs/performance.md).
AUTO_SHARE = 6


def transformer_layers(model: nn.Module) -> nn.ModuleList | None:
    """The model's stack of transformer layers: the ``ModuleList`` with as many entries as
    ``config.num_hidden_layers`` (``encoder.layer`` in BERT and XLM-R, ``transformer.layer``
    in DistilBERT, ``layers`` elsewhere), found by shape rather than by name; None when there
    is not exactly one (ALBERT shares one layer, an encoder-decoder has two stacks)."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    stacks = [
        module
        for module in model.modules()
        if isinstance(module, nn.ModuleList) and count is not None and len(module) == count
    ]
    return stacks[0] if len(stacks) == 1 else None


def _embedding_modules(model: nn.Module, layers: nn.ModuleList) -> list[nn.Module]:
    """What feeds the first layer: the model's ``embeddings`` module where it has one (word,
    position and type embeddings and their LayerNorm), else its input embeddings."""
    embeddings = getattr(model, "embeddings", None)
    if isinstance(embeddings, nn.Module) and embeddings is not layers:
        return [embeddings]
    input_embeddings = getattr(model, "get_input_embeddings", None)
    return [input_embeddings()] if callable(input_embeddings) else []


def freeze_lower_layers(model: nn.Module, count: int | float | None) -> int:
    """Stop training the embeddings and the first ``count`` transformer layers of ``model``;
    None: a sixth of them (``AUTO_SHARE``), or none where the layer stack cannot be found.
    ``count`` may equal the number of layers: then only what sits above the stack (a final
    LayerNorm, if the model has one) and the decoders learn. Returns how many were frozen."""
    if isinstance(count, float) and count.is_integer():
        count = int(count)  # a config's 2.0, which the config checks accept as whole
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise ConfigError(
            f"encoder.freeze_layers must be a whole number >= 0 (how many of the lowest "
            f"transformer layers not to train) or null (a sixth of them), got {count!r}"
        )
    if count == 0:
        return 0
    layers = transformer_layers(model)
    if layers is None:
        if count is None:
            logger.info(
                "encoder.freeze_layers: cannot tell which modules of %s are its layers; "
                "every layer trains",
                type(model).__name__,
            )
            return 0
        raise ConfigError(
            f"encoder.freeze_layers: cannot tell which modules of {type(model).__name__} are its "
            "transformer layers; use encoder.freeze_layers 0 with this model"
        )
    if count is None:
        count = len(layers) // AUTO_SHARE
        if count == 0:
            return 0
    if count > len(layers):
        raise ConfigError(
            f"encoder.freeze_layers is {count}, but the model has {len(layers)} transformer "
            f"layers; give a number from 0 to {len(layers)}"
        )
    for module in _embedding_modules(model, layers):
        module.requires_grad_(False)
    for layer in layers[:count]:
        layer.requires_grad_(False)
    return count
