"""The data side of a run: each dataset's train and dev sentences with what every task learns
from them (the codec's targets), their encodings, and the label vocabularies built from the
training targets. Nothing here knows a task type by name: each task's label codec decides."""

from __future__ import annotations

import logging
import time
import warnings
import zlib
from collections import Counter
from typing import Any

import torch

from ..data.dataset import read_dataset_file
from ..data.masking import MaskingVocabulary
from ..data.sentence import Sentence
from ..data.tokenization import EncodedSentence, subword_view
from ..data.vocabulary import LabelVocabulary
from ..decoders.codecs import IGNORE, LabelCodec, codec_for
from ..model import TaskSpec
from ..predict import encode_sentences

logger = logging.getLogger("machamp_lite")


class DatasetSplit:
    """The sentences of one dataset's train (or dev) files, with each task's targets and,
    once ``encode_splits`` ran, their encodings and model input lengths."""

    def __init__(
        self,
        name: str,
        path: str,
        sentences: list[Sentence],
        tasks: list[str],
        task_types: dict[str, str],
        dev: bool = False,
    ):
        self.name = name
        self.dev = dev
        self.path = path
        self.sentences = sentences
        self.tasks = tasks
        self.codecs: dict[str, LabelCodec] = {task: codec_for(task_types[task]) for task in tasks}
        self.encoded: list[EncodedSentence] = []
        self.lengths: list[int] = []
        # The ids that masked language modelling hides and draws, for a split of a task whose
        # codec corrupts its input (set by ``encode_splits``, while the tokenizer is loaded).
        self.masking: MaskingVocabulary | None = None
        self.targets: dict[str, list[Any]] = {
            task: [self.codecs[task].gold_to_targets(s.words, s.labels[task]) for s in sentences]
            for task in tasks
        }


def _paths(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def read_splits(datasets: dict[str, Any]) -> tuple[list[DatasetSplit], list[DatasetSplit]]:
    """Every dataset's train split, and the dev splits of those that have dev files."""
    train, dev = [], []
    for name, dataset in datasets.items():
        tasks = list(dataset["tasks"])
        task_types = {task: spec["task_type"] for task, spec in dataset["tasks"].items()}
        paths = _paths(dataset["train_data_path"])
        sentences = [s for path in paths for s in read_dataset_file(dataset, path)]
        train.append(DatasetSplit(name, ", ".join(paths), sentences, tasks, task_types))
        if dataset.get("dev_data_path"):
            paths = _paths(dataset["dev_data_path"])
            limit = dataset.get("max_dev_sents", -1)
            sentences = [s for path in paths for s in read_dataset_file(dataset, path, limit=limit)]
            dev.append(DatasetSplit(name, ", ".join(paths), sentences, tasks, task_types, True))
    return train, dev


def encode_splits(encoder, splits: list[DatasetSplit]) -> None:
    """Encode every sentence once, before training: the tokenizer can then be released."""
    started = time.time()
    for split in splits:
        split.encoded = encode_sentences(encoder, split.sentences)
        prepare_hidden_tokens(encoder, split)
        split.lengths = [encoder.input_length(e) for e in split.encoded]
    logger.info(
        "tokenized %d sentences in %.1fs",
        sum(len(s.sentences) for s in splits),
        time.time() - started,
    )


def prepare_hidden_tokens(encoder, split: DatasetSplit) -> None:
    """For a split of a task that predicts subwords (its codec's ``subword_view``: masked
    language modelling), every subword becomes a "word", and a codec that corrupts its input
    gets the tokenizer's ids for it. A dev split is corrupted here, once, with a generator
    seeded from the run's seed and the dataset's name: the same tokens are hidden after every
    epoch, so its perplexities compare across epochs (and across resumed runs)."""
    codecs = [split.codecs[task] for task in split.tasks]
    if any(getattr(codec, "subword_view", False) for codec in codecs):
        split.encoded = [subword_view(e) for e in split.encoded]
    corrupting = [codec for codec in codecs if hasattr(codec, "corrupt")]
    if not corrupting:
        return
    model_size = getattr(encoder.transformer.config, "vocab_size", None)
    split.masking = MaskingVocabulary.from_tokenizer(encoder.tokenizer, model_size)
    if split.dev:
        generator = torch.Generator().manual_seed(
            (torch.initial_seed() + zlib.crc32(split.name.encode())) % 2**63
        )
        for codec in corrupting:
            split.encoded = codec.corrupt(split.encoded, split.masking, generator)
        hidden = sum(t != IGNORE for e in split.encoded for t in e.masked_targets or [])
        logger.info("%s: %d dev subwords hidden for masked language modelling", split.name, hidden)


def build_vocabularies(
    tasks: dict[str, TaskSpec], train: list[DatasetSplit]
) -> dict[str, LabelVocabulary]:
    """Each task's label vocabulary from the training targets, as its codec builds it."""
    counts: dict[str, Counter] = {name: Counter() for name in tasks}
    for split in train:
        for task in split.tasks:
            for value in split.targets[task]:
                counts[task].update(split.codecs[task].vocabulary_items(value))
    return {
        name: codec_for(spec.task_type).build_vocabulary(counts[name])
        for name, spec in tasks.items()
    }


def warn_unseen_labels(dev: list[DatasetSplit], vocabularies: dict[str, LabelVocabulary]) -> None:
    """Dev labels never seen in training cannot be predicted: they are scored as wrong."""
    for split in dev:
        for task in split.tasks:
            unseen: Counter = Counter()
            for value in split.targets[task]:
                for label in split.codecs[task].vocabulary_items(value):
                    if label not in vocabularies[task]:
                        unseen[label] += 1
            if unseen:
                message = (
                    f"{split.path}: task {task!r} has labels never seen in training, "
                    f"scored as wrong: {dict(unseen.most_common(5))}"
                )
                logger.warning(message)
                warnings.warn(message, stacklevel=2)
