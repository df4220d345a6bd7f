"""``evaluate GOLD PRED --probabilities FILE``: reliability bins, ECE and MCE worked out by
hand, a perfectly calibrated set at ECE ~ 0, precision/recall over the entity threshold (equal
to the span scores' micro P/R at 0), the target-precision picks, every side-file error as one
message naming its line; and ``predict --topn``'s cells read as their first label by all three
evaluate modes (span, --dataset_config, CoNLL-U)."""

from __future__ import annotations

import json
import random

import pytest

from machamp_lite.calibration_metrics import reliability, threshold_tables
from machamp_lite.cli import main
from machamp_lite.metrics.span_f1 import extract_chunks
from machamp_lite.topn_cells import best_of_topn, first_labels

from conftest import one_error, write


def conll(sentences: list[list[tuple[str, str]]]) -> str:
    """MultiCoNER layout; each sentence is a list of (token, tag)."""
    blocks = []
    for index, sentence in enumerate(sentences):
        lines = [f"# id s{index}\tdomain=t"] + [f"{token} _ _ {tag}" for token, tag in sentence]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def side_line(index, words, labels, word_probs, entity_probs, task="ner", **extra) -> dict:
    """One side-file record, its entities the IOB chunks of ``labels``, one probability each."""
    chunks = extract_chunks(labels, "iob")
    entities = [
        {"start": start, "end": end, "type": kind, "probability": p}
        for (kind, start, end), p in zip(chunks, entity_probs)
    ]
    body = {"temperature": 1.0, "labels": labels, "probabilities": word_probs, "entities": entities}
    return {"sentence": index, "words": words, "tasks": {task: body, **extra}}


