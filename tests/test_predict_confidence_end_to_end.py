"""``predict --probabilities``, ``--topn`` and ``--min_confidence`` through the real command
line on a trained tiny model: MultiCoNER and CoNLL-U outputs stay valid files of their format
that ``evaluate`` reads back with the same scores as a plain prediction, the side file is
aligned with the input, and bad settings are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from machamp_lite.cli import main
from machamp_lite.data.conllu_reader import ConlluReader  # noqa: F401  (registers the reader)
from machamp_lite.evaluation_files import read_labelled
from machamp_lite.predict import Predictor

from conftest import DEMO, ROOT, one_error, tiny_training_params, write

UD_SENTENCES = [
    [
        ("Anna", "PROPN", "B-PER"),
        ("lives", "VERB", "O"),
        ("in", "ADP", "O"),
        ("Oslo", "PROPN", "B-LOC"),
    ],
    [("The", "DET", "O"), ("old", "ADJ", "O"), ("man", "NOUN", "O"), ("sleeps", "VERB", "O")],
    [
        ("Peter", "PROPN", "B-PER"),
        ("Smith", "PROPN", "I-PER"),
        ("visited", "VERB", "O"),
        ("Rome", "PROPN", "B-LOC"),
    ],
    [
        ("We", "PRON", "O"),
        ("saw", "VERB", "O"),
        ("New", "PROPN", "B-LOC"),
        ("York", "PROPN", "I-LOC"),
    ],
    [("Cats", "NOUN", "O"), ("like", "VERB", "O"), ("fish", "NOUN", "O"), (".", "PUNCT", "O")],
]


def conllu(sentences, start: int = 0) -> str:
    blocks = []
    for number, words in enumerate(sentences, start):
        lines = [f"# sent_id = s{number}", "# text = " + " ".join(w for w, _, _ in words)]
        for i, (word, upos, ner) in enumerate(words, 1):
            head = 0 if i == 1 else 1
            rel = "root" if i == 1 else "dep"
            lines.append(f"{i}\t{word}\t{word.lower()}\t{upos}\t_\t_\t{head}\t{rel}\t_\t{ner}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model) -> dict[str, Path]:
    """One model with the MultiCoNER demo (seq_bio) and a CoNLL-U dataset (UPOS with a softmax,
    NER in MISC with a CRF), trained 3 epochs."""
    folder = tmp_path_factory.mktemp("confidence")
    ud_train = write(folder / "ud-train.conllu", conllu(UD_SENTENCES * 8))
    ud_dev = write(folder / "ud-dev.conllu", conllu(UD_SENTENCES[::-1], 100))
    config = {
        "ud": {
            "train_data_path": str(ud_train),
            "dev_data_path": str(ud_dev),
            "word_idx": 1,
            "tasks": {
                "upos": {"task_type": "seq", "column_idx": 3},
                "misc_ner": {"task_type": "seq_bio", "column_idx": 9},
            },
        }
    }
    ud_config = write(folder / "ud.json", json.dumps(config))
    params = tiny_training_params(folder / "params.json", tiny_model, 3, batching={"batch_size": 8})
    code = main(
        [
            "train",
            "--dataset_configs",
            str(ROOT / "dataset_configs/demo.json"),
            str(ud_config),
            "--parameters_config",
            str(params),
            "--output_dir",
            str(folder / "logs"),
            "--data_dir",
            str(ROOT),
            "--name",
            "confidence",
            "--seed",
            "2",
        ]
    )
    assert code == 0
    (run,) = [p for p in (folder / "logs").glob("*/*") if p.is_dir()]
    return {"model": run / "model", "ud_dev": ud_dev, "folder": folder}


def predict(trained, source, output, *extra) -> int:
    return main(["predict", str(trained["model"]), str(source), str(output), *extra])


def side_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def first_labels(cells: list[str]) -> list[str]:
    return [cell.split("|")[0].rsplit("=", 1)[0] for cell in cells]


def test_multiconer_topn_and_probabilities_keep_the_file_valid_and_aligned(trained, tmp_path):
    gold = DEMO / "multiconer_demo_dev.conll"
    plain, ranked = tmp_path / "plain.conll", tmp_path / "top3.conll"
    assert predict(trained, gold, plain, "--dataset", "multiconer_demo") == 0
    assert (
        predict(
            trained, gold, ranked, "--dataset", "multiconer_demo", "--topn", "3", "--probabilities"
        )
        == 0
    )
    plain_sentences = read_labelled(str(plain))
    ranked_sentences = read_labelled(str(ranked))
    inputs = read_labelled(str(gold))
    assert [s.words for s in ranked_sentences] == [s.words for s in inputs]
    side = side_lines(Path(str(ranked) + ".probabilities.jsonl"))
    assert [line["sentence"] for line in side] == list(range(len(inputs)))
    for got, want, line, source in zip(ranked_sentences, plain_sentences, side, inputs):
        cells = got.labels["label"]
        assert first_labels(cells) == want.labels["label"]  # the first pair is the prediction
        assert all(1 <= cell.count("=") <= 3 for cell in cells)
        assert line["words"] == source.words
        ner = line["tasks"]["ner"]
        assert ner["labels"] == want.labels["label"]
        assert len(ner["probabilities"]) == len(source.words)
        assert all(0 <= p <= 1 for p in ner["probabilities"])
        assert [s["labels"] for s in ner["topn"]][0] == ner["labels"]
        probabilities = [s["probability"] for s in ner["topn"]]
        assert (
            probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1 + 1e-9
        )
        for entity in ner["entities"]:
            assert ner["labels"][entity["start"]] == "B-" + entity["type"]
    # Comment lines and the other columns are the input's.
    input_lines = gold.read_text(encoding="utf-8").splitlines()
    output_lines = ranked.read_text(encoding="utf-8").splitlines()
    assert len(input_lines) == len(output_lines)
    for source_line, line in zip(input_lines, output_lines):
        assert source_line.split()[:-1] == line.split()[:-1] or source_line.startswith("#")


def test_evaluate_scores_a_topn_prediction_as_the_plain_one(trained, tmp_path, capsys):
    gold = DEMO / "multiconer_demo_dev.conll"
    plain, ranked = tmp_path / "plain.conll", tmp_path / "top3.conll"
    predict(trained, gold, plain, "--dataset", "multiconer_demo")
    predict(trained, gold, ranked, "--dataset", "multiconer_demo", "--topn", "3")
    capsys.readouterr()
    reports = []
    for prediction in (plain, ranked):
        assert main(["evaluate", str(gold), str(prediction), "--json"]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["pooled"]["micro"] == reports[1]["pooled"]["micro"]


def test_conllu_topn_output_is_valid_conllu_scored_as_the_plain_one(trained, tmp_path, capsys):
    dev = trained["ud_dev"]
    plain, ranked = tmp_path / "plain.conllu", tmp_path / "top3.conllu"
    assert predict(trained, dev, plain, "--dataset", "ud") == 0
    assert predict(trained, dev, ranked, "--dataset", "ud", "--topn", "3", "--probabilities") == 0
    for line in ranked.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            assert len(fields) == 10 and all(fields) and " " not in line
    side = side_lines(Path(str(ranked) + ".probabilities.jsonl"))
    assert len(side) == len(UD_SENTENCES)
    assert set(side[0]["tasks"]) == {"upos", "misc_ner"}
    assert len(side[0]["tasks"]["upos"]["topn"][0]) == 3  # three labels for the first word
    capsys.readouterr()
    scores = []
    for prediction in (plain, ranked):
        code = main(
            [
                "evaluate",
                str(dev),
                str(prediction),
                "--model",
                str(trained["model"]),
                "--dataset",
                "ud",
                "--json",
            ]
        )
        assert code == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0] == scores[1] or json.dumps(scores[0]).replace(str(plain), "X") == json.dumps(
        scores[1]
    ).replace(str(ranked), "X")


def test_min_confidence_is_a_dial_from_every_entity_to_none(trained, tmp_path):
    gold = DEMO / "multiconer_demo_dev.conll"
    plain, everything, nothing = (tmp_path / f"{n}.conll" for n in ("plain", "zero", "one"))
    predict(trained, gold, plain, "--dataset", "multiconer_demo")
    predict(trained, gold, everything, "--dataset", "multiconer_demo", "--min_confidence", "0")
    predict(
        trained,
        gold,
        nothing,
        "--dataset",
        "multiconer_demo",
        "--min_confidence",
        "1",
        "--probabilities",
    )
    assert everything.read_bytes() == plain.read_bytes()
    labels = [label for s in read_labelled(str(nothing)) for label in s.labels["label"]]
    side = side_lines(Path(str(nothing) + ".probabilities.jsonl"))
    kept = [e for line in side for e in line["tasks"]["ner"]["entities"]]
    assert all(e["probability"] >= 1 for e in kept)
    if not kept:
        assert set(labels) == {"O"}


def test_calibration_changes_probabilities_never_labels(trained, tmp_path):
    predictor = Predictor.load(trained["model"])
    words = [s.words for s in read_labelled(str(DEMO / "multiconer_demo_dev.conll"))]
    calibrated = predictor.confidences(words, "multiconer_demo")
    raw = predictor.confidences(words, "multiconer_demo", calibrated=False)
    plain = predictor.predict(words, "multiconer_demo")
    assert [c["ner"]["labels"] for c in calibrated] == [c["ner"]["labels"] for c in raw]
    assert [c["ner"]["labels"] for c in calibrated] == [p["ner"] for p in plain]
    temperature = predictor.temperatures.get("ner", 1.0)
    if temperature != 1.0:
        assert [c["ner"]["probabilities"] for c in calibrated] != [
            c["ner"]["probabilities"] for c in raw
        ]
    # The side file holds what the Python API returns.
    output = tmp_path / "out.conll"
    predict(
        trained,
        DEMO / "multiconer_demo_dev.conll",
        output,
        "--dataset",
        "multiconer_demo",
        "--probabilities",
        str(tmp_path / "probs.jsonl"),
    )
    side = side_lines(tmp_path / "probs.jsonl")
    assert [line["tasks"]["ner"]["labels"] for line in side] == [
        c["ner"]["labels"] for c in calibrated
    ]
    for line, result in zip(side, calibrated):
        assert line["tasks"]["ner"]["temperature"] == temperature
        assert line["tasks"]["ner"]["probabilities"] == pytest.approx(
            result["ner"]["probabilities"]
        )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--topn", "0"], "--topn 0"),
        (["--topn", "-2"], "--topn -2"),
        (["--min_confidence", "1.5"], "--min_confidence 1.5"),
        (["--min_confidence", "nan"], "--min_confidence nan"),
        (["--topn", "2", "--min_confidence", "0.5"], "together"),
    ],
)
def test_bad_confidence_settings_are_one_error(trained, tmp_path, capsys, extra, message):
    output = tmp_path / "out.conll"
    code = predict(
        trained, DEMO / "multiconer_demo_dev.conll", output, "--dataset", "multiconer_demo", *extra
    )
    assert message in one_error(capsys, code)
    assert not output.exists()
    assert list(tmp_path.iterdir()) == []


def test_the_side_file_may_not_overwrite_the_input_or_output(trained, tmp_path, capsys):
    source = write(tmp_path / "in.conll", (DEMO / "multiconer_demo_dev.conll").read_text("utf-8"))
    before = source.read_bytes()
    code = predict(
        trained,
        source,
        tmp_path / "out.conll",
        "--dataset",
        "multiconer_demo",
        "--probabilities",
        str(source),
    )
    assert "input" in one_error(capsys, code)
    assert source.read_bytes() == before
    pairs = [str(source), str(tmp_path / "a"), str(source), str(tmp_path / "b")]
    code = main(
        [
            "predict",
            str(trained["model"]),
            *pairs,
            "--dataset",
            "multiconer_demo",
            "--probabilities",
            str(tmp_path / "p.jsonl"),
        ]
    )
    assert "several outputs" in one_error(capsys, code)


def test_a_failed_prediction_leaves_no_side_file(trained, tmp_path, capsys):
    data = (DEMO / "multiconer_demo_dev.conll").read_bytes()
    cut = data.index(b"\n\n", len(data) // 2)
    # Bytes that are not UTF-8 deep in the file: found after half the sentences were predicted.
    source = tmp_path / "in.conll"
    source.write_bytes(data[:cut] + b"\n\nbad\xff\xfe _ _ O" + data[cut:])
    output = tmp_path / "out.conll"
    code = main(
        [
            "predict",
            str(trained["model"]),
            str(source),
            str(output),
            "--dataset",
            "multiconer_demo",
            "--probabilities",
            "--batch_size",
            "2",
        ]
    )
    error = one_error(capsys, code)
    assert "in.conll" in error and "--encoding" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.conll"]


def test_a_tasks_topn_key_writes_topn_cells_and_the_flag_overrides_it(trained, tmp_path):
    predictor = Predictor.load(trained["model"])
    predictor.datasets["multiconer_demo"]["tasks"]["ner"]["topn"] = 2  # MaChAmp's task key
    gold = str(DEMO / "multiconer_demo_dev.conll")
    keyed, flagged = str(tmp_path / "keyed.conll"), str(tmp_path / "flag.conll")
    predictor.predict_file(gold, keyed, "multiconer_demo")
    predictor.predict_file(gold, flagged, "multiconer_demo", topn=1)
    keyed_cells = [c for s in read_labelled(keyed) for c in s.labels["label"]]
    assert all(cell.count("=") == 2 for cell in keyed_cells)
    plain = [c for s in read_labelled(flagged) for c in s.labels["label"]]
    assert first_labels(keyed_cells) == plain and "=" not in "".join(plain)


def test_the_confidence_benchmark_reports_each_setting_against_the_plain_one(trained, tmp_path):
    from benchmarks import bench_predict_confidence

    out = tmp_path / "result.json"
    result = bench_predict_confidence.main(
        [
            str(trained["model"]),
            str(DEMO / "multiconer_demo_dev.conll"),
            "--dataset",
            "multiconer_demo",
            "--sentences",
            "5",
            "--repeats",
            "1",
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text()) == result
    assert result["sentences"] == 5 and result["over_plain"]["plain"] == 1.0
    assert set(result["over_plain"]) == {"plain", "probabilities", "top3", "probabilities_top3"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
