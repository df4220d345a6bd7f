"""MultiTaskModel: one shared encoder, one decoder per task name, and the plain sum of losses.

What a task's decoder reads is the encoder's last layer, unless the task names other layers
(``layers_to_use``: then a learned scalar mix of them, per task) or asks for its sentence's
dataset embedding beside each word vector (``dec_dataset_embed_idx``). A dataset with
``dataset_embed_idx`` adds its learned vector to the encoder's input embeddings instead, so
the whole transformer sees where the sentence comes from (MaChAmp v0.4's dataset embeddings).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from .config import TASK_KEYS
from .data.vocabulary import LabelVocabulary
from .decoders.base import Decoder
from .errors import ConfigError
from .modules.dataset_embeddings import DatasetEmbedding
from .modules.scalar_mix import ScalarMix
from .precision import decoder_precision
from .registry import check_arguments, decoders, encoders

if TYPE_CHECKING:
    from .modules.encoder import TransformerEncoder

# Task keys the model reads itself: never a decoder's arguments.
MODEL_TASK_KEYS = ("layers_to_use", "dec_dataset_embed_idx")
# MaChAmp's value of dataset_embed_idx / dec_dataset_embed_idx for "the dataset's name is the
# id"; a column index would read a per-word id from the data instead.
NAME_AS_ID = -1


@dataclass
class TaskSpec:
    """A task as the model sees it, merged over every dataset that names it."""

    name: str
    task_type: str
    metric: str
    loss_weight: float = 1.0
    decoder_args: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    layers_to_use: list[int] = field(default_factory=lambda: [-1])
    dec_dataset_embed_idx: int | None = None
    # The dataset key dataset_embed_idx of each of ``datasets``, so that the model (whose
    # dataset table is the datasets of its tasks) is built from the tasks alone.
    dataset_embed_idx: dict[str, int | None] = field(default_factory=dict)
    # Metrics reported beside ``metric`` and never summed (MaChAmp's task key); like
    # ``metric``, the first dataset that names the task sets them.
    additional_metrics: list[str] = field(default_factory=list)


def collect_tasks(datasets: dict[str, dict[str, Any]]) -> dict[str, TaskSpec]:
    """Tasks by name; datasets that share a task name share its decoder, so they must agree."""
    tasks: dict[str, TaskSpec] = {}
    for dataset in datasets.values():
        embed_idx = _optional_int(dataset.get("dataset_embed_idx"), "dataset_embed_idx", dataset)
        for name, task in dataset["tasks"].items():
            where = f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}"
            decoder_class = cast(type[Decoder], decoders.get(task["task_type"], where=where))
            args = {
                k: v for k, v in task.items() if k not in TASK_KEYS and k not in MODEL_TASK_KEYS
            }
            check_arguments(
                decoder_class, args, where, provided_by_caller=("input_dim", "vocabulary")
            )
            spec = TaskSpec(
                name,
                task["task_type"],
                task.get("metric") or decoder_class.default_metric,
                float(task.get("loss_weight", 1.0)),
                args,
                [dataset["name"]],
                _layer_list(task.get("layers_to_use", [-1]), where),
                _optional_int(task.get("dec_dataset_embed_idx"), "dec_dataset_embed_idx", where),
                {dataset["name"]: embed_idx},
                additional_metrics=list(task.get("additional_metrics") or []),
            )
            if name in tasks:
                known = tasks[name]
                if _shared_settings(known) != _shared_settings(spec):
                    raise ConfigError(
                        f"{where}: task {name!r} is defined differently in datasets "
                        f"{known.datasets} (same name means one shared decoder); give it "
                        "another name or the same settings"
                    )
                known.datasets.append(dataset["name"])
                known.dataset_embed_idx[dataset["name"]] = embed_idx
            else:
                tasks[name] = spec
    return tasks


def _shared_settings(spec: TaskSpec) -> tuple:
    """What datasets sharing a task must agree on: it is one decoder reading one input."""
    return (spec.task_type, spec.decoder_args, spec.layers_to_use, spec.dec_dataset_embed_idx)


def _layer_list(value: Any, where: str) -> list[int]:
    """``layers_to_use`` checked here too: the model may be built from configs that no
    loader checked (an archive written by another tool)."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(
            f"{where}: layers_to_use must be a non-empty list of layer indices, e.g. [-1] "
            f"(the last layer) or [-4, -3, -2, -1], got {value!r}"
        )
    return list(value)


