"""The dev data that a temperature is fitted on: which files (the archive's dev paths or the
user's), read as training reads them, and each probability-giving task's scores over them,
computed once with the encoder and kept on the CPU, so that the search over T re-scores them
without running the encoder again."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, DataError


@dataclass
class TaskScores:
    """One task's dev scores, gold indices and word masks, batch by batch on the CPU, from
    every dataset that has the task: its temperature is one number for all of them."""

    decoder: Any
    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    sentences: int = 0
    files: list[str] = field(default_factory=list)
    # Sentences with a gold label the model knows: only they say anything about T.
    informative: int = 0

    def add(self, logits: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> None:
        known = gold >= 0
        if known.dim() == 2:  # token level (padding is -100 too): any known label
            known = known.any(dim=1)
        self.informative += int(known.sum())
        self.batches.append((logits.detach().cpu(), mask.cpu(), gold))

    @torch.inference_mode()
    def nll(self, temperature: float) -> float:
        """The mean NLL per sentence of the gold targets at ``temperature``."""
        parameter = next(self.decoder.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        total = 0.0
        for logits, mask, gold in self.batches:
            per_sentence = self.decoder.nll_at_temperature(
                logits.to(device), mask.to(device), gold.to(device), temperature
            )
            total += float(per_sentence.sum())
        return total / max(self.sentences, 1)


def probability_tasks(model, tasks: Iterable[str]) -> list[str]:
    """Those of ``tasks`` whose decoder gives probabilities: the only ones a T can scale."""
    return [t for t in tasks if getattr(model.decoders[t], "gives_probabilities", False)]


def read_dev_sentences(dataset: dict[str, Any], paths: Sequence[str], limit: int) -> list:
    """The dev sentences of ``paths`` as training reads them (``limit``: ``max_dev_sents``,
    -1 for all); a missing file is one error that says how to give another."""
    from .data.dataset import read_dataset_file

    sentences = []
    for path in paths:
        if not Path(path).is_file():
            stored = dataset.get("dev_data_path")
            from_model = path in (stored if isinstance(stored, list) else [stored])
            why = " (a model copied from another machine keeps its paths)" if from_model else ""
            raise DataError(
                f"dev file of dataset {dataset['name']!r} not found, or not a file{why}: "
                "give the dev file(s) with --dev FILE (and --dataset NAME)",
                path,
            )
        sentences.extend(read_dataset_file(dataset, path, limit=limit))
    return sentences


def collect_scores(
    model,
    params: dict[str, Any],
    datasets: dict[str, Any],
    sources: dict[str, tuple[list[str], int]],
    device: torch.device,
) -> dict[str, TaskScores]:
    """Each probability-giving task's dev scores over ``sources`` (dataset: (files, limit)),
    encoded and batched as ``predict_encoded`` does (the model's prediction batch settings,
    dataset ids for dataset embeddings), with gold as training batches build it."""
    from .data.batching import make_batches
    from .decoders.codecs import codec_for
    from .devices import move
    from .predict import encode_sentences

    settings = params.get("prediction", {})
    batch_size, max_tokens = (
        int(settings.get("batch_size", 64)),
        int(settings.get("max_tokens", 4096)),
    )
    found: dict[str, TaskScores] = {}
    model.eval()
    for name, (paths, limit) in sources.items():
        dataset = datasets[name]
        tasks = probability_tasks(model, dataset["tasks"])
        if not tasks:
            continue
        sentences = read_dev_sentences(dataset, paths, limit)
        codecs = {t: codec_for(dataset["tasks"][t]["task_type"]) for t in tasks}
        targets = {
            t: [codecs[t].gold_to_targets(s.words, s.labels[t]) for s in sentences] for t in tasks
        }
        encoded = encode_sentences(model.encoder, sentences)
        lengths = [model.encoder.input_length(e) for e in encoded]
        dataset_id = model.dataset_index(name) if model.needs_dataset_ids else None
        for task in tasks:
            scores = found.setdefault(task, TaskScores(model.decoders[task]))
            scores.sentences += len(sentences)
            scores.files.extend(str(p) for p in paths)
        for batch in make_batches(lengths, batch_size, max_tokens):
            inputs = model.encoder.collate([encoded[i] for i in batch], max_tokens)
            if dataset_id is not None:
                inputs["dataset_ids"] = torch.full((len(batch),), dataset_id, dtype=torch.long)
            num_words = inputs["word_mask"].shape[1]
            with torch.inference_mode():
                logits, mask = model.task_logits(move(inputs, device), tasks)
            for task in tasks:
                vocabulary = model.decoders[task].vocabulary
                gold = codecs[task].to_tensor(
                    vocabulary, [targets[task][i] for i in batch], num_words
                )
                found[task].add(logits[task], mask, gold)
    return found


def dev_sources(
    root: Path,
    datasets: dict[str, Any],
    dev_files: Sequence[str] | None,
    dataset: str | None,
    has_probabilities: Callable[[str], bool],
) -> dict[str, tuple[list[str], int]]:
    """Which files to fit on, by dataset: ``dev_files`` for ``dataset`` (needed when the model
    has several datasets with probability-giving tasks), else every dataset's
    ``dev_data_path``, cut to its ``max_dev_sents`` as training does."""
    if dataset is not None and dataset not in datasets:
        raise ConfigError(
            f"--dataset {dataset}: unknown dataset; this model knows: {', '.join(datasets)}"
        )
    if dev_files:
        if dataset is None:
            candidates = [n for n in datasets if has_probabilities(n)] or list(datasets)
            if len(candidates) > 1:
                raise ConfigError(
                    f"this model has several datasets ({', '.join(candidates)}); choose the dev "
                    "files' format and tasks with --dataset NAME"
                )
            dataset = candidates[0]
        return {dataset: ([os.path.abspath(p) for p in dev_files], -1)}
    sources = {}
    for name, config in datasets.items():
        if (dataset is None or name == dataset) and config.get("dev_data_path"):
            paths = config["dev_data_path"]
            paths = paths if isinstance(paths, list) else [paths]
            sources[name] = (list(paths), int(config.get("max_dev_sents", -1)))
    if not sources:
        which = f"dataset {dataset!r} has" if dataset else "no dataset of this model has a"
        raise ConfigError(
            f"{root}: {which} dev_data_path; pass the dev file(s) with --dev FILE "
            "(and --dataset NAME)"
        )
    return sources
