"""Diverse batches (batching.diverse, MaChAmp's name): one batch holds sentences of datasets
whose tasks differ, so each task's gold covers only the rows that carry it, the model is told
which rows those are, and losses, training scores and error messages follow the rows."""

from __future__ import annotations

import inspect
import json
import math

import pytest
import torch

from machamp_lite.config import load_params
from machamp_lite.model import MultiTaskModel
from machamp_lite.training.batches import non_finite_error, out_of_memory_error, prepare_batch
from machamp_lite.training.trainer import Trainer

from conftest import DEMO, build_trainer, write

NER, AUX = "multiconer_demo", "aux_demo"
MODEL_TAKES_TASK_ROWS = "task_rows" in inspect.signature(MultiTaskModel.forward).parameters


def make_trainer(tmp_path, model_path, *overrides: str) -> Trainer:
    """The two demo datasets (tasks ner and aux_ner) on the tiny BERT."""
    dataset = write(
        tmp_path / "data.json",
        json.dumps(
            {
                NER: {
                    "train_data_path": str(DEMO / "multiconer_demo_train.conll"),
                    "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
                },
                AUX: {
                    "train_data_path": str(DEMO / "aux_ner_train.tsv"),
                    "separator": "tab",
                    "tasks": {"aux_ner": {"task_type": "seq_bio", "column_idx": 1}},
                },
            }
        ),
    )
    params = load_params(
        None,
        [
            f"transformer_model={model_path}",
            "encoder.max_input_length=64",
            "training.num_epochs=2",
            "training.optimizer.lr=0.001",
            "training.optimizer.decoder_lr=0.01",
            *overrides,
        ],
    )
    return build_trainer(dataset, params, tmp_path)


def expected_gold(trainer: Trainer, dataset: str, task: str, indices, num_words: int):
    split = trainer.train_splits[dataset]
    vocabulary = trainer.model.decoders[task].vocabulary
    targets = [split.targets[task][i] for i in indices]
    return split.codecs[task].to_tensor(vocabulary, targets, num_words)


def test_a_mixed_batch_gives_each_task_gold_over_its_own_rows(tmp_path, tiny_model):
    trainer = make_trainer(tmp_path, tiny_model)
    batch = [(NER, 4), (AUX, 3), (NER, 9), (AUX, 7), (AUX, 1)]
    prepared = prepare_batch(trainer.model, trainer.train_splits, batch, 1024, trainer.device)
    # rows grouped by dataset, in order of first appearance
    assert [(split.name, indices) for split, indices in prepared.parts] == [
        (NER, [4, 9]),
        (AUX, [3, 7, 1]),
    ]
    assert len(prepared) == 5 and prepared.inputs["word_mask"].shape[0] == 5
    assert prepared.task_rows is not None
    assert {t: r.tolist() for t, r in prepared.task_rows.items()} == {
        "ner": [0, 1],
        "aux_ner": [2, 3, 4],
    }
    assert prepared.task_sentences == {"ner": 2, "aux_ner": 3}
    width = prepared.inputs["word_mask"].shape[1]
    assert torch.equal(prepared.gold["ner"], expected_gold(trainer, NER, "ner", [4, 9], width))
    assert torch.equal(
        prepared.gold["aux_ner"], expected_gold(trainer, AUX, "aux_ner", [3, 7, 1], width)
    )
    # the rows are the sentences of the parts, in that order
    mixed = prepared.inputs["word_mask"].sum(1).tolist()
    words = [len(trainer.train_splits[NER].sentences[i].words) for i in (4, 9)]
    words += [len(trainer.train_splits[AUX].sentences[i].words) for i in (3, 7, 1)]
    assert mixed == words


def test_a_batch_of_one_dataset_passes_no_task_rows_and_the_same_inputs(tmp_path, tiny_model):
    trainer = make_trainer(tmp_path, tiny_model)
    indices = [5, 2, 8]
    prepared = prepare_batch(
        trainer.model, trainer.train_splits, [(AUX, i) for i in indices], 1024, trainer.device
    )
    assert prepared.task_rows is None and list(prepared.gold) == ["aux_ner"]
    split = trainer.train_splits[AUX]
    direct = trainer.model.encoder.collate([split.encoded[i] for i in indices], 1024)
    for key, value in direct.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(prepared.inputs[key], value), key
    width = direct["word_mask"].shape[1]
    assert torch.equal(
        prepared.gold["aux_ner"], expected_gold(trainer, AUX, "aux_ner", indices, width)
    )


