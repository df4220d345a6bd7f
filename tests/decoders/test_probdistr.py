"""``probdistr``: a probability distribution per sentence from the columns of ``column_idxs``.
Loss and decoding against numbers worked out by hand, the codec's checks of each row, the
``column_idxs`` rules of the dataset config, reading and writing (columns in any order, not
adjacent), the distribution metrics, and MaChAmp's ``accuracy`` read as accuracy over the most
likely column."""

from __future__ import annotations

import json
import math

import pytest
import torch

from machamp_lite.config import load_configs
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.writers import write_predictions
from machamp_lite.decoders.probdistr import DistributionClassifier
from machamp_lite.errors import ConfigError, DataError
from machamp_lite.metrics.task_scores import score_task

from conftest import write


def decoder_of(columns: int = 2) -> DistributionClassifier:
    """A decoder whose logits are the first position's numbers, passed through unchanged."""
    vocabulary = DistributionClassifier.codec.build_vocabulary(
        {str(i): 1 for i in range(columns)}  # type: ignore[arg-type]
    )
    decoder = DistributionClassifier(columns, vocabulary)
    with torch.no_grad():
        decoder.projection.weight.copy_(torch.eye(columns))
        decoder.projection.bias.zero_()
    return decoder.eval()


def first_positions(*logits, words: int = 3) -> torch.Tensor:
    vectors = torch.full((len(logits), words, len(logits[0])), 30.0)
    vectors[:, 0] = torch.tensor(logits)
    return vectors


def test_the_loss_is_the_kl_divergence_per_sentence_averaged_over_sentences():
    decoder = decoder_of()
    # Logits 0 and log 3: the softmax is exactly [0.25, 0.75].
    vectors = first_positions((0.0, math.log(3)), (0.0, math.log(3)))
    mask = torch.tensor([[True, True, True], [True, False, False]])
    gold = decoder.codec.to_tensor(decoder.vocabulary, ["0.25\t0.75", "0.5\t0.5"], 3)
    # Sentence 1 is matched exactly (KL 0); sentence 2: 0.5 ln(0.5/0.25) + 0.5 ln(0.5/0.75).
    second = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)  # 0.143841
    assert decoder.loss(vectors, mask, gold).item() == pytest.approx(second / 2, abs=1e-6)
    alone = decoder.loss(vectors[:1], mask[:1], gold[:1])
    assert alone.item() == pytest.approx(0.0, abs=1e-6)


def test_a_gold_probability_of_zero_adds_nothing_and_later_words_are_not_read():
    decoder = decoder_of(3)
    vectors = first_positions((1.0, 1.0, -50.0), words=4)
    vectors[:, 1:] = torch.randn(1, 3, 3) * 100
    gold = decoder.codec.to_tensor(decoder.vocabulary, ["0.5\t0.5\t0"], 4)
    mask = torch.tensor([[True, False, False, False]])
    # The predicted third probability is ~e^-51 of the others; KL is ~0, not nan or inf.
    assert decoder.loss(vectors, mask, gold).item() == pytest.approx(0.0, abs=1e-6)


def test_decode_writes_probabilities_that_read_back_as_a_distribution():
    decoder = decoder_of()
    vectors = first_positions((0.0, math.log(3)), (0.0, 0.0), (0.0, 1.0))
    predicted = decoder.decode(vectors, torch.ones(3, 3, dtype=torch.bool))
    assert predicted[:2] == ["0.25\t0.75", "0.5\t0.5"]
    # sigmoid(1) = 0.7310586 to 6 significant digits.
    assert predicted[2] == "0.268941\t0.731059"
    assert all(decoder.codec.validate(label) is None for label in predicted)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("", "empty"),
        ("\t", "empty"),
        ("0.5\thalf", "is not a number"),
        ("1.2\t-0.2", "not a probability"),
        ("nan\t0.5", "not a probability"),
        ("inf\t0", "not a probability"),
        ("0.5\t0.4", "sum to 0.9"),
        ("0.7\t0.7", "sum to 1.4"),
    ],
)
def test_rows_that_are_not_distributions_are_refused(label, expected):
    problem = DistributionClassifier.codec.validate(label)
    assert problem is not None and expected in problem, problem


