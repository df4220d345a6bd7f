"""``multiclas``: a set of labels per sentence. Loss and decoding checked against numbers worked
out by hand, the threshold's edges, the codec's checks, the sentence-level exact-set metric,
and reading and writing the labels in sentence TSV files and in ``# task: a|b`` comments."""

from __future__ import annotations

import json
import math

import pytest
import torch

from machamp_lite.config import load_configs
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.data.writers import write_predictions
from machamp_lite.decoders.multiclas import MultiLabelClassifier
from machamp_lite.errors import ConfigError, DataError
from machamp_lite.metrics.task_scores import score_task

from conftest import write


def classifier(threshold: float = 0.7) -> MultiLabelClassifier:
    """Two labels, a projection that passes the first position's two numbers through as the
    two logits, so that each test sets the logits it wants."""
    decoder = MultiLabelClassifier(2, LabelVocabulary(["goodbye", "negative"]), threshold=threshold)
    with torch.no_grad():
        decoder.projection.weight.copy_(torch.eye(2))
        decoder.projection.bias.zero_()
    return decoder.eval()


def first_positions(*logits: tuple[float, float], words: int = 3) -> torch.Tensor:
    """``[sentences, words, 2]`` vectors whose first word holds ``logits``; the other words hold
    large numbers that a decoder reading them would notice."""
    vectors = torch.full((len(logits), words, 2), 50.0)
    vectors[:, 0] = torch.tensor(logits)
    return vectors


def test_the_loss_is_binary_cross_entropy_summed_over_labels_and_averaged_over_sentences():
    decoder = classifier()
    vectors = first_positions((2.0, -1.0), (0.0, 0.0))
    mask = torch.tensor([[True, True, True], [True, False, False]])
    gold = decoder.codec.to_tensor(decoder.vocabulary, [["goodbye"], ["goodbye", "negative"]], 3)
    assert gold.tolist() == [[1.0, 0.0], [1.0, 1.0]]
    # Sentence 1: -log sigmoid(2) - log(1 - sigmoid(-1)) = log(1 + e^-2) + log(1 + e^-1).
    first = math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))  # 0.126928 + 0.313262
    second = 2 * math.log(2)  # both logits 0: -log 0.5 twice
    assert decoder.loss(vectors, mask, gold).item() == pytest.approx((first + second) / 2, 1e-6)


def test_only_the_first_position_counts_so_padding_and_later_words_change_nothing():
    decoder = classifier()
    gold = decoder.codec.to_tensor(decoder.vocabulary, [["negative"]], 3)
    short = first_positions((1.0, 2.0), words=1)
    padded = first_positions((1.0, 2.0), words=4)
    padded[:, 1:] = torch.randn(1, 3, 2) * 100
    mask = torch.tensor([[True, False, False, False]])
    assert torch.allclose(
        decoder.loss(short, torch.ones(1, 1, dtype=torch.bool), gold),
        decoder.loss(padded, mask, gold),
    )
    assert decoder.decode(padded, mask) == decoder.decode(short, mask[:, :1])


def test_decoding_keeps_the_labels_strictly_above_the_threshold_in_canonical_order():
    decoder = classifier(threshold=0.7)
    # sigmoid(log(7/3)) is exactly 0.7 in real numbers: at the threshold is not above it.
    at = math.log(0.7 / 0.3)
    vectors = first_positions((3.0, 3.0), (3.0, -3.0), (-3.0, -3.0), (at - 1e-3, at + 1e-3))
    mask = torch.ones(4, 3, dtype=torch.bool)
    assert decoder.decode(vectors, mask) == ["goodbye|negative", "goodbye", "_", "negative"]
    # Exactly at the threshold in float32 (sigmoid(0) is 0.5): not above it, as in MaChAmp.
    half = classifier(threshold=0.5)
    assert half.decode(first_positions((0.0, 1e-3)), mask[:1]) == ["negative"]


def test_threshold_zero_predicts_every_label_and_one_or_more_is_refused():
    everything = classifier(threshold=0.0)
    vectors = first_positions((-20.0, -5.0))
    assert everything.decode(vectors, torch.ones(1, 3, dtype=torch.bool)) == ["goodbye|negative"]
    for bad in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="threshold"):
            classifier(threshold=bad)


def test_the_threshold_range_is_checked_when_the_config_is_read(tmp_path):
    data = write(tmp_path / "train.tsv", "hello there\tgoodbye\n")
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(data),
                    "tasks": {"tags": {"task_type": "multiclas", "column_idx": 1, "threshold": 1}},
                }
            }
        ),
    )
    with pytest.raises(ConfigError) as error:
        load_configs([str(config)], None)
    assert "threshold" in str(error.value) and "d.json" in str(error.value)


