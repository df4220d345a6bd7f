"""MultiTaskModel: one shared encoder, one decoder per task name, and the plain sum of losses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from .config import TASK_KEYS
from .data.vocabulary import LabelVocabulary
from .decoders.base import Decoder
from .errors import ConfigError
from .registry import check_arguments, decoders, encoders

if TYPE_CHECKING:
    from .modules.encoder import TransformerEncoder


@dataclass
class TaskSpec:
    """A task as the model sees it, merged over every dataset that names it."""

    name: str
    task_type: str
    metric: str
    loss_weight: float = 1.0
    decoder_args: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)


def collect_tasks(datasets: dict[str, dict[str, Any]]) -> dict[str, TaskSpec]:
    """Tasks by name; datasets that share a task name share its decoder, so they must agree."""
    tasks: dict[str, TaskSpec] = {}
    for dataset in datasets.values():
        for name, task in dataset["tasks"].items():
            where = f"{dataset['source']}, dataset {dataset['name']!r}, task {name!r}"
            decoder_class = cast(type[Decoder], decoders.get(task["task_type"], where=where))
            args = {k: v for k, v in task.items() if k not in TASK_KEYS}
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
            )
            if name in tasks:
                known = tasks[name]
                if (known.task_type, known.decoder_args) != (spec.task_type, spec.decoder_args):
                    raise ConfigError(
                        f"{where}: task {name!r} is defined differently in datasets "
                        f"{known.datasets} (same name means one shared decoder); give it "
                        "another name or the same settings"
                    )
                known.datasets.append(dataset["name"])
            else:
                tasks[name] = spec
    return tasks


class MultiTaskModel(nn.Module):
    """Shared encoder + ``{task: decoder}``; total loss = sum of ``loss_weight * task loss``."""

    # Any registered encoder; the library calls the built-in one's interface (encode_many,
    # input_length, collate, ...) on it, so it is typed as that one.
    encoder: TransformerEncoder

    def __init__(
        self,
        encoder: TransformerEncoder,
        task_decoders: dict[str, Decoder],
        loss_weights: dict[str, float] | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoders = nn.ModuleDict(task_decoders)
        self.loss_weights = dict(loss_weights or {})

    def forward(
        self, inputs: dict, gold: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor | int, dict[str, torch.Tensor]]:
        """The weighted total loss (0 without gold) and the loss of each task in ``gold``."""
        vectors, mask = self.encoder(inputs)
        losses = {
            task: cast(Decoder, self.decoders[task]).loss(vectors, mask, labels)
            for task, labels in gold.items()
        }
        total = sum(self.loss_weights.get(t, 1.0) * loss for t, loss in losses.items())
        return total, losses

    @torch.no_grad()
    def predict(self, inputs: dict, tasks: Sequence[str]) -> dict[str, list]:
        vectors, mask = self.encoder(inputs)
        return {task: cast(Decoder, self.decoders[task]).decode(vectors, mask) for task in tasks}


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
    check_arguments(encoder_class, encoder_args, "parameters config, encoder")
    encoder = encoder_class(
        **encoder_args, pretrained=pretrained, tokenizer=tokenizer, model_config=model_config
    )
    built = {}
    for name, spec in tasks.items():
        decoder_class = decoders.get(spec.task_type)
        args = dict(spec.decoder_args)
        import inspect

        accepted = inspect.signature(decoder_class.__init__).parameters
        if "dropout" in accepted and "dropout" not in args:
            args["dropout"] = params.get("decoder", {}).get("dropout", 0.0)
        built[name] = decoder_class(encoder.output_dim, vocabularies[name], **args)
    return MultiTaskModel(encoder, built, {n: s.loss_weight for n, s in tasks.items()})