def test_rows_within_the_tolerance_are_accepted_and_renormalised_for_training():
    codec = DistributionClassifier.codec
    assert codec.validate("0.33\t0.33\t0.33") is None  # sums to 0.99
    assert codec.validate("0.995\t0.01") is None
    vocabulary = codec.build_vocabulary({"0": 1, "1": 1, "2": 1})  # type: ignore[arg-type]
    row = codec.to_tensor(vocabulary, ["0.33\t0.33\t0.33"], 1)[0]
    assert row.sum().item() == pytest.approx(1.0) and row.tolist() == pytest.approx([1 / 3] * 3)
    # Positions, sorted as numbers: the vocabulary of twelve columns ends with "11", not "9".
    twelve = codec.build_vocabulary({str(i): 1 for i in range(12)})  # type: ignore[arg-type]
    assert twelve.labels[-1] == "11" and twelve.labels[2] == "2"
    assert codec.vocabulary_items("0.2\t0.3\t0.5") == ["0", "1", "2"]


def dataset_config(tmp_path, text: str, task: dict, **dataset) -> dict:
    data = write(tmp_path / "train.tsv", text)
    config = write(
        tmp_path / "d.json",
        json.dumps(
            {
                "d": {
                    "train_data_path": str(data),
                    "sent_idxs": [0],
                    "tasks": {"gender": {"task_type": "probdistr", **task}},
                    **dataset,
                }
            }
        ),
    )
    return config


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", "must be a list of at least two distinct column numbers"),
        ([], "must be a list of at least two"),
        ([5], "must be a list of at least two"),
        ([1, "2"], 'got [1, "2"]'),
        ([1, 2.5], "got [1, 2.5]"),
        ([1, -2], "got [1, -2]"),
        ([1, 1], "got [1, 1]"),
        ([1, True], "got [1, true]"),
    ],
)
def test_bad_column_idxs_fail_naming_the_key_and_the_config(tmp_path, value, expected):
    config = dataset_config(tmp_path, "a\t0.5\t0.5\n", {"column_idxs": value})
    with pytest.raises(ConfigError) as error:
        load_configs([str(config)], None)
    message = str(error.value)
    assert "'column_idxs'" in message and expected in message and "d.json" in message, message


def test_column_idxs_is_required_and_column_idx_is_not_read_for_probdistr(tmp_path):
    config = dataset_config(tmp_path, "a\t0.5\t0.5\n", {})
    with pytest.raises(ConfigError, match="missing required key 'column_idxs'"):
        load_configs([str(config)], None)
    config = dataset_config(tmp_path, "a\t0.5\t0.5\n", {"column_idxs": [1, 2], "column_idx": 1})
    with pytest.raises(ConfigError, match="'column_idx' is not read by task type 'probdistr'"):
        load_configs([str(config)], None)


def test_column_idxs_stays_a_misspelling_for_every_other_task_type(tmp_path):
    data = write(tmp_path / "train.tsv", "a\tb\n")
    config = write(
        tmp_path / "c.json",
        json.dumps(
            {
                "c": {
                    "train_data_path": str(data),
                    "tasks": {"t": {"task_type": "classification", "column_idxs": [1]}},
                }
            }
        ),
    )
    with pytest.raises(ConfigError, match="unknown key 'column_idxs'; did you mean 'column_idx'"):
        load_configs([str(config)], None)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("b\tx\t0.5", "expected at least 4 tab-separated columns"),
        ("b\tx\t0.5\tmuch", "is not a number"),
        ("b\tx\t1.5\t-0.5", "not a probability"),
        ("b\tx\t0.2\t0.2", "sum to 0.4"),
        ("b\tx\t\t1", "is not a number"),
    ],
)
def test_bad_rows_fail_naming_the_file_and_line(tmp_path, line, expected):
    config = dataset_config(tmp_path, f"a\tx\t0.5\t0.5\n{line}\n", {"column_idxs": [2, 3]})
    _, datasets = load_configs([str(config)], None)
    dataset = datasets["d"]
    with pytest.raises(DataError) as error:
        read_dataset_file(dataset, dataset["train_data_path"])
    message = str(error.value)
    assert expected in message and "train.tsv, line 2" in message, message


def test_columns_in_any_order_and_not_adjacent_are_read_and_written_back(tmp_path):
    text = "the nurse\t0.9\tkeep\t0.1\tend\nthe pilot\t0.2\tkeep\t0.8\tend\n"
    config = dataset_config(tmp_path, text, {"column_idxs": [3, 1]})
    _, datasets = load_configs([str(config)], None)
    dataset = datasets["d"]
    path = dataset["train_data_path"]
    sentences = read_dataset_file(dataset, path)
    assert [s.labels["gender"] for s in sentences] == ["0.1\t0.9", "0.8\t0.2"]
    assert [s.words for s in sentences] == [["the", "nurse"], ["the", "pilot"]]
    output = tmp_path / "out.tsv"
    write_predictions(dataset, path, str(output), sentences, {"gender": ["0.3\t0.7", "1.0\t0.0"]})
    assert output.read_text().splitlines() == [
        "the nurse\t0.7\tkeep\t0.3\tend",
        "the pilot\t0.0\tkeep\t1.0\tend",
    ]
    again = read_dataset_file(dataset, str(output))
    assert [s.labels["gender"] for s in again] == ["0.3\t0.7", "1.0\t0.0"]


