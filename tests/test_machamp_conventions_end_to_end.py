"""MaChAmp users' dataset configs, unchanged, through the real command line: ``train`` then
``predict`` with the tiny model on

- ``configs/nlu.json``'s layout: an xSID-style file with slots in column 3 and the intent, a
  ``classification`` task with ``column_idx`` -1, in a ``# intent: X`` comment before each
  sentence;
- ``configs/ewt.json``'s layout: extensionless UD CoNLL-U files (``ewt.train``, ``ewt.dev``) with
  multiword tokens, empty nodes and comments, ``word_idx`` 1, ``upos`` in column 3 and the
  parser's ``column_idx`` 6 (HEAD, with DEPREL in the next column).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from machamp_lite.cli import main
from machamp_lite.modules.mst import is_tree

from conftest import ROOT, one_error, tiny_training_params, train_command, write

INTENTS = {
    "alarm/set_alarm": [
        ("wake", "O"),
        ("me", "O"),
        ("at", "O"),
        ("seven", "B-datetime"),
    ],
    "weather/find": [
        ("is", "O"),
        ("it", "O"),
        ("cold", "B-weather/attribute"),
        ("in", "O"),
        ("Oslo", "B-location"),
    ],
}


def xsid_sentence(index: int, intent: str, labelled: bool = True) -> str:
    """One xSID 0.3 sentence: ID, word, intent, slot columns after the id and text comments and
    ``# intent: X``; unlabelled, without the intent comment and with ``_`` for the slots."""
    words = INTENTS[intent]
    lines = [f"# id: {index}", "# text: " + " ".join(word for word, _ in words)]
    if labelled:
        lines.append(f"# intent: {intent}")
    for i, (word, slot) in enumerate(words, 1):
        lines.append(f"{i}\t{word}\t{intent}\t{slot if labelled else '_'}")
    return "\n".join(lines) + "\n"


