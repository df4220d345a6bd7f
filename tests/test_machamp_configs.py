"""MaChAmp's own configs train here as MaChAmp's test scenario runs them (issue 14): each of
its ``configs/*.json`` whose task types exist here, one run per config as its
``scripts/test/1.train.sh`` does, with each of its parameter files (``configs/params.json`` of
v0.4.0 and the v0.4.2 ``scripts/test/params-*div*`` files), changed only in the data paths and
the encoder (the tiny model), through the real command line; then ``predict`` and scoring.

The data are small files in the formats that scenario reads: raw UD CoNLL-U without a suffix
(multiword tokens, empty nodes, comments), token/tag TSV, xSID's intent-in-comment CoNLL, a
GLUE sentence-pair TSV and an STS-B TSV with a header line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, train_command, write

MACHAMP = Path(__file__).parent / "machamp_configs"
PARAMS = ["params-v0.4.0.json", "params-nodiv-1.json", "params-div-0.json"]

EWT = """# sent_id = a-1
# text = Anna's cat sleeps.
1-2\tAnna's\t_\t_\t_\t_\t_\t_\t_\t_
1\tAnna\tAnna\tPROPN\tNNP\tNumber=Sing\t3\tnmod:poss\t3:nmod:poss\t_
2\t's\t's\tPART\tPOS\t_\t1\tcase\t1:case\t_
3\tcat\tcat\tNOUN\tNN\tNumber=Sing\t4\tnsubj\t4:nsubj\t_
4\tsleeps\tsleep\tVERB\tVBZ\tMood=Ind|Tense=Pres\t0\troot\t0:root\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_

# sent_id = a-2
# text = Bob runs and Anna too.
1\tBob\tBob\tPROPN\tNNP\tNumber=Sing\t2\tnsubj\t2:nsubj\t_
2\truns\trun\tVERB\tVBZ\tMood=Ind|Tense=Pres\t0\troot\t0:root\t_
3\tand\tand\tCCONJ\tCC\t_\t4\tcc\t4:cc\t_
4\tAnna\tAnna\tPROPN\tNNP\tNumber=Sing\t2\tconj\t2:conj\t_
4.1\truns\trun\tVERB\tVBZ\t_\t_\t_\t2:conj\tCopyOf=2
5\ttoo\ttoo\tADV\tRB\t_\t4\tadvmod\t4:advmod\tSpaceAfter=No
6\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_

"""
NER = "Anna\tB-PER\nbor\tO\ni\tO\nKøbenhavn\tB-LOC\n\nBob\tB-PER\nsover\tO\n\n"
NLU = """# text: add anna to my playlist
# intent: AddToPlaylist
1\tadd\tAddToPlaylist\tO
2\tanna\tAddToPlaylist\tB-artist
3\tto\tAddToPlaylist\tO
4\tmy\tAddToPlaylist\tO
5\tplaylist\tAddToPlaylist\tO

# text: play bob
# intent: PlayMusic
1\tplay\tPlayMusic\tO
2\tbob\tPlayMusic\tB-artist

"""
QNLI = "what does anna do ?\tanna sleeps\tentailment\nwho runs ?\tthe cat sleeps\tnot_entailment\n"
STS_HEADER = (
    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
)
STS_ROW = "{i}\tmain-captions\tMSRvid\t2012test\t000{i}\tnone\tnone\t{a}\t{b}\t{score}\n"
STS = STS_HEADER + "".join(
    STS_ROW.format(i=i, a=a, b=b, score=score)
    for i, (a, b, score) in enumerate(
        [("anna sleeps", "anna is asleep", "4.2"), ("bob runs", "the cat sleeps", "0.4")]
    )
)

# Each config: its data files (MaChAmp path -> content), repeated to a few sentences.
CONFIGS = {
    "ewt.json": {"data/ewt.train": EWT * 3, "data/ewt.dev": EWT},
    "ner.json": {"data/da_news_train.tsv": NER * 3, "data/da_news_dev.tsv": NER},
    "nlu.json": {
        "data/xSID-0.3/en.train.conll": NLU * 3,
        "data/xSID-0.3/en.valid.conll": NLU,
    },
    "qnli.json": {"data/glue/QNLI.train": QNLI * 3, "data/glue/QNLI.dev": QNLI},
    "sts.json": {
        "data/GLUE-baselines/glue_data/STS-B/train.tsv": STS + STS.split("\n", 1)[1] * 2,
        "data/GLUE-baselines/glue_data/STS-B/dev.tsv": STS,
    },
}


def machamp_file(name: str, folder: Path, replacements: dict[str, str]) -> Path:
    """MaChAmp's file ``name`` with only the given strings replaced, written to ``folder``."""
    text = (MACHAMP / name).read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, f"{name} no longer holds {old!r}"
        text = text.replace(old, new)
    return write(folder / name, text)


def cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "machamp_lite", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("params_name", PARAMS)
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_machamps_config_trains_predicts_and_scores(tmp_path, tiny_model, config_name, params_name):
    data = {}
    for machamp_path, content in CONFIGS[config_name].items():
        data[machamp_path] = str(write(tmp_path / Path(machamp_path).name, content))
    config = machamp_file(config_name, tmp_path, data)
    params = machamp_file(
        params_name, tmp_path, {'"bert-base-multilingual-cased"': json.dumps(str(tiny_model))}
    )
    output = tmp_path / "logs"
    trained = subprocess.run(
        train_command(config, params, output), capture_output=True, text=True, check=False
    )
    assert trained.returncode == 0, trained.stderr
    assert "read as a MaChAmp parameters file" in trained.stderr
    [run] = (output / "run").iterdir()
    report = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert len(report["epochs"]) == 20  # MaChAmp's num_epochs, unchanged
    best = report["epochs"][report["best_epoch"] - 1]
    assert best["dev"] and all(0 <= result["score"] for result in best["dev"].values())
    dataset = json.loads((run / "datasets.json").read_text(encoding="utf-8"))
    [(name, resolved)] = dataset.items()
    dev = Path(resolved["dev_data_path"])
    predicted = tmp_path / f"predicted{dev.suffix}"
    prediction = cli("predict", str(run / "model"), str(dev), str(predicted), "--device", "cpu")
    assert prediction.returncode == 0, prediction.stderr
    assert_aligned(dev, predicted, config_name)
    if config_name in ("ner.json", "ewt.json"):
        column = ["--label_column", "3", "--no_spans", "--metrics", "accuracy"]
        scored = cli(
            "evaluate",
            str(dev),
            str(predicted),
            "--json",
            *(column if config_name == "ewt.json" else []),
        )
        assert scored.returncode == 0, scored.stderr
        assert json.loads(scored.stdout)  # a score of the prediction against the dev file


def assert_aligned(gold: Path, predicted: Path, config_name: str) -> None:
    """The prediction file is the dev file with labels filled in: the same lines, the same
    words (and comments, multiword tokens and empty nodes) in the same places."""
    gold_lines = gold.read_text(encoding="utf-8").splitlines()
    lines = predicted.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(gold_lines)
    word_column = 1 if config_name in ("ewt.json", "nlu.json") else 0
    for ours, theirs in zip(lines, gold_lines):
        if theirs.startswith("#") or not theirs:
            assert ours.startswith("#") == theirs.startswith("#")
            continue
        assert ours.split("\t")[word_column] == theirs.split("\t")[word_column]
        word_id = theirs.split("\t")[0]
        if config_name == "ewt.json" and ("-" in word_id or "." in word_id):
            assert ours == theirs  # multiword tokens and empty nodes are written back as read


def test_machamps_multiseq_config_is_refused_with_the_key_it_misspells(tmp_path, tiny_model):
    """MaChAmp's configs/multiseq.json names ``column_idxs`` (MaChAmp itself stops with a
    KeyError on it): here one error that names the key it likely means."""
    train = write(tmp_path / "train.tsv", "Anna\tB-PER|B-X\nbor\tO\n\n")
    config = machamp_file(
        "multiseq.json",
        tmp_path,
        {"data/da_news_train_mh.tsv": str(train), "data/da_news_dev_mh.tsv": str(train)},
    )
    params = machamp_file(
        "params-nodiv-1.json",
        tmp_path,
        {'"bert-base-multilingual-cased"': json.dumps(str(tiny_model))},
    )
    result = cli("train", "--dataset_configs", str(config), "--parameters_config", str(params))
    assert result.returncode != 0
    assert result.stderr.strip().endswith(
        "task 'ner2': unknown key 'column_idxs'; did you mean 'column_idx'?"
    )