def jsonl(records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


GOLD = [
    [("Sam", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC")],
    [("Acme", "B-CORP"), ("hires", "O"), ("Bo", "B-PER"), ("Berg", "I-PER")],
    [("Oslo", "B-LOC"), ("is", "O"), ("cold", "O")],
]
PRED = [
    [("Sam", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-ORG")],
    [("Acme", "B-CORP"), ("hires", "O"), ("Bo", "B-PER"), ("Berg", "O")],
    [("Oslo", "B-LOC"), ("is", "O"), ("cold", "B-PER")],
]
# Per sentence: each word's probability, each predicted entity's probability.
WORD_PROBS = [[0.97, 0.99, 0.98, 0.55], [0.8, 0.9, 0.6, 0.65], [0.93, 0.95, 0.35]]
ENTITY_PROBS = [[0.95, 0.45], [0.75, 0.5], [0.9, 0.3]]


def records(pred=PRED, word_probs=WORD_PROBS, entity_probs=ENTITY_PROBS):
    """Fresh records (tests change them) for the sentences ``pred``."""
    return [
        side_line(i, [w for w, _ in s], [t for _, t in s], list(word_probs[i]), entity_probs[i])
        for i, s in enumerate(pred)
    ]


@pytest.fixture
def files(tmp_path):
    return {
        "gold": str(write(tmp_path / "gold.conll", conll(GOLD))),
        "pred": str(write(tmp_path / "pred.conll", conll(PRED))),
        "side": str(write(tmp_path / "pred.conll.probabilities.jsonl", jsonl(records()))),
        "dir": tmp_path,
    }


def evaluate_json(capsys, *argv) -> dict:
    code = main(["evaluate", *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def error_of(capsys, *argv) -> str:
    return one_error(capsys, main(["evaluate", *argv]))


# --- the measures -------------------------------------------------------------------------------


def test_reliability_bins_ece_and_mce_by_hand():
    confidences = [0.05, 0.15, 0.15, 0.95, 1.0]
    correct = [False, True, False, True, True]
    ten = reliability(confidences, correct, 10)
    # bin 0: one at 0.05, wrong (gap 0.05); bin 1: 0.15 twice, half right (gap 0.35); bin 9:
    # 0.95 and 1.0 (1.0 falls in the last bin), both right (gap 0.025).
    assert [b["count"] for b in ten["bins"]] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2]
    assert ten["bins"][1]["confidence"] == pytest.approx(0.15)
    assert ten["bins"][1]["accuracy"] == 0.5
    assert ten["bins"][9]["confidence"] == pytest.approx(0.975)
    assert ten["bins"][2]["confidence"] is None and ten["bins"][2]["accuracy"] is None
    assert ten["ece"] == pytest.approx((0.05 + 2 * 0.35 + 2 * 0.025) / 5)  # 0.16
    assert ten["mce"] == pytest.approx(0.35)
    assert ten["mean_confidence"] == pytest.approx(2.3 / 5) and ten["accuracy"] == 0.6
    two = reliability(confidences, correct, 2)
    # [0, 0.5): 0.05, 0.15, 0.15, one right: conf 0.35/3, acc 1/3; [0.5, 1]: conf 0.975, acc 1.
    assert [b["count"] for b in two["bins"]] == [3, 2]
    assert two["ece"] == pytest.approx(3 / 5 * (1 / 3 - 0.35 / 3) + 2 / 5 * 0.025)
    assert two["bins"][1]["lower"] == 0.5 and two["bins"][1]["upper"] == 1.0
    assert reliability([0.5], [True], 2)["bins"][1]["count"] == 1  # a bin's lower edge is in it


def test_a_perfectly_calibrated_set_has_ece_zero():
    confidences, correct = [], []
    for step in range(10):
        c = 0.05 + step / 10
        right = round(c * 1000)
        confidences += [c] * 1000
        correct += [True] * right + [False] * (1000 - right)
    exact = reliability(confidences, correct)
    assert exact["ece"] == pytest.approx(0.0, abs=1e-9) and exact["mce"] < 1e-9
    rng = random.Random(7)
    drawn = [rng.random() for _ in range(100_000)]
    sampled = reliability(drawn, [rng.random() < c for c in drawn])
    assert sampled["ece"] < 0.01
    overconfident = reliability(drawn, [rng.random() < c * 0.7 for c in drawn])
    assert overconfident["ece"] > 0.1


def test_empty_sets_and_bad_bins():
    empty = reliability([], [], 10)
    assert empty["count"] == 0 and empty["ece"] is None and empty["mean_confidence"] is None
    with pytest.raises(ValueError):
        reliability([0.5], [True], 0)


def test_threshold_curve_table_and_target_picks_by_hand():
    entities = [(0.9, True), (0.8, False), (0.7, True), (0.6, True), (0.3, False)]
    result = threshold_tables(entities, 5, thresholds=(0.0, 0.5, 0.99), targets=(0.6, 0.7, 0.8))
    curve = [(p["threshold"], p["kept"], p["correct"]) for p in result["curve"]]
    assert curve == [(0.9, 1, 1), (0.8, 2, 1), (0.7, 3, 2), (0.6, 4, 3), (0.3, 5, 3)]
    zero, half, high = result["table"]
    assert (zero["precision"], zero["recall"]) == pytest.approx((0.6, 0.6))
    assert (half["kept"], half["precision"], half["recall"]) == (4, 0.75, 0.6)
    assert (high["kept"], high["precision"], high["recall"]) == (0, 0.0, 0.0)
    picks = {p["target"]: p for p in result["targets"]}
    # 0.6 is reached with everything kept; 0.7 first at 0.6 (precision 0.75) although 0.7
    # itself gives 0.67: the smallest threshold is sought, precision not being monotonic.
    assert picks[0.6]["threshold"] == 0.0 and picks[0.6]["recall"] == 0.6
    assert picks[0.7]["threshold"] == 0.6 and picks[0.7]["precision"] == 0.75
    assert picks[0.8]["threshold"] == 0.9 and picks[0.8]["recall"] == pytest.approx(0.2)
    wrong = threshold_tables([(0.9, False), (0.4, False)], 3)
    assert not any(p["reached"] for p in wrong["targets"])
    assert all(p["threshold"] is None for p in wrong["targets"])


# --- evaluate --probabilities -------------------------------------------------------------------


def test_json_report_and_precision_recall_at_zero_equal_the_span_scores(files, capsys):
    report = evaluate_json(capsys, files["gold"], files["pred"], "--probabilities", files["side"])
    section = report["calibration"]
    assert section["task"] == "ner" and section["temperatures"] == [1.0]
    entities = section["entities"]
    at_zero = entities["table"][0]
    assert at_zero["threshold"] == 0.0
    assert at_zero["precision"] == pytest.approx(report["micro"]["precision"])
    assert at_zero["recall"] == pytest.approx(report["micro"]["recall"])
    assert (entities["gold"], entities["predicted"], entities["correct"]) == (5, 6, 3)
    assert at_zero["kept"] == report["counts"]["predicted"]
    # Words: 11 tokens, 8 right; the wrong ones are Paris 0.55, Berg 0.65, cold 0.35.
    tokens = section["tokens"]
    assert tokens["count"] == 11 and tokens["accuracy"] == pytest.approx(8 / 11)
    # Entities right: Sam 0.95, Acme 0.75, Oslo 0.9; wrong: Paris 0.45, Bo 0.5, cold 0.3.
    picks = {p["target"]: p for p in entities["targets"]}
    assert picks[0.8]["threshold"] == 0.75 and picks[0.8]["recall"] == pytest.approx(0.6)
    assert picks[0.95]["precision"] == 1.0
    by_hand = (0.45 + 0.5 + 0.3 + 0.05 + 0.1 + 0.25) / 6  # one entity per occupied bin
    assert entities["ece"] == pytest.approx(by_hand) and section["notes"] == []


def test_table_bins_and_task_options(files, capsys):
    code = main(["evaluate", files["gold"], files["pred"], "--probabilities", files["side"]])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "calibration of task 'ner'" in out and "precision 80%: smallest threshold 0.75" in out
    assert "span scores in %" in out  # the ordinary report stays
    report = evaluate_json(
        capsys, files["gold"], files["pred"], "--probabilities", files["side"], "--bins", "4"
    )
    assert len(report["calibration"]["tokens"]["bins"]) == 4
    several = records()
    for record in several:
        record["tasks"]["aux"] = dict(record["tasks"]["ner"])
    path = write(files["dir"] / "two.jsonl", jsonl(several))
    message = error_of(capsys, files["gold"], files["pred"], "--probabilities", str(path))
    assert "2 tasks (aux, ner)" in message and "--task" in message
    report = evaluate_json(
        capsys, files["gold"], files["pred"], "--probabilities", str(path), "--task", "aux"
    )
    assert report["calibration"]["task"] == "aux"
    message = error_of(
        capsys, files["gold"], files["pred"], "--probabilities", str(path), "--task", "upos"
    )
    assert "--task upos" in message and "aux, ner" in message


def test_a_plot_is_drawn(files, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs the optional matplotlib (plot extra)")
    figure = files["dir"] / "out" / "calibration.png"
    report = evaluate_json(
        capsys,
        files["gold"],
        files["pred"],
        "--probabilities",
        files["side"],
        "--plot",
        str(figure),
    )
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "calibration" in report


def test_words_only_without_spans(files, capsys):
    report = evaluate_json(
        capsys,
        files["gold"],
        files["pred"],
        "--probabilities",
        files["side"],
        "--no_spans",
        "--metrics",
        "accuracy",
    )
    section = report["calibration"]
    assert "entities" not in section and section["tokens"]["count"] == 11
    assert "--no_spans" in section["notes"][0]


def test_entities_that_are_not_the_predicted_chunks_are_noted(files, capsys):
    changed = records()
    changed[0]["tasks"]["ner"]["entities"][1]["type"] = "LOC"  # the label says B-ORG
    path = write(files["dir"] / "odd.jsonl", jsonl(changed))
    report = evaluate_json(capsys, files["gold"], files["pred"], "--probabilities", str(path))
    assert "in 1 sentence(s)" in report["calibration"]["notes"][0]
    assert report["calibration"]["entities"]["correct"] == 4  # Paris as LOC is a gold chunk


# --- errors -------------------------------------------------------------------------------------


def broken(files, text: str) -> str:
    return str(write(files["dir"] / "broken.jsonl", text))


def side_error(capsys, files, text: str) -> str:
    return error_of(capsys, files["gold"], files["pred"], "--probabilities", broken(files, text))


def test_a_line_that_is_not_json(files, capsys):
    lines = jsonl(records()).splitlines()
    lines[1] = lines[1][:-5]
    message = side_error(capsys, files, "\n".join(lines) + "\n")
    assert "broken.jsonl, line 2: not a JSON object" in message
    message = side_error(capsys, files, "[1, 2]\n")
    assert "line 1: not a JSON object but list" in message


def test_a_line_that_lacks_keys(files, capsys):
    bad = records()
    del bad[1]["words"]
    assert "line 2: the line lacks 'words'" in side_error(capsys, files, jsonl(bad))
    bad = records()
    del bad[2]["tasks"]["ner"]["probabilities"]
    assert "line 3: sentence 2, task 'ner' lacks 'probabilities'" in side_error(
        capsys, files, jsonl(bad)
    )
    bad = records()
    del bad[1]["tasks"]["ner"]["entities"]
    assert "lacks 'entities'" in side_error(capsys, files, jsonl(bad))


def test_sentence_counts_and_numbers(files, capsys):
    message = side_error(capsys, files, jsonl(records()[:2]))
    assert "line 2: the side file ends after 2 sentence(s)" in message and "holds 3" in message
    extra = records() + [records()[0]]
    extra[3]["sentence"] = 3
    message = side_error(capsys, files, jsonl(extra))
    assert "line 4: sentence 3 here" in message and "holds only 3" in message
    swapped = records()
    swapped[1]["sentence"] = 2
    assert "line 2: sentence number 2 where 1 is due" in side_error(capsys, files, jsonl(swapped))
    assert "file is empty" in side_error(capsys, files, "\n\n")


def test_unreadable_side_files(files, capsys):
    g, p = files["gold"], files["pred"]
    message = error_of(capsys, g, p, "--probabilities", "missing.jsonl")
    assert "missing.jsonl: not found; predict --probabilities writes it as" in message
    message = error_of(capsys, g, p, "--probabilities", str(files["dir"]))
    assert "is a directory, not a side file" in message
    assert "needs the side file's path" in error_of(capsys, g, p, "--probabilities", " ")
    utf16 = files["dir"] / "utf16.jsonl"
    utf16.write_text(jsonl(records()), encoding="utf-16")
    message = error_of(capsys, g, p, "--probabilities", str(utf16))
    assert "UTF-16" in message and "predict writes the side file in UTF-8" in message
    assert "--encoding" not in message  # that option is GOLD's and PRED's
    bad = records()
    bad[0]["tasks"] = {}
    assert "line 1: 'tasks' is empty" in side_error(capsys, files, jsonl(bad))


def test_words_that_differ_from_gold(files, capsys):
    bad = records()
    bad[1]["words"][2] = "Bob"
    message = side_error(capsys, files, jsonl(bad))
    assert "line 2: sentence 1: word 2 is 'Bob'" in message
    assert "the sentence at line 8 of" in message and "'Bo'" in message  # gold's line
    bad = records()
    bad[2]["words"].append("today")
    assert "sentence 2 has 4 words" in side_error(capsys, files, jsonl(bad))


def test_labels_that_differ_from_the_prediction(files, capsys):
    other = [list(s) for s in PRED]
    other[2][2] = ("cold", "O")
    bad = records(pred=other, entity_probs=[[0.95, 0.45], [0.75, 0.5], [0.9]])
    message = side_error(capsys, files, jsonl(bad))
    assert "line 3: sentence 2, word 2: label 'O' here but 'B-PER' at line 16" in message
    assert "does not belong to this prediction" in message


@pytest.mark.parametrize("value", [1.2, -0.1, "high", True, None])
def test_probabilities_that_are_not_probabilities(files, capsys, value):
    bad = records()
    bad[0]["tasks"]["ner"]["probabilities"][1] = value
    message = side_error(capsys, files, jsonl(bad))
    assert "line 1: sentence 0, word 1: probability" in message and "from 0 to 1" in message
    bad = records()
    bad[1]["tasks"]["ner"]["entities"][0]["probability"] = value
    message = side_error(capsys, files, jsonl(bad))
    assert "line 2: sentence 1, entity 0: probability" in message


def test_nan_is_not_a_probability(files, capsys):
    text = jsonl(records()).replace("0.98", "NaN", 1)
    assert "probability nan is not a number from 0 to 1" in side_error(capsys, files, text)


@pytest.mark.parametrize("start, end", [(3, 5), (2, 2), (-1, 1), (0, 1.5)])
def test_entities_outside_the_sentence(files, capsys, start, end):
    bad = records()
    bad[2]["tasks"]["ner"]["entities"][0].update(start=start, end=end)
    message = side_error(capsys, files, jsonl(bad))
    assert (
        "line 3: sentence 2, entity 0" in message and "outside the sentence of 3 words" in message
    )


def test_a_sentence_level_task_is_refused(files, capsys):
    bad = records()
    for record in bad:
        record["tasks"] = {"intent": {"label": "greet", "probability": 0.9}}
    assert "task 'intent' labels sentences" in side_error(capsys, files, jsonl(bad))


def test_options_that_do_not_go_with_probabilities(files, capsys):
    g, p, s = files["gold"], files["pred"], files["side"]
    assert "--compare" in error_of(capsys, g, p, "--probabilities", s, "--compare")
    message = error_of(capsys, g, p, "--probabilities", s, "--language_map", s)
    assert "--by_language" not in message and "--language_map" in message
    assert "one GOLD PRED pair, got 4" in error_of(capsys, g, p, g, p, "--probabilities", s)
    assert "--dataset_config" in error_of(capsys, g, p, "--probabilities", s, "--dataset_config", s)
    assert "--task goes with --probabilities" in error_of(capsys, g, p, "--task", "ner")
    for bins in ("0", "-3", "100000"):
        assert f"--bins {bins}: must be" in error_of(
            capsys, g, p, "--probabilities", s, "--bins", bins
        )
    figure = files["dir"] / "never.png"
    bad = broken(files, "{}\n")
    error_of(capsys, g, p, "--probabilities", bad, "--plot", str(figure))
    assert not figure.exists()


# --- top-n cells --------------------------------------------------------------------------------


def test_best_of_topn_cells():
    assert best_of_topn("B-PER=0.91|O=0.06|B-ORG=0.02") == "B-PER"
    assert best_of_topn("O=1") == "O" and best_of_topn("X=1e-05|Y=0.9") == "X"
    for cell in ("B-PER", "a=b", "X=1.5|Y=0.1", "X=0.7|Y=0.6", "X=nan|Y=0.1", "X=-0.1|Y=0.2",
                 "=0.5|Y=0.1", "X=0.5|", "X= 0.5|Y=0.1", "X=inf"):  # fmt: skip
        assert best_of_topn(cell) == cell, cell
    # A lone pair is an ordinary label unless the column also has cells of several pairs.
    assert first_labels(["Person=1", "_", "Case=Nom"]) is None
    assert first_labels(["O=1", "B-PER=0.9|O=0.1", "I-PER"]) == ["O", "B-PER", "I-PER"]


def topn_of(sentences, other="B-MISC"):
    """The sentences with each tag as a top-n cell whose first label is the tag."""
    return [
        [(w, f"{t}=0.7|{other if t == 'O' else 'O'}=0.2|I-X=0.05") for w, t in s] for s in sentences
    ]


def test_span_mode_reads_topn_cells_as_their_first_label(files, capsys):
    topn = str(write(files["dir"] / "topn.conll", conll(topn_of(PRED))))
    plain = evaluate_json(capsys, files["gold"], files["pred"])
    found = evaluate_json(capsys, files["gold"], topn)
    for key in ("micro", "macro", "per_type", "accuracy", "counts"):
        assert found[key] == plain[key], key
    with_side = evaluate_json(capsys, files["gold"], topn, "--probabilities", files["side"])
    assert with_side["calibration"]["entities"]["predicted"] == 6
    # Gold is never read as top-n: its cells are tags, and this one is not.
    message = error_of(capsys, topn, files["pred"])
    assert "topn.conll, line 3: unparseable gold tag 'O=0.7|B-MISC=0.2|I-X=0.05'" in message


NER_CONFIG = {
    "ner": {
        "train_data_path": "train.conll",
        "tasks": {
            "ner": {"task_type": "seq_bio", "column_idx": 1},
            "intent": {"task_type": "classification", "column_idx": -1},
        },
    }
}


def test_dataset_config_mode_reads_topn_cells(tmp_path, capsys):
    gold = (
        "# intent: greet\nhello\tO\nanna\tB-PER\n\n# intent: bye\nbye\tO\nbo\tB-PER\nberg\tI-PER\n"
    )
    plain = (
        "# intent: greet\nhello\tO\nanna\tB-PER\n\n# intent: greet\nbye\tO\nbo\tB-PER\nberg\tO\n"
    )
    topn = (
        "# intent: greet=0.8|bye=0.2\nhello\tO=0.9|B-PER=0.1\nanna\tB-PER=0.6|O=0.4\n\n"
        "# intent: greet=0.51|bye=0.49\nbye\tO=0.9|B-PER=0.1\nbo\tB-PER=0.7|O=0.3\n"
        "berg\tO=0.5|I-PER=0.4\n"
    )
    config = str(write(tmp_path / "ner.json", json.dumps(NER_CONFIG)))
    paths = [
        str(write(tmp_path / f"{n}.conll", t)) for n, t in (("g", gold), ("p", plain), ("t", topn))
    ]
    expected = evaluate_json(capsys, paths[0], paths[1], "--dataset_config", config)
    found = evaluate_json(capsys, paths[0], paths[2], "--dataset_config", config)
    assert found["tasks"] == expected["tasks"] and found["sum"] == expected["sum"]
    assert expected["tasks"]["intent"]["result"]["score"] == 0.5


def conllu(rows: list[str]) -> str:
    return "\n".join("\t".join(row.split() + ["_", "_"]) for row in rows) + "\n\n"


def test_conllu_mode_reads_topn_cells(tmp_path, capsys):
    gold = conllu(
        [
            "1 Anna Anna PROPN _ Number=Sing 2 nsubj",
            "2 eats eat VERB _ Person=3 0 root",
            "3 apples apple NOUN _ Number=Plur 2 obj",
        ]
    )
    plain = gold.replace("NOUN", "VERB")
    topn = conllu(
        [
            "1 Anna Anna PROPN=0.8|NOUN=0.2 _ Number=Sing 2 nsubj=0.9|obj=0.1",
            "2 eats eat VERB=0.99|AUX=0.01 _ Person=3 0 root=1",
            "3 apples apple VERB=0.5|NOUN=0.4 _ Number=Plur 2 obj=0.7|nsubj=0.3",
        ]
    )
    paths = [
        str(write(tmp_path / f"{n}.conllu", t)) for n, t in (("g", gold), ("p", plain), ("t", topn))
    ]
    expected = evaluate_json(capsys, paths[0], paths[1])
    found = evaluate_json(capsys, paths[0], paths[2])
    assert found["scores"] == expected["scores"]
    assert (
        found["scores"]["UPOS"]["f1"] == pytest.approx(2 / 3)
        and found["scores"]["LAS"]["f1"] == 1.0
    )
