"""MaChAmp's other task types end to end: ``multiseq`` (FEATS), ``string2string`` (lemmas),
``dependency`` (head + deprel) on CoNLL-U with multiword tokens and empty nodes, ``regression``
on sentence + score TSV, and the four UD tasks together in one dataset. Each trains from a
dataset config, loads from its archive and labels the dev file in place."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import machamp_lite
from machamp_lite.modules.mst import is_tree
from machamp_lite.predict import Predictor

from conftest import write

# English sentences annotated by hand (UD v2 style): ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL
# DEPS MISC, written with spaces and turned into tabs below. "cannot" is a multiword token
# (can + not); the ellipsis sentence has an empty node.
SPACED = [
    """# sent_id = dog
# text = The dog barks.
1 The the DET DT Definite=Def|PronType=Art 2 det _ _
2 dog dog NOUN NN Number=Sing 3 nsubj _ _
3 barks bark VERB VBZ Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin 0 root _ SpaceAfter=No
4 . . PUNCT . _ 3 punct _ _
""",
    """# sent_id = running
# text = Dogs were running home.
1 Dogs dog NOUN NNS Number=Plur 3 nsubj _ _
2 were be AUX VBD Mood=Ind|Tense=Past|VerbForm=Fin 3 aux _ _
3 running run VERB VBG Tense=Pres|VerbForm=Part 0 root _ _
4 home home ADV RB _ 3 advmod _ SpaceAfter=No
5 . . PUNCT . _ 3 punct _ _
""",
    """# sent_id = geese
# text = She cannot see the geese.
1 She she PRON PRP Case=Nom|Gender=Fem|Number=Sing|Person=3|PronType=Prs 4 nsubj _ _
2-3 cannot _ _ _ _ _ _ _ _
2 can can AUX MD VerbForm=Fin 4 aux _ _
3 not not PART RB Polarity=Neg 4 advmod _ _
4 see see VERB VB VerbForm=Inf 0 root _ _
5 the the DET DT Definite=Def|PronType=Art 6 det _ _
6 geese goose NOUN NNS Number=Plur 4 obj _ SpaceAfter=No
7 . . PUNCT . _ 4 punct _ _
""",
    """# sent_id = paris
# text = Paris has two museums.
1 Paris Paris PROPN NNP Number=Sing 2 nsubj _ _
2 has have VERB VBZ Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin 0 root _ _
3 two two NUM CD NumForm=Word|NumType=Card 4 nummod _ _
4 museums museum NOUN NNS Number=Plur 2 obj _ SpaceAfter=No
5 . . PUNCT . _ 2 punct _ _
""",
    """# sent_id = cats
# text = I studied the cats.
1 I I PRON PRP Case=Nom|Number=Sing|Person=1|PronType=Prs 2 nsubj _ _
2 studied study VERB VBD Mood=Ind|Tense=Past|VerbForm=Fin 0 root _ _
3 the the DET DT Definite=Def|PronType=Art 4 det _ _
4 cats cat NOUN NNS Number=Plur 2 obj _ SpaceAfter=No
5 . . PUNCT . _ 2 punct _ _
""",
    """# sent_id = pears
# text = She ate apples and he pears.
1 She she PRON PRP Case=Nom|Gender=Fem|Number=Sing|Person=3|PronType=Prs 2 nsubj _ _
2 ate eat VERB VBD Mood=Ind|Tense=Past|VerbForm=Fin 0 root _ _
3 apples apple NOUN NNS Number=Plur 2 obj _ _
4 and and CCONJ CC _ 5 cc _ _
5 he he PRON PRP Case=Nom|Gender=Masc|Number=Sing|Person=3|PronType=Prs 2 conj _ _
5.1 ate eat VERB VBD Mood=Ind|Tense=Past|VerbForm=Fin _ _ 2:conj CopyOf=2
6 pears pear NOUN NNS Number=Plur 5 orphan _ SpaceAfter=No
7 . . PUNCT . _ 2 punct _ _
""",
    """# sent_id = london
# text = The children played in London.
1 The the DET DT Definite=Def|PronType=Art 2 det _ _
2 children child NOUN NNS Number=Plur 3 nsubj _ _
3 played play VERB VBD Mood=Ind|Tense=Past|VerbForm=Fin 0 root _ _
4 in in ADP IN _ 5 case _ _
5 London London PROPN NNP Number=Sing 3 obl _ SpaceAfter=No
6 . . PUNCT . _ 3 punct _ _
""",
    """# sent_id = happy