def test_the_codec_reads_sets_in_canonical_order_and_refuses_malformed_sets():
    codec = MultiLabelClassifier.codec
    assert codec.level == "sentence"
    assert codec.normalise("negative|goodbye") == ("goodbye|negative", 1)
    assert codec.normalise("b|a|b") == ("a|b", 1)
    assert codec.normalise("_") == ("_", 0)
    assert codec.gold_to_targets([], "a|b") == ["a", "b"]
    assert codec.gold_to_targets([], "_") == []
    assert codec.targets_to_labels([], []) == "_"
    for bad in ("", "a||b", "|a", "_|a"):
        assert codec.validate(bad) is not None, bad
    vocabulary = LabelVocabulary(["a", "b"])
    # A label unseen in training has no logit: it is left out of the multi-hot row.
    assert codec.to_tensor(vocabulary, [["b", "unseen"], []], 4).tolist() == [[0, 1], [0, 0]]


def test_multi_acc_scores_exact_sets_per_sentence():
    gold = ["a|b", "a", "_", "b"]
    predicted = ["a|b", "a|b", "_", "a"]
    result = score_task("multi_acc", ["multi_accuracy"], gold, predicted)
    assert result["score"] == result["accuracy"] == 0.5 and result["total"] == 4
    # Single labels: 3 right of 5 predicted and of 4 gold.
    assert result["micro_precision"] == pytest.approx(3 / 5)
    assert result["micro_recall"] == pytest.approx(3 / 4)
    assert result["additional_metrics"]["multi_accuracy"]["score"] == 0.5
    # Whole sets compared as labels: canonical order makes plain accuracy the same number.
    assert score_task("accuracy", [], gold, predicted)["score"] == 0.5


def tsv_dataset(tmp_path, text: str, **task) -> dict:
    data = write(tmp_path / "train.tsv", text)
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(data),
                    "sent_idxs": [0],
                    "tasks": {"tags": {"task_type": "multiclas", "column_idx": 1, **task}},
                }
            }
        ),
    )
    _, datasets = load_configs([str(config)], None)
    return datasets["d"]


def test_sentence_tsv_round_trip_with_the_empty_set_written_as_underscore(tmp_path):
    dataset = tsv_dataset(
        tmp_path, "Smell ya later\tnegative|goodbye\tx\nHi there\t_\ty\nBye now\tgoodbye\tz\n"
    )
    path = dataset["train_data_path"]
    sentences = read_dataset_file(dataset, path)
    assert [s.labels["tags"] for s in sentences] == ["goodbye|negative", "_", "goodbye"]
    output = tmp_path / "out.tsv"
    predicted = ["_", "goodbye|negative", "negative"]
    write_predictions(dataset, path, str(output), sentences, {"tags": predicted})
    lines = output.read_text().splitlines()
    assert lines == [
        "Smell ya later\t_\tx",
        "Hi there\tgoodbye|negative\ty",
        "Bye now\tnegative\tz",
    ]
    again = read_dataset_file(dataset, str(output))
    assert [s.labels["tags"] for s in again] == predicted


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        ("good\ta\nbad\ta||b\n", 2, 'empty label between "|"'),
        ("good\ta\nbad\t_|b\n", 2, "cannot be combined"),
        ("good\ta\nbad\t\n", 2, "empty"),
        ("good\ta\nbad\n", 2, "columns"),
    ],
)
def test_malformed_label_sets_fail_naming_the_file_and_line(tmp_path, text, line, expected):
    dataset = tsv_dataset(tmp_path, text)
    with pytest.raises(DataError) as error:
        read_dataset_file(dataset, dataset["train_data_path"])
    message = str(error.value)
    assert expected in message and f"train.tsv, line {line}" in message, message


def test_labels_in_comments_beside_a_word_task_read_and_write_back(tmp_path):
    text = (
        "# tags: negative|goodbye\nsmell O\nya O\nlater O\n\n"
        "# text = hi\n# tags = _\nhi O\nthere O\n\n"
    )
    data = write(tmp_path / "train.conll", text)
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(data),
                    "tasks": {
                        "slots": {"task_type": "seq", "column_idx": 1},
                        "tags": {"task_type": "multiclas", "column_idx": -1},
                    },
                }
            }
        ),
    )
    _, datasets = load_configs([str(config)], None)
    dataset = datasets["d"]
    sentences = read_dataset_file(dataset, str(data))
    assert [s.labels["tags"] for s in sentences] == ["goodbye|negative", "_"]
    output = tmp_path / "out.conll"
    write_predictions(
        dataset,
        str(data),
        str(output),
        sentences,
        {"tags": ["_", "goodbye"], "slots": [["O", "O", "O"], ["O", "O"]]},
    )
    assert output.read_text().splitlines()[0] == "# tags: _"
    assert "# tags = goodbye" in output.read_text().splitlines()
    assert [s.labels["tags"] for s in read_dataset_file(dataset, str(output))] == ["_", "goodbye"]
