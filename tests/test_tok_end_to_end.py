"""The tok task end to end with the real command line: MaChAmp's configs/tok.json and
ewt-tok.json shapes train on a small UD file written here, and ``predict --raw_text`` segments
untokenised text into CoNLL-U that our reader reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from machamp_lite.data.conllu_reader import ConlluReader
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.decoders.tok import TokenF1
from machamp_lite.segmentation import SPLIT, PiecesReader

from conftest import ROOT, tiny_training_params, train_command, write

# (text, [(form, upos, head, deprel), ...]); a form "a b" marks a multiword token over "a", "b".
SENTENCES = [
    (
        "I don't like it.",
        [
            ("I", "PRON", 3, "nsubj"),
            ("don't=do n't", "AUX PART", 3, "aux"),
            ("like", "VERB", 0, "root"),
            ("it", "PRON", 3, "obj"),
            (".", "PUNCT", 3, "punct"),
        ],
    ),
    (
        "Hi, you!",
        [
            ("Hi", "INTJ", 0, "root"),
            (",", "PUNCT", 1, "punct"),
            ("you", "PRON", 1, "vocative"),
            ("!", "PUNCT", 1, "punct"),
        ],
    ),
    (
        "The U.S. army is big.",
        [
            ("The", "DET", 2, "det"),
            ("U.S.", "PROPN", 3, "compound"),
            ("army", "NOUN", 5, "nsubj"),
            ("is", "AUX", 5, "cop"),
            ("big", "ADJ", 0, "root"),
            (".", "PUNCT", 5, "punct"),
        ],
    ),
    (
        "Send an e-mail (now)!",
        [
            ("Send", "VERB", 0, "root"),
            ("an", "DET", 3, "det"),
            ("e-mail", "NOUN", 1, "obj"),
            ("(", "PUNCT", 5, "punct"),
            ("now", "ADV", 1, "advmod"),
            (")", "PUNCT", 5, "punct"),
            ("!", "PUNCT", 1, "punct"),
        ],
    ),
    (
        "We can't go, sorry.",
        [
            ("We", "PRON", 3, "nsubj"),
            ("can't=ca n't", "AUX PART", 3, "aux"),
            ("go", "VERB", 0, "root"),
            (",", "PUNCT", 5, "punct"),
            ("sorry", "ADJ", 3, "discourse"),
            (".", "PUNCT", 3, "punct"),
        ],
    ),
    (
        # EWT splits "gonna" into two tokens: a boundary inside the piece, not learnable.
        "Im gonna go.",
        [
            ("Im", "PRON", 4, "nsubj"),
            ("gon", "VERB", 4, "aux"),
            ("na", "PART", 4, "mark"),
            ("go", "VERB", 0, "root"),
            (".", "PUNCT", 4, "punct"),
        ],
    ),
]
TOKENIZATION = {"tokenization": {"task_type": "tok", "column_idx": -1}}
WORD_TASKS = {
    "upos": {"task_type": "seq", "column_idx": 3},
    "lemma": {"task_type": "string2string", "column_idx": 2},
    "feats": {"task_type": "seq", "column_idx": 5},
    "dependency": {"task_type": "dependency", "column_idx": 6},
}


def ud_block(number: int, text: str, tokens: list) -> str:
    """One CoNLL-U sentence; multiword tokens get a range line and their words."""
    lines = [f"# sent_id = {number}", f"# text = {text}"]
    words: list[tuple[str, str, int, str]] = []
    rows: list[str] = []
    for form, upos, head, deprel in tokens:
        if "=" in form:
            surface, parts = form.split("=")
            first = len(words) + 1
            rows.append(f"{first}-{first + 1}\t{surface}" + "\t_" * 8)
            for part, tag in zip(parts.split(), upos.split()):
                words.append((part, tag, head, deprel))
                rows.append("")
        else:
            words.append((form, upos, head, deprel))
            rows.append("")
    index = 0
    for row in rows:
        if row:
            lines.append(row)
            continue
        form, upos, head, deprel = words[index]
        index += 1
        # Every word hangs from the root word (heads in SENTENCES count surface tokens, so
        # they are not used as numbers): a tree without loops.
        root = 1 + next(i for i, word in enumerate(words) if word[2] == 0)
        head = 0 if index == root else root
        lines.append(f"{index}\t{form}\t{form.lower()}\t{upos}\t_\t_\t{head}\t{deprel}\t_\t_")
    return "\n".join(lines) + "\n"


def ud_file(path: Path, repeats: int) -> Path:
    blocks = [
        ud_block(i * 10 + j + 1, t, s) for i in range(repeats) for j, (t, s) in enumerate(SENTENCES)
    ]
    return write(path, "\n".join(blocks) + "\n")


@pytest.fixture(scope="module")
def tok_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ud")
    ud_file(folder / "train.conllu", 12)
    ud_file(folder / "dev.conllu", 1)
    return folder


def run(*arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "machamp_lite", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT)


def train(tmp_path: Path, data: Path, tasks: dict, tiny_model: Path, epochs: int) -> Path:
    config = {
        "UD_EWT": {
            "train_data_path": str(data / "train.conllu"),
            "dev_data_path": str(data / "dev.conllu"),
            "word_idx": 1,
            "tasks": tasks,
        }
    }
    config_path = write(tmp_path / "tok.json", json.dumps(config))
    params = tiny_training_params(
        tmp_path / "params.json", tiny_model, epochs, batching={"batch_size": 8}
    )
    done = subprocess.run(
        train_command(config_path, params, tmp_path / "logs", "--name", "tok"),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    # Read before the run directory (and its train.log) exists: the share is on the console.
    assert "token boundaries" in done.stderr and "fall inside a piece" in done.stderr
    [run_dir] = (tmp_path / "logs" / "tok").iterdir()
    return run_dir


def every_piece_a_token(path: Path) -> float:
    """The dev token F1 of labelling every piece ``split``."""
    sentences = PiecesReader().read(str(path), [TaskColumn("tok", -1)])
    metric = TokenF1()
    metric.update([s.labels["tok"] for s in sentences], [[SPLIT] * len(s) for s in sentences])
    return metric.compute()["score"]


RAW = "I don't like it.\n\nHi,   you!\nSend an e-mail (now)!\n"


def check_conllu_output(path: Path, lines: list[tuple[int, str]]) -> list:
    """The output is CoNLL-U our reader reads back: one sentence per non-blank input line, in
    order, each ``# sent_id`` its line number and its tokens spelling the line."""
    sentences = ConlluReader().read(str(path), [TaskColumn("upos", 3)])
    assert len(sentences) == len(lines)
    for sentence, (number, line) in zip(sentences, lines):
        assert sentence.sent_id == str(number)
        assert f"# text = {' '.join(line.split())}" in sentence.comments
        assert "".join(sentence.words) == "".join(line.split())
    return sentences