def test_unlabelled_input_gets_the_columns_added(tmp_path):
    config = dataset_config(tmp_path, "a\t0.5\t0.5\n", {"column_idxs": [1, 2]})
    _, datasets = load_configs([str(config)], None)
    dataset = datasets["d"]
    raw = write(tmp_path / "raw.tsv", "one text\nanother one\n")
    sentences = read_dataset_file(dataset, str(raw), require_labels=False)
    output = tmp_path / "out.tsv"
    write_predictions(dataset, str(raw), str(output), sentences, {"gender": ["0.5\t0.5"] * 2})
    assert output.read_text().splitlines() == ["one text\t0.5\t0.5", "another one\t0.5\t0.5"]


def test_distribution_accuracy_scores_the_most_likely_column_and_reports_kl():
    gold = ["0.9\t0.1", "0.5\t0.5", "0.2\t0.8", "0.3\t0.7"]
    predicted = ["0.6\t0.4", "0.1\t0.9", "0.7\t0.3", "0.3\t0.7"]
    result = score_task("distribution_accuracy", ["distribution_kl"], gold, predicted)
    # Right: 1 (0 is most likely in both), 2 (a gold tie takes either), 4; wrong: 3.
    assert result["score"] == result["accuracy"] == 0.75 and result["total"] == 4
    kls = [
        0.9 * math.log(0.9 / 0.6) + 0.1 * math.log(0.1 / 0.4),
        0.5 * math.log(0.5 / 0.1) + 0.5 * math.log(0.5 / 0.9),
        0.2 * math.log(0.2 / 0.7) + 0.8 * math.log(0.8 / 0.3),
        0.0,
    ]
    assert result["kl"] == pytest.approx(sum(kls) / 4)
    assert result["total_variation"] == pytest.approx((0.3 + 0.4 + 0.5 + 0.0) / 4)
    assert result["additional_metrics"]["distribution_kl"]["score"] == pytest.approx(-sum(kls) / 4)
    # A predicted 0 where the gold is not 0 is a large, finite divergence.
    assert math.isfinite(score_task("distribution_kl", [], ["0.5\t0.5"], ["1.0\t0.0"])["score"])


def test_machamps_accuracy_means_accuracy_over_the_most_likely_column(tmp_path):
    """MaChAmp's parameter files give every task default_decoder's metric, "accuracy"; on a
    distribution that would compare whole rows as strings, so probdistr reads it as its own
    accuracy over the most likely column."""
    config = dataset_config(
        tmp_path,
        "a\t0.5\t0.5\n",
        {"column_idxs": [1, 2], "metric": "accuracy", "additional_metrics": ["accuracy"]},
    )
    _, datasets = load_configs([str(config)], None)
    task = datasets["d"]["tasks"]["gender"]
    assert task["metric"] == "distribution_accuracy"
    assert task["additional_metrics"] == ["distribution_accuracy"]


def test_a_label_column_that_is_also_a_text_column_is_refused(tmp_path):
    config = dataset_config(tmp_path, "a\t0.5\t0.5\n", {"column_idxs": [0, 1]})
    _, datasets = load_configs([str(config)], None)
    dataset = datasets["d"]
    with pytest.raises(DataError) as error:
        read_dataset_file(dataset, dataset["train_data_path"])
    message = str(error.value)
    assert '"column_idxs" names column(s) [0]' in message and "d.json" in message, message


def test_a_file_of_one_word_per_line_cannot_hold_a_distribution(tmp_path):
    data = write(tmp_path / "train.conll", "a O 0.5 0.5\nb O 0.5 0.5\n")
    config = write(
        tmp_path / "w.json",
        json.dumps(
            {
                "w": {
                    "train_data_path": str(data),
                    "tasks": {
                        "slots": {"task_type": "seq", "column_idx": 1},
                        "gender": {"task_type": "probdistr", "column_idxs": [2, 3]},
                    },
                }
            }
        ),
    )
    _, datasets = load_configs([str(config)], None)
    with pytest.raises(DataError) as error:
        read_dataset_file(datasets["w"], str(data))
    assert "one sentence per line" in str(error.value) and "w.json" in str(error.value)
