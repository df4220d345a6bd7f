"""The decoder interface: a decoder sees word vectors, a word mask and its gold targets as a
tensor, and owns its loss, its predictions and its default metric. It never touches subwords,
and what its task does with labels (reading, checking, vocabulary, tensors) belongs to the label
codec it declares (``codecs.py``), not to the network.

Loss reduction, the same for every decoder: per-sentence losses (summed over that sentence's
tokens for token-level tasks) are averaged over the sentences of the batch. CRF negative
log-likelihoods and token cross-entropies therefore have comparable scales when task losses
are summed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..data.vocabulary import LabelVocabulary
from .codecs import BioCodec, LabelCodec

# Names a decoder class used to set itself before labels moved to codecs. A subclass that still
# sets one to something its codec does not say would be silently overruled, so it is refused.
_MOVED_TO_CODEC = {
    "level": lambda codec: codec.level,
    "label_width": lambda codec: codec.label_width,
    "complete_bio": lambda codec: isinstance(codec, BioCodec),
}
_METHODS_MOVED_TO_CODEC = (
    "validate_label",
    "gold_to_targets",
    "targets_to_labels",
    "vocabulary_items",
    "labels_to_tensor",
)


class Decoder(nn.Module):
    """Base class of registered task decoders.

    Subclasses set ``codec`` (a ``LabelCodec``: the task's level and what it does with labels)
    and ``default_metric`` (a registered metric name), and implement ``loss`` and ``decode``.
    The trainer and the predictor know tasks only through this interface.
    """

    codec: ClassVar[LabelCodec] = LabelCodec()
    default_metric = "accuracy"
    # Metric names this task type reads as others (probdistr: MaChAmp's "accuracy" means
    # agreement of the most probable label, "distribution_accuracy").
    metric_aliases: ClassVar[dict[str, str]] = {}
    # Batch inputs that ``decode`` takes beside the vectors, by name (mlm: "masked_targets").
    decode_inputs: ClassVar[tuple[str, ...]] = ()
    # Whether the task's predictions have probabilities (``predict --probabilities`` and
    # ``--topn``, a temperature fitted on dev data): such a decoder implements ``logits``,
    # ``nll_at_temperature`` and ``confidences`` (``confidence.py`` has the softmax and CRF
    # versions). ``drops_entities``: its ``confidences`` applies ``min_confidence``.
    gives_probabilities: ClassVar[bool] = False
    drops_entities: ClassVar[bool] = False

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary):
        super().__init__()
        self.input_dim = input_dim
        self.vocabulary = vocabulary

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Probabilities describe the parent's labels: a subclass with its own codec or decode
        # (lemmas as edit scripts, segmentation) gives none unless it says so itself.
        if "gives_probabilities" not in cls.__dict__ and (
            "codec" in cls.__dict__ or "decode" in cls.__dict__
        ):
            cls.gives_probabilities = False
            cls.drops_entities = False
        for name, read in _MOVED_TO_CODEC.items():
            if name in cls.__dict__ and cls.__dict__[name] != read(cls.codec):
                raise TypeError(
                    f"{cls.__qualname__} sets {name} = {cls.__dict__[name]!r}, which its codec "
                    f"({cls.codec!r}) does not say; a decoder describes its labels with a codec "
                    'instead, e.g. codec = LabelCodec(level="sentence") (docs/new-decoder.md)'
                )
        for name in _METHODS_MOVED_TO_CODEC:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__} defines {name}; what a task does with its labels "
                    "belongs to a LabelCodec subclass, set as the decoder's codec "
                    "(docs/new-decoder.md)"
                )

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """A scalar: each sentence's loss, averaged over the batch's sentences."""
        raise NotImplementedError

    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[Any]:
        """Per sentence, its predicted targets: for token-level tasks a list with one per word,
        else one; ``codec.targets_to_labels`` turns them into labels."""
        raise NotImplementedError

    def logits(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The unnormalised scores that probabilities come from and a temperature divides:
        ``[batch, words, labels]`` for token-level tasks, ``[batch, labels]`` otherwise."""
        raise NotImplementedError(f"{type(self).__name__} gives no probabilities")

    def nll_at_temperature(
        self, logits: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor, temperature: float
    ) -> torch.Tensor:
        """Per sentence, the negative log-likelihood (float64) of the gold targets (as the
        codec's ``to_tensor`` makes them) under ``logits`` at ``temperature``: what calibration
        minimises. Gold indices below 0 (labels unseen in training) add nothing."""
        raise NotImplementedError(f"{type(self).__name__} gives no probabilities")

    def confidences(
        self,
        logits: torch.Tensor,
        mask: torch.Tensor,
        temperature: float = 1.0,
        topn: int = 1,
        min_confidence: float | None = None,
    ) -> list[dict[str, Any]]:
        """Per sentence, its prediction with probabilities at ``temperature`` (the dict that
        ``predict --probabilities`` writes; ``confidence.py`` describes its keys). The labels
        are those of ``decode``, whatever the temperature."""
        raise NotImplementedError(f"{type(self).__name__} gives no probabilities")


class LinearDecoder(Decoder):
    """A dropout and one linear layer from a word vector to a score per label: the head that
    the softmax, CRF, classification and multi-label decoders share, so that their weights
    have one layout (``projection.weight``, ``projection.bias``) in every archive."""

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary, dropout: float = 0.0):
        super().__init__(input_dim, vocabulary)
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(input_dim, len(vocabulary))