def _optional_int(value: Any, key: str, where: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(where, dict):
        where = f"{where['source']}, dataset {where['name']!r}"
    raise ConfigError(f"{where}: {key} must be an integer (-1: the dataset's name), got {value!r}")


class MultiTaskModel(nn.Module):
    """Shared encoder + ``{task: decoder}``; total loss = sum of ``loss_weight * task loss``.

    Inputs are the encoder's ``collate`` output, plus ``inputs["dataset_ids"]`` (a LongTensor
    ``[batch]``: each sentence's index in ``dataset_names``, see ``dataset_ids``) when the
    model has dataset embeddings (``needs_dataset_ids``)."""

    # Any registered encoder; the library calls the built-in one's interface (encode_many,
    # input_length, collate, ...) on it, so it is typed as that one.
    encoder: TransformerEncoder

    def __init__(
        self,
        encoder: TransformerEncoder,
        task_decoders: dict[str, Decoder],
        loss_weights: dict[str, float] | None = None,
        *,
        task_layers: Mapping[str, Sequence[int]] | None = None,
        dataset_names: Sequence[str] = (),
        input_embedding: DatasetEmbedding | None = None,
        decoder_embedding: DatasetEmbedding | None = None,
        decoder_embedded_tasks: Sequence[str] = (),
    ):
        """``task_layers``: the layers (0 to ``encoder.num_layers``) of each task that reads
        other than the last layer alone; a task with several gets a scalar mix.
        ``input_embedding`` adds a dataset's vector to the encoder's input embeddings;
        ``decoder_embedding`` joins one to the word vectors of ``decoder_embedded_tasks``."""
        super().__init__()
        self.encoder = encoder
        self.decoders = nn.ModuleDict(task_decoders)
        self.loss_weights = dict(loss_weights or {})
        self.task_layers = {task: list(layers) for task, layers in (task_layers or {}).items()}
        self.scalar_mixes = nn.ModuleDict(
            {t: ScalarMix(len(layers)) for t, layers in self.task_layers.items() if len(layers) > 1}
        )
        self.dataset_names = list(dataset_names)
        self.input_embedding = input_embedding
        self.decoder_embedding = decoder_embedding
        self.decoder_embedded_tasks = set(decoder_embedded_tasks)

    @property
    def needs_dataset_ids(self) -> bool:
        """Whether ``inputs["dataset_ids"]`` is required (the model has dataset embeddings)."""
        return self.input_embedding is not None or self.decoder_embedding is not None

    def dataset_index(self, name: str) -> int:
        """The index of dataset ``name`` in this model's dataset table."""
        try:
            return self.dataset_names.index(name)
        except ValueError:
            raise ConfigError(
                f"unknown dataset {name!r}; this model knows: {', '.join(self.dataset_names)}"
            ) from None

    def dataset_ids(self, names: Sequence[str]) -> torch.Tensor:
        """``inputs["dataset_ids"]`` for sentences of datasets ``names`` (one per sentence)."""
        return torch.tensor([self.dataset_index(n) for n in names], dtype=torch.long)

    def scalar_mix_weights(self) -> dict[str, list[float]]:
        """Per task with a layer mix, each layer's normalised share (in the order of
        ``task_layers[task]``), for metrics and reports."""
        return {
            task: cast(ScalarMix, mix).weights().detach().cpu().tolist()
            for task, mix in self.scalar_mixes.items()
        }

    def forward(
        self,
        inputs: dict,
        gold: dict[str, torch.Tensor],
        task_rows: Mapping[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor | int, dict[str, torch.Tensor]]:
        """The weighted total loss (0 without gold) and the loss of each task in ``gold``.

        ``task_rows`` maps a task to the batch rows (a LongTensor) that carry it, for batches
        mixing datasets; its decoder then sees only those rows, and ``gold[task]`` holds only
        theirs, in that order. A task it leaves out (all of them, when None) is carried by
        every row."""
        vectors, mask = self.task_vectors(inputs, list(gold))
        losses = {}
        for task, labels in gold.items():
            rows = None if task_rows is None else task_rows.get(task)
            task_vectors, task_mask = vectors[task], mask
            if rows is not None:
                rows = rows.to(mask.device)
                task_vectors, task_mask = task_vectors[rows], mask[rows]
            with decoder_precision(mask):
                decoder = cast(Decoder, self.decoders[task])
                losses[task] = decoder.loss(task_vectors, task_mask, labels)
        total = sum(self.loss_weights.get(t, 1.0) * loss for t, loss in losses.items())
        return total, losses

    @torch.no_grad()
    def predict(self, inputs: dict, tasks: Sequence[str]) -> dict[str, list]:
        vectors, mask = self.task_vectors(inputs, tasks)
        predicted = {}
        for task in tasks:
            decoder = cast(Decoder, self.decoders[task])
            # Inputs a decoder asks for by name (``decode_inputs``): the hidden tokens of masked
            # language modelling, which its dev score needs; absent keys are not passed.
            wanted = getattr(decoder, "decode_inputs", ())
            extra = {key: inputs[key] for key in wanted if key in inputs}
            with decoder_precision(mask):
                predicted[task] = decoder.decode(vectors[task], mask, **extra)
        return predicted

    @torch.no_grad()
    def task_logits(
        self, inputs: dict, tasks: Sequence[str]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each of ``tasks``'s scores (``Decoder.logits``; its decoder must give probabilities)
        and the word mask, from one encoder pass: what calibration fits a temperature on."""
        vectors, mask = self.task_vectors(inputs, tasks)
        decoders = {t: cast(Decoder, self.decoders[t]) for t in tasks}
        with decoder_precision(mask):
            return {t: d.logits(vectors[t], mask) for t, d in decoders.items()}, mask

    @torch.no_grad()
    def predict_confidences(
        self,
        inputs: dict,
        tasks: Sequence[str],
        temperatures: Mapping[str, float],
        topn: Mapping[str, int] | int = 1,
        min_confidence: float | None = None,
    ) -> dict[str, list]:
        """Like ``predict``, but a task whose decoder gives probabilities predicts its
        ``confidences`` dicts (at its temperature and top-n, 1 when not given); other tasks
        predict as in ``predict``."""
        vectors, mask = self.task_vectors(inputs, tasks)
        predicted: dict[str, list] = {}
        for task in tasks:
            decoder = cast(Decoder, self.decoders[task])
            with decoder_precision(mask):
                if not decoder.gives_probabilities:
                    wanted = getattr(decoder, "decode_inputs", ())
                    extra = {key: inputs[key] for key in wanted if key in inputs}
                    predicted[task] = decoder.decode(vectors[task], mask, **extra)
                    continue
                logits = decoder.logits(vectors[task], mask)
            predicted[task] = decoder.confidences(
                logits,
                mask,
                temperatures.get(task, 1.0),
                topn if isinstance(topn, int) else topn.get(task, 1),
                min_confidence,
            )
        return predicted

    def task_vectors(
        self, inputs: dict, tasks: Sequence[str]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """What each of ``tasks``'s decoders reads (``[batch, words, dim]``), and the word
        mask. The encoder runs once, for the union of the layers these tasks name."""
        shift = None
        if self.input_embedding is not None:
            shift = self.input_embedding(self._dataset_ids(inputs))
        special = {t: self.task_layers[t] for t in tasks if t in self.task_layers}
        per_task: dict[str, torch.Tensor] = {}
        if not special:
            # The plain call: the last layer only, exactly as a model without these features.
            if shift is None:
                vectors, mask = self.encoder(inputs)
            else:
                vectors, mask = self.encoder(inputs, input_shift=shift)
            per_task = dict.fromkeys(tasks, vectors)
        else:
            top = self.encoder.num_layers
            needed = set().union(*special.values())
            if len(special) < len(tasks):
                needed.add(top)  # some task reads the last layer alone
            union = sorted(needed)
            stacked, mask = self.encoder(inputs, layers=union, input_shift=shift)
            for task in tasks:
                layers = special.get(task, [top])
                if len(layers) == 1:
                    per_task[task] = stacked[union.index(layers[0])]
                    continue
                index = torch.tensor([union.index(layer) for layer in layers])
                picked = stacked.index_select(0, index.to(stacked.device))
                per_task[task] = self.scalar_mixes[task](picked)
        embedded = [t for t in tasks if t in self.decoder_embedded_tasks]
        if embedded and self.decoder_embedding is not None:
            extra = self.decoder_embedding(self._dataset_ids(inputs))
            for task in embedded:
                vectors = per_task[task]
                beside = extra[:, None, :].to(vectors.dtype).expand(*vectors.shape[:2], -1)
                per_task[task] = torch.cat([vectors, beside], dim=-1)
        # Decoders read float32 vectors and run outside autocast (decoder_precision).
        return {task: vectors.float() for task, vectors in per_task.items()}, mask

    def _dataset_ids(self, inputs: dict) -> torch.Tensor:
        ids = inputs.get("dataset_ids")
        if ids is None:
            raise ValueError(
                "this model has dataset embeddings, so its inputs need 'dataset_ids' (each "
                "sentence's dataset: model.dataset_ids(names)); the caller did not set them"
            )
        return ids


def build_model(
    params: dict[str, Any],
    tasks: dict[str, TaskSpec],
    vocabularies: dict[str, LabelVocabulary],
    pretrained: bool = True,
    tokenizer=None,
    model_config=None,
) -> MultiTaskModel:
    """The model described by the configs; ``pretrained=False`` builds the shape only (archives)."""
    encoder_params = dict(params["encoder"])
    encoder_class = encoders.get(encoder_params.pop("type", "transformer"), where="encoder.type")
    encoder_args = {"transformer_model": params["transformer_model"], **encoder_params}
    if params.get("reset_transformer_model"):
        # Passed only when set, so that encoders without the option still build by default.
        encoder_args["reset_transformer_model"] = True
    check_arguments(encoder_class, encoder_args, "parameters config, encoder")
    encoder = encoder_class(
        **encoder_args, pretrained=pretrained, tokenizer=tokenizer, model_config=model_config
    )
    dataset_names = list(dict.fromkeys(d for spec in tasks.values() for d in spec.datasets))
    decoder_embedded = [name for name, spec in tasks.items() if _check_id_source(spec)]
    decoder_dim = int(params.get("default_dec_dataset_embeds_dim", 12))
    if decoder_embedded and decoder_dim < 1:
        raise ConfigError(
            f"default_dec_dataset_embeds_dim must be at least 1 for dec_dataset_embed_idx "
            f"(tasks {', '.join(decoder_embedded)}), got {decoder_dim}"
        )
    built = {}
    for name, spec in tasks.items():
        decoder_class = decoders.get(spec.task_type)
        args = dict(spec.decoder_args)
        accepted = inspect.signature(decoder_class.__init__).parameters
        if "dropout" in accepted and "dropout" not in args:
            args["dropout"] = params.get("decoder", {}).get("dropout", 0.0)
        input_dim = encoder.output_dim + (decoder_dim if name in decoder_embedded else 0)
        built[name] = decoder_class(input_dim, vocabularies[name], **args)
        attach = getattr(built[name], "attach_encoder", None)
        if attach is not None:  # a decoder that reuses the encoder's weights (mlm's head)
            attach(encoder, pretrained)
    task_layers = {}
    for name, spec in tasks.items():
        if spec.layers_to_use != [-1]:
            layers = _resolve_layers(spec, encoder.num_layers)
            if layers != [encoder.num_layers]:
                task_layers[name] = layers
    input_embedding = decoder_embedding = None
    embedded = [i for i, d in enumerate(dataset_names) if _embeds_input(tasks, d)]
    if embedded:
        size = encoder.transformer.get_input_embeddings().embedding_dim
        input_embedding = DatasetEmbedding(len(dataset_names), embedded, size)
    if decoder_embedded:
        sources = {d for t in decoder_embedded for d in tasks[t].datasets}
        rows = [i for i, d in enumerate(dataset_names) if d in sources]
        decoder_embedding = DatasetEmbedding(len(dataset_names), rows, decoder_dim)
    return MultiTaskModel(
        encoder,
        built,
        {n: s.loss_weight for n, s in tasks.items()},
        task_layers=task_layers,
        dataset_names=dataset_names,
        input_embedding=input_embedding,
        decoder_embedding=decoder_embedding,
        decoder_embedded_tasks=decoder_embedded,
    )


def _resolve_layers(spec: TaskSpec, num_layers: int) -> list[int]:
    """``layers_to_use`` as indices from 0 (the embedding output) to ``num_layers`` (the last
    layer); negative ones count from the top, -1 being the last."""
    resolved = []
    for layer in spec.layers_to_use:
        if not -(num_layers + 1) <= layer <= num_layers:
            raise ConfigError(
                f"task {spec.name!r}: layers_to_use {spec.layers_to_use} names layer {layer}, "
                f"but the encoder has layers 0 (its embeddings) to {num_layers} (-1 is the last)"
            )
        resolved.append(layer % (num_layers + 1))
    if len(set(resolved)) < len(resolved):
        raise ConfigError(
            f"task {spec.name!r}: layers_to_use {spec.layers_to_use} names a layer twice"
        )
    return resolved


# Why a column index is refused, for both keys: it needs more than this model.
_COLUMN_IDS = (
    "only -1 (the dataset's name as its id) is supported: ids read from a column would need "
    "the readers to keep that column per word and the batches to carry it, which they do not"
)


def _check_id_source(spec: TaskSpec) -> bool:
    """Whether the task gets a decoder dataset embedding (dec_dataset_embed_idx)."""
    if spec.dec_dataset_embed_idx is None:
        return False
    if spec.dec_dataset_embed_idx != NAME_AS_ID:
        raise ConfigError(
            f"task {spec.name!r}: dec_dataset_embed_idx {spec.dec_dataset_embed_idx}: "
            + _COLUMN_IDS
        )
    return True


def _embeds_input(tasks: dict[str, TaskSpec], dataset: str) -> bool:
    """Whether ``dataset`` adds its embedding to the encoder's input (dataset_embed_idx)."""
    for spec in tasks.values():
        value = spec.dataset_embed_idx.get(dataset)
        if value is not None and value != NAME_AS_ID:
            raise ConfigError(f"dataset {dataset!r}: dataset_embed_idx {value}: " + _COLUMN_IDS)
        if value is not None:
            return True
    return False


def layer_mix_report(model: MultiTaskModel) -> dict[str, dict[str, list]]:
    """Each mixing task's layers (hidden-state numbers, 0 the embeddings) and their learned
    shares, as metrics.json and an archive's ``layer_mix.json`` show them."""
    return {
        task: {"layers": list(model.task_layers[task]), "weights": weights}
        for task, weights in model.scalar_mix_weights().items()
    }
