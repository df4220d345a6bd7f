"""``mlm``: masked language modelling, as an auxiliary task or for domain adaptation.

The decoder reads one vector per subword (the codec's subword view) and predicts the subwords
that the batch builder hid (``HiddenTokenCodec.corrupt``). Its head is the pretrained model's
own masked-LM head when the checkpoint has one (``AutoModelForMaskedLM``), else a random one of
the same shape; either way its output projection is the encoder's input embedding matrix
itself, tied as Hugging Face ties it. Sharing that matrix keeps an archive small (safetensors
stores a shared tensor once) and means that with ``encoder.freeze_embeddings`` (the default)
the projection is frozen too: the head's transform and output bias still learn, and the
embeddings stay those of the pretrained model, as every other task sees them.

Scores are computed only at hidden positions: a full ``[batch, subwords, 250k]`` logit tensor
of a multilingual vocabulary would take gigabytes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from ..data.masking import MaskingVocabulary
from ..data.vocabulary import LabelVocabulary
from ..errors import ConfigError
from ..registry import decoders
from .base import Decoder
from .codecs import IGNORE, LabelCodec

logger = logging.getLogger("machamp_lite")


# A position of a cloze label that is not hidden.
NOT_HIDDEN_LABEL = "_"


class HiddenTokenCodec(LabelCodec):
    """Masked language modelling: the task learns the tokens hidden in its own input.

    The input is raw text (``reads_raw_text``: a reader of plain lines, one sentence per line,
    is chosen for a dataset of such tasks), seen as subwords (``subword_view``: every subword
    is a "word" of its own, so the decoder gets one vector per subword). What is hidden is
    chosen by ``corrupt`` when a batch is built, so the targets are a list per sentence with
    the original subword id at each hidden position and -100 elsewhere. The task has no label
    to write (``produces_labels`` false): prediction never writes it.

    A label written by hand is a cloze item: one entry per position, space-separated, ``_``
    where nothing is hidden and the hidden token elsewhere (``_ dog _``); its tokens then make
    the vocabulary. Level ``sentence``: a task label per sentence, which no word-level writer
    touches, since the positions are subwords and not the input's words."""

    reads_raw_text = True
    subword_view = True
    produces_labels = False

    def __init__(self) -> None:
        super().__init__(level="sentence")

    def validate(self, label: str) -> str | None:
        if not label.strip():
            return "the label is empty"
        return None

    def gold_to_targets(self, words: Sequence[str], labels: Any) -> Any:
        if not isinstance(labels, str):
            return labels  # None: nothing hidden yet (raw text), or targets already
        return [None if t == NOT_HIDDEN_LABEL else t for t in labels.split()]

    def targets_to_labels(self, words: Sequence[str], targets: Any) -> Any:
        cloze = isinstance(targets, list) and targets  # [] is no score, not an empty cloze
        if cloze and all(t is None or isinstance(t, str) for t in targets):
            return " ".join(NOT_HIDDEN_LABEL if t is None else t for t in targets)
        return targets  # scores of hidden tokens (what the perplexity metric reads)

    def vocabulary_items(self, targets: Any) -> list[Any]:
        if not isinstance(targets, list):
            return []
        return [t for t in targets if isinstance(t, str)]

    def corrupt(self, sentences: list, vocabulary: Any, generator: Any = None) -> list:
        """Copies of ``sentences`` (encoded, in the subword view) with tokens hidden; each
        copy's ``masked_targets`` are then its targets. Called by the batch builder for every
        training batch (fresh choices each epoch) and once for a dev set (a fixed choice)."""
        from ..data.tokenization import corrupt_sentences

        return corrupt_sentences(sentences, vocabulary, generator)

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """``[sentences, num_words]``: per position the index of its hidden token in the
        decoder's output (a subword id as ``corrupt`` gives it, or a cloze label's token in
        the vocabulary), -100 where nothing is hidden, for padding, and for unknown tokens."""
        tensor = torch.full((len(targets), num_words), IGNORE, dtype=torch.long)
        for i, sentence in enumerate(targets):
            if not isinstance(sentence, list):
                continue
            row = [
                t if isinstance(t, int) else vocabulary.index.get(t, IGNORE) if t else IGNORE
                for t in sentence[:num_words]
            ]
            tensor[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return tensor


class _RandomHead(nn.Module):
    """BERT's head shape (dense, GELU, layer norm, projection with bias), for an encoder whose
    model type has no masked-LM class in transformers."""

    def __init__(self, dim: int, size: int, eps: float = 1e-12):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.decoder = nn.Linear(dim, size)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(functional.gelu(self.dense(vectors))))