# text = He is happy.
1 He he PRON PRP Case=Nom|Gender=Masc|Number=Sing|Person=3|PronType=Prs 3 nsubj _ _
2 is be AUX VBZ Mood=Ind|Number=Sing|Person=3|Tense=Pres|VerbForm=Fin 3 cop _ _
3 happy happy ADJ JJ Degree=Pos 0 root _ SpaceAfter=No
4 . . PUNCT . _ 3 punct _ _
""",
]


def tabbed(block: str) -> str:
    """Token lines with their single spaces turned into the tabs CoNLL-U requires."""
    return "\n".join(
        line.replace(" ", "\t") if line[:1].isdigit() else line for line in block.split("\n")
    )


SENTENCES = [tabbed(block) for block in SPACED]
TRAIN = "\n".join(SENTENCES) + "\n"
DEV = "\n".join(SENTENCES[1:3] + SENTENCES[5:6]) + "\n"  # MWT and empty node included

UD_TASKS = {
    "upos": {"task_type": "seq", "column_idx": 3},
    "feats": {"task_type": "multiseq", "column_idx": 5},
    "lemma": {"task_type": "string2string", "column_idx": 2},
    "dependency": {"task_type": "dependency", "column_idx": 6},
}


def ud_dataset(folder: Path, tasks: dict, **extra) -> Path:
    train = write(folder / "en_train.conllu", TRAIN)
    dev = write(folder / "en_dev.conllu", DEV)
    config = {
        "ud": {"train_data_path": str(train), "dev_data_path": str(dev), "tasks": tasks, **extra}
    }
    return write(folder / "ud.json", json.dumps(config))


def train_quietly(config: Path, params: Path, folder: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dev labels unseen in training, tiny-data noise
        return machamp_lite.train([str(config)], str(params), output_dir=str(folder / "logs"))


def token_lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.split("\n") if line[:1].isdigit()]


def word_lines(text: str) -> list[list[str]]:
    return [fields for fields in token_lines(text) if fields[0].isdigit()]


def check_labels(task: str, fields: list[str]) -> None:
    """The predicted field(s) of one word line are well-formed for the task."""
    if task == "upos":
        assert fields[3] in {"DET", "NOUN", "VERB", "PUNCT", "AUX", "ADV", "PRON", "PART", "PROPN",
                             "NUM", "ADJ", "ADP", "CCONJ"}  # fmt: skip
    elif task == "feats":
        assert fields[5] == "_" or all("=" in f for f in fields[5].split("|"))
    elif task == "lemma":
        assert fields[2] and " " not in fields[2]
    elif task == "dependency":
        assert fields[6].isdigit() and fields[7] not in ("", "_")


def check_predicted_file(source: str, output: str, tasks: list[str]) -> None:
    source_lines, output_lines = source.split("\n"), output.split("\n")
    assert len(output_lines) == len(source_lines)
    columns = {"upos": [3], "feats": [5], "lemma": [2], "dependency": [6, 7]}
    changed = {c for t in tasks for c in columns[t]}
    for before, after in zip(source_lines, output_lines):
        if not before[:1].isdigit() or not before.split("\t")[0].isdigit():
            assert after == before  # comments, blank lines, multiword tokens, empty nodes
            continue
        old, new = before.split("\t"), after.split("\t")
        assert len(new) == 10
        assert [f for i, f in enumerate(new) if i not in changed] == [
            f for i, f in enumerate(old) if i not in changed
        ]
        for task in tasks:
            check_labels(task, new)
    if "dependency" in tasks:
        for block in output.strip().split("\n\n"):
            heads = [int(fields[6]) for fields in word_lines(block)]
            assert is_tree(heads, single_root=True)


@pytest.mark.parametrize(
    "task, metric_keys",
    [
        ("feats", {"accuracy", "micro_f1", "score"}),
        ("lemma", {"accuracy", "score"}),
        ("dependency", {"las", "uas", "score"}),
    ],
)
def test_a_ud_task_type_trains_loads_and_labels_conllu_in_place(
    tmp_path, tiny_params, task, metric_keys
):
    config = ud_dataset(tmp_path, {task: UD_TASKS[task]})
    run = train_quietly(config, tiny_params, tmp_path)
    result = json.loads((run / "metrics.json").read_text())["best_dev"][f"ud/{task}"]
    assert metric_keys <= set(result) and result["total"] == len(word_lines(DEV))
    # The trainer wrote its dev predictions in place too.
    written = (run / "dev_predictions" / "ud" / "en_dev.conllu").read_text(encoding="utf-8")
    check_predicted_file(DEV, written, [task])

    predictor = Predictor.load(run / "model", device="cpu")
    words = ["The", "cats", "ate", "the", "apples", "."]
    [predicted] = predictor.predict([words])
    assert len(predicted[task]) == len(words)
    output = tmp_path / "predicted.conllu"
    assert predictor.predict_file(str(tmp_path / "en_dev.conllu"), str(output)) == 3
    check_predicted_file(DEV, output.read_text(encoding="utf-8"), [task])
    if task == "dependency":
        heads = [int(label.split("\t")[0]) for label in predicted[task]]
        assert is_tree(heads, single_root=True)
        # The vocabulary holds relations, not head + relation pairs.
        vocabulary = json.loads((run / "model" / "vocabularies.json").read_text())[task]
        assert {"nsubj", "root", "orphan"} <= set(vocabulary)
        assert not any("\t" in label for label in vocabulary)


def test_four_ud_tasks_train_together_on_one_conllu_dataset(tmp_path, tiny_params):
    config = ud_dataset(tmp_path, UD_TASKS, separator="tab")
    run = train_quietly(config, tiny_params, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["best_dev"]) == {f"ud/{t}" for t in UD_TASKS}
    assert metrics["best_dev_sum"] == pytest.approx(
        sum(r["score"] for r in metrics["best_dev"].values())
    )
    vocabularies = json.loads((run / "model" / "vocabularies.json").read_text())
    assert (
        "Number=Plur" in vocabularies["feats"]
        and "Case=Nom|Number=Sing" not in (vocabularies["feats"])
    )
    assert "K1+" in vocabularies["lemma"]  # dogs -> dog, cats -> cat, ...

    predictor = Predictor.load(run / "model", device="cpu")
    output = tmp_path / "predicted.conllu"
    predictor.predict_file(str(tmp_path / "en_dev.conllu"), str(output))
    check_predicted_file(DEV, output.read_text(encoding="utf-8"), list(UD_TASKS))


def test_the_four_ud_tasks_train_and_predict_under_bf16_autocast(tmp_path, tiny_params):
    """bf16 (the default where the processor computes it) reaches every decoder: the
    dependency decoder's bilinear relation scorer once got bf16 inputs beside float32 weights
    and stopped training with a dtype error."""
    config = ud_dataset(tmp_path, UD_TASKS, separator="tab")
    params = json.loads(tiny_params.read_text())
    params["training"]["precision"] = "bf16"
    run = train_quietly(config, write(tmp_path / "bf16.json", json.dumps(params)), tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["precision"] == "bf16" and set(metrics["best_dev"]) == {
        f"ud/{t}" for t in UD_TASKS
    }
    predictor = Predictor.load(run / "model", device="cpu", precision="bf16")
    output = tmp_path / "predicted.conllu"
    predictor.predict_file(str(tmp_path / "en_dev.conllu"), str(output))
    check_predicted_file(DEV, output.read_text(encoding="utf-8"), list(UD_TASKS))


SCORES = [
    ("a wonderful warm film", "4.5"),
    ("dull and far too long", "1.0"),
    ("good acting , weak story", "3"),
    ("the best film of the year", "5"),
    ("a boring mess", "0.5"),
    ("fine for a rainy day", "2.75"),
]


def test_regression_trains_on_sentence_and_score_tsv_and_predicts_numbers(tmp_path, tiny_params):
    train = write(tmp_path / "train.tsv", "".join(f"{s}\t{v}\n" for s, v in SCORES * 2))
    dev_text = "".join(f"{s}\t{v}\n" for s, v in SCORES[:3])
    dev = write(tmp_path / "dev.tsv", dev_text)
    config = write(
        tmp_path / "reviews.json",
        json.dumps(
            {
                "reviews": {
                    "train_data_path": str(train),
                    "dev_data_path": str(dev),
                    "tasks": {"rating": {"task_type": "regression", "column_idx": 1}},
                }
            }
        ),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dev numbers unseen in training are not "unseen labels"
        run = machamp_lite.train([str(config)], str(tiny_params), output_dir=str(tmp_path / "l"))
    result = json.loads((run / "metrics.json").read_text())["best_dev"]["reviews/rating"]
    assert result["score"] == pytest.approx(-result["mse"]) and result["total"] == 3
    vocabularies = json.loads((run / "model" / "vocabularies.json").read_text())
    assert vocabularies["rating"] == []

    predictor = Predictor.load(run / "model", device="cpu")
    predicted = predictor.predict([["a", "good", "film"], ["too", "long"]])
    values = [float(p["rating"]) for p in predicted]
    assert all(abs(v) < 100 for v in values)
    assert all(p["rating"] == repr(float(p["rating"])) for p in predicted)
    output = tmp_path / "predicted.tsv"
    assert predictor.predict_file(str(dev), str(output)) == 3
    # Each sentence's line keeps its text and gets the predicted score in the label column.
    lines = output.read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == [s for s, _ in SCORES[:3]]
    assert all(
        float(line.split("\t")[1]) == pytest.approx(float(line.split("\t")[1]))
        and line.split("\t")[1] == repr(float(line.split("\t")[1]))
        for line in lines
    )
    assert output.read_text() != dev_text