@pytest.mark.slow
def test_tok_json_trains_and_segments_raw_text(tmp_path, tok_data, tiny_model):
    run_dir = train(tmp_path, tok_data, TOKENIZATION, tiny_model, 4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scores = metrics["best_dev"]
    assert set(scores) >= {"UD_EWT/tokenization"}, scores
    # Learned: better than a token at every piece (the majority label).
    token_f1 = scores["UD_EWT/tokenization"]["additional_metrics"]["token_f1"]["score"]
    assert token_f1 > every_piece_a_token(tok_data / "dev.conllu") + 0.02, scores
    raw = write(tmp_path / "raw.txt", RAW)
    output = tmp_path / "out.conllu"
    done = run("predict", str(run_dir / "model"), str(raw), str(output), "--raw_text")
    assert done.returncode == 0, done.stderr
    lines = [(n, line) for n, line in enumerate(RAW.split("\n"), start=1) if line.strip()]
    check_conllu_output(output, lines)
    # --max_sents: the first N non-blank lines, segmented as in the full run.
    first = tmp_path / "first.conllu"
    done = run(
        "predict", str(run_dir / "model"), str(raw), str(first), "--raw_text", "--max_sents", "2"
    )
    assert done.returncode == 0, done.stderr
    check_conllu_output(first, lines[:2])
    assert output.read_text().startswith(first.read_text().rstrip("\n"))
    # Only blank lines: one error, no output.
    blank = write(tmp_path / "blank.txt", "\n  \n\t\n")
    none = tmp_path / "none.conllu"
    done = run("predict", str(run_dir / "model"), str(blank), str(none), "--raw_text")
    assert done.returncode == 2 and "blank.txt: file is empty" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not none.exists()
    # Without --raw_text a tok-only model has nothing to label in a tokenised file.
    done = run("predict", str(run_dir / "model"), str(tok_data / "dev.conllu"), str(output))
    assert done.returncode == 2 and "--raw_text" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_ewt_tok_json_trains_and_labels_the_tokens_it_finds(tmp_path, tok_data, tiny_model):
    run_dir = train(tmp_path, tok_data, {**WORD_TASKS, **TOKENIZATION}, tiny_model, 4)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scores = metrics["best_dev"]
    assert {"UD_EWT/upos", "UD_EWT-tokenization/tokenization"} <= set(scores), scores
    raw = write(tmp_path / "raw.txt", RAW)
    output = tmp_path / "out.conllu"
    done = run("predict", str(run_dir / "model"), str(raw), str(output), "--raw_text")
    assert done.returncode == 0, done.stderr
    lines = [(n, line) for n, line in enumerate(RAW.split("\n"), start=1) if line.strip()]
    sentences = check_conllu_output(output, lines)
    for sentence in sentences:
        assert all(tag != "_" for tag in sentence.labels["upos"])
    written = output.read_text().split("\n")
    token_lines = [line.split("\t") for line in written if line and not line.startswith("#")]
    assert all(len(fields) == 10 for fields in token_lines)
    assert all(fields[6].isdigit() and fields[7] != "_" for fields in token_lines)
    # A UD file without --raw_text: its own tokens, the word tasks predicted.
    predicted = tmp_path / "dev-pred.conllu"
    done = run("predict", str(run_dir / "model"), str(tok_data / "dev.conllu"), str(predicted))
    assert done.returncode == 0, done.stderr
    gold = (tok_data / "dev.conllu").read_text().split("\n")
    assert [line.split("\t")[:2] for line in predicted.read_text().split("\n")] == [
        line.split("\t")[:2] for line in gold
    ]
