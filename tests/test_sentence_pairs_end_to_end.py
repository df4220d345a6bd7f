"""A QNLI-style dataset (question and sentence in two columns, MaChAmp's ``sent_idxs: [0, 1]``)
through the real command line: it trains as sentence pairs, and ``predict`` writes one label per
input line, in place, with the text columns unchanged (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from machamp_lite.cli import main
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.predict import Predictor, encode_sentences

from conftest import tiny_training_params, write

LABELS = {"entailment", "not_entailment"}
QNLI = (
    "what does anna do ?\tanna sleeps in the morning\tentailment\n"
    "who runs ?\tthe cat sleeps\tnot_entailment\n"
    "where is københavn ?\tkøbenhavn is in denmark\tentailment\n"
    "when does bob eat ?\tanna reads a book\tnot_entailment\n"
)


def test_a_qnli_style_dataset_trains_and_predicts_as_pairs(tmp_path, tiny_model):
    train = write(tmp_path / "qnli.train", QNLI * 4)
    dev = write(tmp_path / "qnli.dev", QNLI)
    config = {
        "qnli": {
            "train_data_path": str(train),
            "dev_data_path": str(dev),
            "sent_idxs": [0, 1],
            "tasks": {"qnli": {"task_type": "classification", "column_idx": 2}},
        }
    }
    datasets = write(tmp_path / "qnli.json", json.dumps(config))
    params = tiny_training_params(tmp_path / "params.json", tiny_model, 2)
    arguments = ["--dataset_configs", str(datasets), "--parameters_config", str(params)]
    logs = tmp_path / "logs"
    assert main(["train", *arguments, "--output_dir", str(logs), "--name", "qnli"]) == 0
    [run] = (logs / "qnli").iterdir()
    report = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert len(report["epochs"]) == 2
    assert set(report["epochs"][-1]["dev"]) == {"qnli/qnli"}

    # the model encodes what it reads as pairs: one separator more than the words alone
    predictor = Predictor.load(run / "model")
    sentences = read_dataset_file(predictor.dataset("qnli"), str(dev), require_labels=False)
    assert [s.segments for s in sentences] == [[0, 5], [0, 3], [0, 4], [0, 5]]
    encoder = predictor.model.encoder
    paired = encode_sentences(encoder, sentences)
    alone = encoder.encode_many([s.words for s in sentences])
    assert [len(p.subword_ids) - len(a.subword_ids) for p, a in zip(paired, alone)] == [1] * 4

    # predict: each line keeps its two texts and gets its label in column 2
    output = tmp_path / "predicted.tsv"
    assert main(["predict", str(run / "model"), str(dev), str(output)]) == 0
    written = output.read_text(encoding="utf-8").splitlines()
    assert len(written) == len(QNLI.splitlines())
    for line, source in zip(written, QNLI.splitlines()):
        fields = line.split("\t")
        assert fields[:2] == source.split("\t")[:2] and len(fields) == 3
        assert fields[2] in LABELS

    # a file without the label column gets the label added after the texts
    unlabelled = write(
        tmp_path / "questions.tsv",
        "".join("\t".join(line.split("\t")[:2]) + "\n" for line in QNLI.splitlines()),
    )
    added = tmp_path / "added.tsv"
    assert main(["predict", str(run / "model"), str(unlabelled), str(added)]) == 0
    rows = [line.split("\t") for line in Path(added).read_text(encoding="utf-8").splitlines()]
    assert [r[:2] for r in rows] == [line.split("\t")[:2] for line in QNLI.splitlines()]
    assert [r[2] for r in rows] == [line.split("\t")[2] for line in written]