def masked_lm_head(transformer: Any, pretrained: bool) -> tuple[nn.Module, Any, str]:
    """(head, its output projection, where it comes from) for ``transformer``'s model type:
    the checkpoint's own head when ``pretrained`` (random where the checkpoint lacks it), the
    same shape with random weights otherwise (an archive's weights are loaded afterwards)."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as transformers_logging

    config = transformer.config
    verbosity = transformers_logging.get_verbosity()
    try:
        if pretrained:
            # Its load report lists the head as missing when the checkpoint has none: said
            # below in one line instead.
            transformers_logging.set_verbosity_error()
            full, info = AutoModelForMaskedLM.from_pretrained(
                transformer.name_or_path, config=config, output_loading_info=True
            )
            base = full.base_model_prefix + "."
            missing = [
                key
                for key in info["missing_keys"]
                if not key.startswith(base) and not key.endswith("decoder.weight")  # tied
            ]
            source = "random: the checkpoint has no masked-LM head" if missing else "pretrained"
        else:
            full = AutoModelForMaskedLM.from_config(config)
            source = "from the archive"
    except (ValueError, KeyError):  # transformers knows no masked-LM class for this model
        dim = int(config.hidden_size)
        fallback = _RandomHead(
            dim, int(config.vocab_size), getattr(config, "layer_norm_eps", 1e-12)
        )
        return (
            fallback,
            fallback.decoder,
            "random: transformers has no masked-LM head for this model",
        )
    finally:
        transformers_logging.set_verbosity(verbosity)
    base = getattr(full, full.base_model_prefix, None)
    parts = [(name, module) for name, module in full.named_children() if module is not base]
    head = parts[0][1] if len(parts) == 1 else nn.Sequential(OrderedDict(parts))
    output = full.get_output_embeddings()
    return head, output, source


@decoders.register("mlm")
class MaskedLanguageModel(Decoder):
    """Predicts hidden subwords; scored by perplexity (its ``score`` is 1 / perplexity)."""

    codec = HiddenTokenCodec()
    default_metric = "perplexity"
    # Inputs that ``MultiTaskModel.predict`` hands to ``decode``: the hidden tokens of a dev set,
    # which the perplexity needs.
    decode_inputs = ("masked_targets",)

    def __init__(self, input_dim: int, vocabulary: LabelVocabulary):
        super().__init__(input_dim, vocabulary)
        # Until ``attach_encoder``: a projection onto the label vocabulary (hand-written cloze
        # labels, a decoder built without an encoder in unit tests).
        self.head: nn.Module = nn.Linear(input_dim, max(len(vocabulary), 1))
        self.head_source = "unattached"

    def attach_encoder(self, encoder: Any, pretrained: bool) -> None:
        """Replace the head by the encoder's masked-LM head, its projection tied to the
        encoder's input embeddings. ``build_model`` calls it for every decoder that has it."""
        transformer = encoder.transformer
        size = int(transformer.config.hidden_size)
        if self.input_dim != size:
            raise ConfigError(
                f"task type mlm reads the encoder's vectors as they are ({size} values), but "
                f"gets {self.input_dim}: remove dec_dataset_embed_idx from its task"
            )
        if getattr(encoder, "tokenizer", None) is not None:
            # Fails here, before a run directory exists, for a tokenizer without a mask token.
            MaskingVocabulary.from_tokenizer(encoder.tokenizer)
        head, output, source = masked_lm_head(transformer, pretrained)
        embeddings = transformer.get_input_embeddings()
        tie = getattr(transformer.config, "tie_word_embeddings", True)
        if tie and output is not None and output.weight.shape == embeddings.weight.shape:
            output.weight = embeddings.weight
        self.head = head.to(embeddings.weight.dtype)
        self.head_source = source
        logger.info("mlm head of %s: %s", transformer.name_or_path, source)

    def _hidden(
        self, mask: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows, columns) of the hidden positions, and their targets."""
        hidden = (targets != IGNORE) & mask[:, : targets.shape[1]]
        rows, columns = hidden.nonzero(as_tuple=True)
        return rows, columns, targets[rows, columns]

    def _token_losses(
        self, vectors: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        rows, columns, gold = self._hidden(mask, targets)
        logits = self.head(vectors[rows, columns]).float()
        return rows, functional.cross_entropy(logits, gold, reduction="none")

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        rows, per_token = self._token_losses(vectors, mask, gold)
        # Summed over each sentence's hidden tokens, averaged over sentences: the project's
        # one reduction (a sentence with nothing hidden counts as a loss of 0).
        per_sentence = per_token.new_zeros(gold.shape[0]).index_add(0, rows, per_token)
        return per_sentence.mean()

    @torch.no_grad()
    def decode(
        self,
        vectors: torch.Tensor,
        mask: torch.Tensor,
        masked_targets: torch.Tensor | None = None,
    ) -> list[Any]:
        """Per sentence, the negative log-likelihood of each hidden token, in order (what the
        perplexity metric reads); without hidden tokens, a cloze of nothing hidden."""
        lengths = mask.sum(dim=1).tolist()
        if masked_targets is None:
            return [[None] * n for n in lengths]
        rows, per_token = self._token_losses(vectors, mask, masked_targets.to(mask.device))
        result: list[list[float]] = [[] for _ in lengths]
        for row, value in zip(rows.tolist(), per_token.tolist()):
            result[row].append(value)
        return result