def run(arguments: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(arguments, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def train_and_predict(tmp_path: Path, tiny_model: Path, config: Path, source: Path) -> tuple:
    """Train from ``config`` on the command line, predict ``source``; (metrics, output text)."""
    params = tiny_training_params(
        tmp_path / "params.json", tiny_model, 3, batching={"batch_size": 8, "max_tokens": 1024}
    )
    run(train_command(config, params, tmp_path / "logs", "--name", "m", "--seed", "1"))
    [run_dir] = [p for p in (tmp_path / "logs" / "m").iterdir() if p.is_dir()]
    output = tmp_path / "predicted"
    predict = [sys.executable, "-m", "machamp_lite", "predict", str(run_dir / "model")]
    run([*predict, str(source), str(output), "--device", "cpu", "--threads", "1"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return metrics, output.read_text(encoding="utf-8"), run_dir


def test_machamps_nlu_config_trains_and_predicts_intents_into_comments(tmp_path, tiny_model):
    train = write(
        tmp_path / "en.train.conll",
        "\n".join(xsid_sentence(i, list(INTENTS)[i % 2]) for i in range(8)) + "\n",
    )
    unlabelled = "\n".join(
        xsid_sentence(i, intent, labelled=False) for i, intent in enumerate(INTENTS)
    )
    test = write(tmp_path / "en.test.conll", unlabelled)
    config = write(
        tmp_path / "nlu.json",
        json.dumps(
            {
                "NLU": {
                    "train_data_path": str(train),
                    "dev_data_path": str(train),
                    "word_idx": 1,
                    "tasks": {
                        "slots": {"task_type": "seq", "column_idx": 3},
                        "intent": {"task_type": "classification", "column_idx": -1},
                    },
                }
            }
        ),
    )
    metrics, output, _ = train_and_predict(tmp_path, tiny_model, config, test)
    assert {"NLU/slots", "NLU/intent"} <= set(metrics["best_dev"])
    assert metrics["best_dev"]["NLU/intent"]["total"] == 8  # one intent per dev sentence

    before, after = unlabelled.split("\n"), output.split("\n")
    intents = [line for line in after if line.startswith("# intent = ")]
    assert len(intents) == 2 and len(after) == len(before) + 2
    assert {line.removeprefix("# intent = ") for line in intents} <= set(INTENTS)
    # Each new comment follows its sentence's own comments; every other line is the input's,
    # with a slot label in column 3.
    positions = [i for i, line in enumerate(after) if line.startswith("# intent = ")]
    assert positions == [2, before.index("# id: 1") + 3] and after[:2] == before[:2]
    slots = {slot for words in INTENTS.values() for _, slot in words}
    rest = [line for line in after if not line.startswith("# intent = ")]
    assert len(rest) == len(before)
    for old, new in zip(before, rest):
        if old[:1].isdigit():
            *kept, slot = new.split("\t")
            assert kept == old.split("\t")[:3] and slot in slots
        else:
            assert new == old


# Sentences of UD English and French (hand-checked), with a multiword token ("du" = de + le),
# an empty node (5.1) and enhanced DEPS that the writer must leave alone.
UD_SENTENCES = [
    (
        "# sent_id = s1\n# text = The dog barks.\n"
        "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t2:det\t_\n"
        "2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t3:nsubj\t_\n"
        "3\tbarks\tbark\tVERB\tVBZ\t_\t0\troot\t0:root\tSpaceAfter=No\n"
        "4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_\n"
    ),
    (
        "# sent_id = s2\n# text = Il parle du livre.\n"
        "1\tIl\til\tPRON\t_\t_\t2\tnsubj\t2:nsubj\t_\n"
        "2\tparle\tparler\tVERB\t_\t_\t0\troot\t0:root\t_\n"
        "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "3\tde\tde\tADP\t_\t_\t5\tcase\t5:case\t_\n"
        "4\tle\tle\tDET\t_\t_\t5\tdet\t5:det\t_\n"
        "5\tlivre\tlivre\tNOUN\t_\t_\t2\tobl\t2:obl:de\tSpaceAfter=No\n"
        "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_\n"
    ),
    (
        "# sent_id = s3\n# text = She ate apples and he pears.\n"
        "1\tShe\tshe\tPRON\tPRP\t_\t2\tnsubj\t2:nsubj\t_\n"
        "2\tate\teat\tVERB\tVBD\t_\t0\troot\t0:root\t_\n"
        "3\tapples\tapple\tNOUN\tNNS\t_\t2\tobj\t2:obj\t_\n"
        "4\tand\tand\tCCONJ\tCC\t_\t5\tcc\t5.1:cc\t_\n"
        "5\the\the\tPRON\tPRP\t_\t2\tconj\t5.1:nsubj\t_\n"
        "5.1\tate\teat\tVERB\tVBD\t_\t_\t_\t2:conj\tCopyOf=2\n"
        "6\tpears\tpear\tNOUN\tNNS\t_\t5\torphan\t5.1:obj\tSpaceAfter=No\n"
        "7\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_\n"
    ),
]


def test_machamps_ewt_config_parses_extensionless_ud_files(tmp_path, tiny_model):
    train = write(tmp_path / "ewt.train", "# newdoc id = d\n" + "\n".join(UD_SENTENCES * 3) + "\n")
    dev_text = "\n".join(UD_SENTENCES) + "\n"
    dev = write(tmp_path / "ewt.dev", dev_text)
    config = write(
        tmp_path / "ewt.json",
        json.dumps(
            {
                "UD_EWT": {
                    "train_data_path": str(train),
                    "dev_data_path": str(dev),
                    "word_idx": 1,
                    "tasks": {
                        "upos": {"task_type": "seq", "column_idx": 3},
                        "dependency": {"task_type": "dependency", "column_idx": 6},
                    },
                }
            }
        ),
    )
    metrics, output, run_dir = train_and_predict(tmp_path, tiny_model, config, dev)
    assert metrics["best_dev"]["UD_EWT/dependency"]["total"] == 4 + 6 + 7  # words, not lines
    assert {"las", "uas"} <= set(metrics["best_dev"]["UD_EWT/dependency"])
    written = (run_dir / "dev_predictions" / "UD_EWT" / "ewt.dev").read_text(encoding="utf-8")
    for predicted in (output, written):
        before, after = dev_text.split("\n"), predicted.split("\n")
        assert len(after) == len(before) and after.count("") == before.count("")
        heads: list[int] = []
        for old, new in zip(before, after):
            if not old.split("\t")[0].isdigit():  # comments, blank lines, 3-4 and 5.1
                assert new == old
                if not old and heads:
                    assert is_tree(heads, single_root=True)
                    heads = []
                continue
            old_fields, new_fields = old.split("\t"), new.split("\t")
            unchanged = [0, 1, 2, 4, 5, 8, 9]
            assert [new_fields[i] for i in unchanged] == [old_fields[i] for i in unchanged]
            assert new_fields[6].isdigit() and new_fields[7] not in ("", "_", new_fields[6])
            heads.append(int(new_fields[6]))


def test_the_old_head_convention_stops_training_with_one_error(tmp_path, tiny_model, capsys):
    """A config written for machamp-lite's old convention (column_idx 7, the DEPREL column)
    never trains on swapped columns: one error line naming the file, the line and the key."""
    train = write(tmp_path / "ewt.train", "\n".join(UD_SENTENCES) + "\n")
    tasks = {"dependency": {"task_type": "dependency", "column_idx": 7}}
    config = write(
        tmp_path / "ewt.json",
        json.dumps({"UD_EWT": {"train_data_path": str(train), "word_idx": 1, "tasks": tasks}}),
    )
    params = tiny_training_params(tmp_path / "params.json", tiny_model, 1)
    code = main(train_command(config, params, tmp_path / "logs")[3:])
    error = one_error(capsys, code)
    assert error.startswith(f"error: {train}, line 3: task 'dependency' of dataset 'UD_EWT'")
    assert "\"column_idx\" is 7, and column 7 holds 'det'" in error
    assert error.endswith('set "column_idx" to 6')
    assert not list((tmp_path / "logs").glob("*/*/model"))
