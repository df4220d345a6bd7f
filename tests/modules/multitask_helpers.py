"""Small multi-task models on the tiny BERT for the model tests of this folder: datasets and
tasks written as the config loader leaves them, a model built from them, and batches."""

from __future__ import annotations

from typing import Any

import torch

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.base import Decoder
from machamp_lite.model import MultiTaskModel, build_model, collect_tasks
from machamp_lite.testing import demo_texts

LABELS = ["O", "B-X", "I-X"]


def dataset(name: str, tasks: dict[str, dict[str, Any]], **keys: Any) -> dict[str, Any]:
    """A dataset entry as ``load_dataset_configs`` returns it (the keys the model reads)."""
    return {"name": name, "source": f"{name}.json", "tasks": tasks, **keys}


def seq(**keys: Any) -> dict[str, Any]:
    """A softmax tagging task reading the last column."""
    return {"task_type": "seq", "column_idx": -1, **keys}


def params(model_path, pooling: str = "first", **top: Any) -> dict[str, Any]:
    """Parameters without dropout, so that two forward passes can be compared."""
    encoder = {"max_input_length": 64, "dropout": 0.0, "pooling": pooling}
    encoder.update(top.pop("encoder", {}))
    return {
        "transformer_model": str(model_path),
        "encoder": encoder,
        "decoder": {"dropout": 0.0},
        **top,
    }


def build(model_path, datasets: list[dict[str, Any]], seed: int = 0, **top: Any):
    """(model in eval mode, datasets by name, parameters) for ``datasets``."""
    by_name = {d["name"]: d for d in datasets}
    tasks = collect_tasks(by_name)
    vocabularies = {task: LabelVocabulary(LABELS) for task in tasks}
    settings = params(model_path, **top)
    torch.manual_seed(seed)
    model = build_model(settings, tasks, vocabularies)
    model.eval()
    return model, by_name, settings


LENGTHS = (4, 9, 2, 13, 6, 17, 3, 8)


def sentences(count: int, start: int = 0) -> list[list[str]]:
    """``count`` sentences of demo words, of different lengths (``start`` skips some)."""
    words = " ".join(demo_texts()).split()
    found, offset = [], 0
    for i in range(start + count):
        length = LENGTHS[i % len(LENGTHS)]
        found.append(words[offset : offset + length])
        offset += length
    return found[start:]


def collate(model: MultiTaskModel, words: list[list[str]], max_tokens: int = 4096) -> dict:
    return model.encoder.collate(model.encoder.encode_many(words), max_tokens)


def gold(model: MultiTaskModel, task: str, words: list[list[str]], width: int) -> torch.Tensor:
    """Deterministic labels (by word length) for ``words``, as the task's gold tensor."""
    decoder = model.decoders[task]
    assert isinstance(decoder, Decoder)
    labels = [[LABELS[len(w) % len(LABELS)] for w in sentence] for sentence in words]
    return decoder.codec.to_tensor(decoder.vocabulary, labels, width)


def transformer_calls(model: MultiTaskModel) -> list[dict[str, Any]]:
    """The keyword arguments of every call of the transformer, recorded as they happen."""
    calls: list[dict[str, Any]] = []
    model.encoder.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(dict(kwargs)), with_kwargs=True
    )
    return calls


def train_one_step(model: MultiTaskModel, lr: float = 0.1) -> dict[str, torch.Tensor]:
    """One optimizer step on four demo sentences of task ``ner``; returns every parameter as it
    was before the step."""
    from machamp_lite.training.optimization import build_optimizer

    before = {name: value.detach().clone() for name, value in model.named_parameters()}
    optimizer = build_optimizer(model, {"lr": lr, "decoder_lr": lr})
    model.train()
    words = sentences(4)
    inputs = collate(model, words)
    labels = {"ner": gold(model, "ner", words, inputs["word_mask"].shape[1])}
    optimizer.zero_grad()
    model(inputs, labels)[0].backward()
    optimizer.step()
    return before