def test_error_messages_name_every_dataset_of_a_mixed_batch(tmp_path, tiny_model):
    trainer = make_trainer(tmp_path, tiny_model)
    batch = [(NER, 0), (AUX, 0)]
    prepared = prepare_batch(trainer.model, trainer.train_splits, batch, 1024, trainer.device)
    error = str(non_finite_error(torch.tensor(float("nan")), prepared, "nothing was saved"))
    assert f"on a batch of datasets '{NER}', '{AUX}' (sentences {NER}:" in error
    assert f", {AUX}:line 1)" in error
    assert str(error).startswith(
        f"{trainer.train_splits[NER].path}, {trainer.train_splits[AUX].path}: "
    )
    memory = str(out_of_memory_error(prepared, trainer.device, trainer.batching))
    assert f"in a training batch of datasets '{NER}', '{AUX}': 2 sentences" in memory
    single = prepare_batch(trainer.model, trainer.train_splits, [(NER, 0)], 1024, trainer.device)
    assert f"on a batch of dataset '{NER}' (sentences " in str(
        non_finite_error(torch.tensor(float("inf")), single, "kept")
    )


def test_the_trainer_reads_the_batching_switches(tmp_path, tiny_model):
    fixed = make_trainer(
        tmp_path, tiny_model, "batching.shuffle=false", "batching.sort_by_size=false"
    )
    assert (fixed.batching.shuffle, fixed.batching.sort_by_size) == (False, False)
    first, second = fixed._epoch_batches(), fixed._epoch_batches()
    assert first == second
    # unsorted and unshuffled: each dataset's sentences in file order, datasets interleaved
    for name, size in ((NER, 240), (AUX, 150)):
        assert [i for b in first for n, i in b if n == name] == list(range(size))
    assert {first[0][0][0], first[1][0][0]} == {NER, AUX}
    shuffled = make_trainer(tmp_path, tiny_model)
    assert shuffled._epoch_batches() != shuffled._epoch_batches()


@pytest.mark.skipif(not MODEL_TAKES_TASK_ROWS, reason="MultiTaskModel.forward has no task_rows")
def test_diverse_training_mixes_datasets_and_trains_every_task(tmp_path, tiny_model):
    trainer = make_trainer(
        tmp_path,
        tiny_model,
        "batching.diverse=true",
        "batching.batch_size=16",
        "training.train_metrics=true",
        "training.accumulation_steps=2",
    )
    seen: dict[int, list[list[tuple[str, int]]]] = {1: [], 2: []}
    compute = trainer.compute_gradients

    def recording(group):
        seen[trainer.completed_epochs + 1].extend(group)
        return compute(group)

    trainer.compute_gradients = recording  # type: ignore[method-assign]
    before = {n: p.detach().clone() for n, p in trainer.model.decoders.named_parameters()}
    history = trainer.fit()
    assert [record["epoch"] for record in history] == [1, 2]
    sizes = {NER: 240, AUX: 150}
    batches = seen[1] + seen[2]
    mixed = [b for b in batches if len({name for name, _ in b}) > 1]
    assert len(mixed) > len(batches) // 2, "diverse batches should mostly mix the datasets"
    for epoch, record in enumerate(history, start=1):
        assert record["train_sentences"] == sum(sizes.values())
        losses = record["train_loss_per_task"]
        assert set(losses) == {"ner", "aux_ner"}
        assert all(math.isfinite(v) and v > 0 for v in losses.values())
        assert set(record["train"]) == {f"{NER}/ner", f"{AUX}/aux_ner"}
        items = sorted(item for batch in seen[epoch] for item in batch)
        assert items == sorted((n, i) for n, size in sizes.items() for i in range(size))
    after = dict(trainer.model.decoders.named_parameters())
    for task in ("ner", "aux_ner"):  # both decoders learned from the mixed batches
        changed = [
            n for n in before if n.startswith(task + ".") and not torch.equal(before[n], after[n])
        ]
        assert changed, task
