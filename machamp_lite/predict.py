"""Prediction: the shared batched inference used for dev scoring during training, and the
``Predictor`` that loads an archive and labels files or word lists."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from tqdm import tqdm

from .concurrent_batches import concurrency_of, map_batches
from .data.batching import make_batches
from .data.context import encode_sentences as encode_sentences
from .data.context_sources import attach_all, sentences_with_context
from .data.dataset import make_reader, read_dataset_file, task_columns
from .data.sentence import Sentence
from .data.text import EncodingError, check_encoding_option
from .data.tokenization import EncodedSentence
from .data.writers import (
    check_not_input,
    write_labels_only,
    write_predictions,
    write_predictions_streaming,
    write_token_label,
)
from .decoders.base import Decoder
from .devices import move, resolve_device
from .errors import ConfigError, DataError
from .model import MultiTaskModel
from .precision import autocast, check_precision, resolve_precision, slow_precision_note
from .prediction_confidence import (
    ConfidenceOptions,
    ConfidencePlan,
    confidence_plan,
    probability_tasks,
)
from .prediction_inputs import first_lines, iter_raw_text
from .segmented_text import segmentation_task, segmented_prediction, word_datasets

logger = logging.getLogger(__name__)


@torch.inference_mode()
def predict_encoded(
    model: MultiTaskModel,
    encoded: Sequence[EncodedSentence],
    tasks: Sequence[str],
    batch_size: int,
    max_tokens: int,
    device: torch.device | str = "cpu",
    words: Sequence[Sequence[str]] | None = None,
    dataset: str | None = None,
    confidence: ConfidenceOptions | None = None,
    precision: str = "fp32",
) -> dict[str, list[Any]]:
    """Predictions for every sentence, in input order, for each of ``tasks``. With ``words``,
    each decoder's ``targets_to_labels`` turns its targets back into labels. ``dataset`` names
    the dataset the sentences belong to, for a model with dataset embeddings. With
    ``confidence``, a task that gives probabilities predicts its ``confidences`` dicts.
    ``precision`` bf16 or fp16 runs the forward passes under autocast (precision.py)."""
    model.eval()
    device = torch.device(device)
    encoder = model.encoder
    lengths = [encoder.input_length(e) for e in encoded]
    results: dict[str, list[Any]] = {t: [None] * len(encoded) for t in tasks}
    dataset_id = None
    if dataset is not None and getattr(model, "needs_dataset_ids", False):
        dataset_id = model.dataset_index(dataset)

    def label(batch: list[int]) -> dict[str, list[Any]]:
        # A sentence longer than max_tokens is a batch of its own; the encoder then runs its
        # windows in chunks within the same budget.
        inputs = encoder.collate([encoded[i] for i in batch], max_tokens)
        if dataset_id is not None:
            inputs["dataset_ids"] = torch.full((len(batch),), dataset_id, dtype=torch.long)
        with autocast(precision, device):
            if confidence is None:
                return model.predict(move(inputs, device), tasks)
            return model.predict_confidences(
                move(inputs, device),
                tasks,
                {t: confidence.temperature(t) for t in tasks},
                {t: confidence.topn_for(t) for t in tasks},
                confidence.min_confidence,
            )

    batches = make_batches(lengths, batch_size, max_tokens)
    for batch, predicted in map_batches(label, batches, concurrency_of(model)):
        for task, values in predicted.items():
            for index, value in zip(batch, values):
                results[task][index] = value
    if words is not None:
        for task in tasks:
            restore = cast(Decoder, model.decoders[task]).codec.targets_to_labels
            results[task] = [
                r if isinstance(r, dict) else restore(list(w), r)  # dicts hold labels already
                for w, r in zip(words, results[task])
            ]
    return results


class Predictor:
    """A trained model ready to label text: ``Predictor.load(path).predict([["a", "b"]])``."""

    def __init__(
        self,
        model: MultiTaskModel,
        params: dict,
        datasets: dict,
        device="cpu",
        temperatures: dict[str, float] | None = None,
        precision: str = "fp32",
    ):
        self.model = model
        self.params = params
        self.datasets = datasets
        self.device = torch.device(device)
        # Per task, the temperature fitted on dev data (calibration.py); 1 where none was.
        self.temperatures = dict(temperatures or {})
        self.precision = resolve_precision(precision, self.device)

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str | None = None,
        allow_plugins: Iterable[str] = (),
        backend: str = "torch",
        onnx_graph: str | None = None,
        precision: str = "auto",
    ) -> Predictor:
        """Load a model folder. Plugin modules that its configs name are imported only if
        ``allow_plugins`` lists them (or they are imported already): importing runs code.
        ``backend="onnx"``: ``path`` is an ONNX export folder run by onnxruntime
        (onnx_backend.py), ``onnx_graph`` its ``fp32`` (default) or ``int8`` graph.
        ``precision`` (torch only): ``fp32``, ``bf16``/``fp16`` autocast, or ``auto`` (the
        default): bf16 where the device computes it itself, else fp32 (precision.py)."""
        from .archive import load_archive
        from .calibration import read_calibration
        from .onnx_backend import check_backend_folder, load_onnx

        if check_precision(precision) not in ("fp32", "auto") and backend != "torch":
            raise ConfigError(
                f"--precision {precision} is for --backend torch; choose the "
                "onnx precision with --onnx_graph (fp32 or int8)"
            )
        check_backend_folder(path, backend)
        if onnx_graph is not None and backend != "onnx":
            raise ConfigError("an onnx graph (--onnx_graph) is chosen with --backend onnx only")
        if backend == "onnx":
            onnx_model, params, datasets = load_onnx(path, device, onnx_graph)
            return cls(cast(MultiTaskModel, onnx_model), params, datasets, "cpu")
        device = str(resolve_device(device))
        model, params, datasets, _, _ = load_archive(path, device, allow_plugins)
        if note := slow_precision_note(
            resolve_precision(precision, torch.device(device)), torch.device(device)
        ):
            logger.warning(note)
        return cls(model, params, datasets, device, read_calibration(Path(path)), precision)

    def dataset(self, name: str | None) -> dict:
        """The config of dataset ``name`` (None: the model's only dataset, or its only one
        whose tasks write labels), refused when its tasks write none (masked language
        modelling)."""
        from .data.raw_lines import labelling_datasets, refuse_unlabelled_prediction

        labelling = labelling_datasets(self.datasets)
        if name is None and len(labelling) == 1:  # beside datasets that write nothing (mlm)
            name = labelling[0]
        config = self._dataset(name)
        refuse_unlabelled_prediction(config, self.datasets)
        return config

    def _dataset(self, name: str | None) -> dict:
        if name is None:
            if len(self.datasets) == 1:
                return next(iter(self.datasets.values()))
            if segmentation_task(self.datasets) and len(word_datasets(self.datasets)) == 1:
                return self.datasets[word_datasets(self.datasets)[0]]  # beside its tok task
            raise ConfigError(
                f"this model was trained on several datasets ({', '.join(self.datasets)}); "
                "choose the input's format and tasks with --dataset NAME"
            )
        if name not in self.datasets:
            raise ConfigError(
                f"unknown dataset {name!r}; this model knows: {', '.join(self.datasets)}"
            )
        return self.datasets[name]

    def _batch_settings(self) -> tuple[int, int]:
        settings = self.params.get("prediction", {})
        return int(settings.get("batch_size", 64)), int(settings.get("max_tokens", 4096))

    def predict(
        self,
        sentences: Sequence[Sequence[str]],
        dataset: str | None = None,
        contexts: Sequence[Sequence[str] | None] | None = None,
    ) -> list[dict]:
        """Labels for pre-split sentences: one ``{task: labels}`` dict per sentence.
        ``contexts[i]``: words the encoder reads after sentence i but does not label."""
        config = self.dataset(dataset)
        tasks = list(config["tasks"])
        sentence_list = sentences_with_context(config, sentences, contexts)
        words = [s.words for s in sentence_list]
        encoded = encode_sentences(self.model.encoder, sentence_list)
        predicted = predict_encoded(
            self.model,
            encoded,
            tasks,
            *self._batch_settings(),
            self.device,
            words,
            config["name"],
            precision=self.precision,
        )
        return [{t: predicted[t][i] for t in tasks} for i in range(len(sentences))]

    def confidences(
        self,
        sentences: Sequence[Sequence[str]],
        dataset: str | None = None,
        topn: int | None = None,
        min_confidence: float | None = None,
        calibrated: bool = True,
        contexts: Sequence[Sequence[str] | None] | None = None,
    ) -> list[dict]:
        """Predictions with probabilities for pre-split sentences: per sentence ``{task:
        result}``, where a task that gives probabilities has the dict that ``predict
        --probabilities`` writes (decoders/confidence.py: labels, each word's probability,
        entities with theirs, with ``topn`` the n best) and other tasks their labels.
        ``calibrated`` uses the temperatures fitted after training (else 1). ``topn`` None
        takes each task's dataset-config ``topn`` (default 1); ``contexts`` as in ``predict``."""
        config = self.dataset(dataset)
        options = self._confidence_options(config, topn, min_confidence, calibrated)
        tasks = list(config["tasks"])
        if refusal := getattr(self.model, "refuses_confidences", None):  # the onnx backend
            raise ConfigError(refusal)
        probability_tasks(self.model.decoders, tasks, options)
        sentence_list = sentences_with_context(config, sentences, contexts)
        words = [s.words for s in sentence_list]
        encoded = encode_sentences(self.model.encoder, sentence_list)
        predicted = predict_encoded(
            self.model,
            encoded,
            tasks,
            *self._batch_settings(),
            self.device,
            words,
            config["name"],
            options,
            self.precision,
        )
        return [{t: predicted[t][i] for t in tasks} for i in range(len(sentences))]

    def _confidence_options(
        self, config: dict, topn: int | None, min_confidence: float | None, calibrated: bool
    ) -> ConfidenceOptions:
        task_topn = {t: task.get("topn", 1) for t, task in config["tasks"].items()}
        return ConfidenceOptions(
            topn, min_confidence, bool(calibrated), self.temperatures, task_topn
        )

    def predict_sentences(
        self,
        sentences: Sequence[Sentence],
        tasks: Sequence[str],
        dataset: str | None = None,
        confidence: ConfidenceOptions | None = None,
    ) -> dict:
        """Predictions of ``tasks`` for sentences of ``dataset`` (see ``predict_encoded``)."""
        words = [s.words for s in sentences]
        encoded = encode_sentences(self.model.encoder, sentences)
        return predict_encoded(
            self.model,
            encoded,
            tasks,
            *self._batch_settings(),
            self.device,
            words,
            dataset,
            confidence,
            self.precision,
        )

    def _predict_file_streaming(
        self,
        config: dict,
        input_path: str,
        output_path: str,
        tasks: list[str],
        sentences: Iterator[Sentence],
        labels_only: bool,
        raw_text: bool,
        plan: ConfidencePlan | None = None,
    ) -> int:
        """Predict and write ``sentences`` in chunks of ``prediction.chunk_sentences``, so a
        file of any size is labelled in bounded memory; the output appears atomically at the
        end. Returns the number of sentences."""
        size = int(self.params.get("prediction", {}).get("chunk_sentences", 4096))
        progress = tqdm(desc=Path(input_path).name, unit=" sentences", disable=None)
        count = 0

        def chunks() -> Iterator[tuple[list[Sentence], dict]]:
            nonlocal count
            while chunk := list(itertools.islice(sentences, size)):
                options = None if plan is None else plan.options
                predicted = self.predict_sentences(chunk, tasks, config["name"], options)
                if plan is not None:
                    predicted = plan.apply(predicted, chunk)
                count += len(chunk)
                progress.update(len(chunk))
                yield chunk, predicted

        try:
            if raw_text or labels_only:
                pairs = ((s, p[tasks[0]][i]) for chunk, p in chunks() for i, s in enumerate(chunk))
                if labels_only:
                    write_labels_only(output_path, (), (labels for _, labels in pairs))
                else:
                    left, right = itertools.tee(pairs)
                    write_token_label(output_path, (s for s, _ in left), (lab for _, lab in right))
            else:
                write_predictions_streaming(config, input_path, output_path, chunks())
        finally:
            progress.close()
        return count

    def predict_file(
        self,
        input_path: str,
        output_path: str,
        dataset: str | None = None,
        labels_only: bool = False,
        raw_text: bool = False,
        encoding: str | None = None,
        max_sents: int | None = None,
        probabilities: str | bool | None = None,
        topn: int | None = None,
        min_confidence: float | None = None,
        calibrated: bool = True,
    ) -> int:
        """Label a file; returns the number of sentences. The output is written atomically, in
        the input's encoding: ``encoding`` (``--encoding``) when given, else the dataset
        config's. A file that is not text in it is reported with ``--encoding`` advice.
        ``max_sents`` (MaChAmp's): only the first N sentences are read, predicted and written.
        ``probabilities`` (True: ``OUTPUT.probabilities.jsonl``, or a path) writes the side
        file, ``topn`` top-n cells, ``min_confidence`` drops uncertain entities
        (prediction_confidence.py); ``calibrated`` False ignores the fitted temperatures."""
        if max_sents is not None and (isinstance(max_sents, bool) or max_sents < 1):
            raise ConfigError(f"--max_sents {max_sents}: must be at least 1 (or left out: all)")
        config = self.dataset(dataset)
        if encoding is not None:
            check_encoding_option(encoding, ConfigError)
            config = {**config, "encoding": encoding}
        plan = None
        options = self._confidence_options(config, topn, min_confidence, calibrated)
        if probabilities or options.largest_topn > 1 or min_confidence is not None:
            plan = confidence_plan(
                self.model, self.datasets, config, (input_path, output_path), probabilities, options
            )
        try:
            count = self._predict_file(
                config, input_path, output_path, labels_only, raw_text, max_sents, plan
            )
        except EncodingError as error:
            if plan is not None:
                plan.discard()
            raise error.for_option("--encoding") from None
        except BaseException:
            if plan is not None:
                plan.discard()
            raise
        if plan is not None:
            plan.commit()
        return count

    def _predict_file(
        self,
        config: dict,
        input_path: str,
        output_path: str,
        labels_only: bool,
        raw_text: bool,
        max_sents: int | None = None,
        plan: ConfidencePlan | None = None,
    ) -> int:
        if Path(output_path).is_dir():
            raise DataError("is a directory; give the output a file name", output_path)
        if Path(output_path).exists():
            check_not_input(input_path, output_path)
        segmented = segmented_prediction(
            self, config, input_path, output_path, raw_text, labels_only, max_sents
        )
        if segmented is not None:  # a model with a tok task: raw text is segmented first
            return segmented
        columns = task_columns(config)
        token_tasks = [c.name for c in columns if c.level == "token"]
        tasks = list(config["tasks"])
        stream: Iterator[Sentence] | None = None
        if token_tasks and token_tasks == tasks:
            # Streamed when the input is read as it is consumed: raw text, or a reader that
            # streams; other readers read the whole file.
            if raw_text:
                stream = iter_raw_text(input_path, config.get("encoding", "utf-8"))
            else:
                reader = make_reader(config, input_path)
                stream = reader.iter_read(input_path, columns, False) if reader.streams else None
            if stream is not None and max_sents:
                stream = itertools.islice(stream, max_sents)
            streams = raw_text or labels_only or not max_sents
            if stream is not None and streams and not config.get("context"):
                return self._predict_file_streaming(
                    config, input_path, output_path, tasks, stream, labels_only, raw_text, plan
                )
        if stream is not None:  # the first max_sents sentences, or all with context
            sentences = list(stream)
            attach_all(config, sentences)
        else:
            limit = max_sents or -1
            sentences = read_dataset_file(config, input_path, require_labels=False, limit=limit)
        options = None if plan is None else plan.options
        predicted = self.predict_sentences(sentences, tasks, config["name"], options)
        if plan is not None:
            predicted = plan.apply(predicted, sentences)
        if raw_text or labels_only:
            if not token_tasks:
                raise ConfigError("--raw_text and --labels_only need a token-level task")
            writer = write_token_label if raw_text else write_labels_only
            writer(output_path, sentences, predicted[token_tasks[0]])
        elif max_sents and sentences:
            last = sentences[-1].line_numbers[-1]
            with first_lines(input_path, config.get("encoding", "utf-8"), last) as source:
                write_predictions(config, source, output_path, sentences, predicted)
        else:
            write_predictions(config, input_path, output_path, sentences, predicted)
        return len(sentences)
