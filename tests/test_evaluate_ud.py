"""``machamp-lite evaluate`` on CoNLL-U files: the CoNLL 2018 shared task scorer's metrics, with
numbers worked out by hand below, words aligned by characters when the tokenisation differs,
multiword tokens and empty nodes, the table and JSON output, and bad files as one error."""

from __future__ import annotations

import json

import pytest

from machamp_lite.cli import main
from machamp_lite.errors import DataError
from machamp_lite.evaluation_ud import evaluate_ud

from conftest import one_error, write


def conllu(*sentences: list[str]) -> str:
    """Sentences of rows ``"ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL"`` (space-separated; DEPS
    and MISC are ``_``), comments as they are."""
    blocks = []
    for rows in sentences:
        lines = []
        for row in rows:
            if row.startswith("#"):
                lines.append(row)
            else:
                lines.append("\t".join(row.split() + ["_", "_"]))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n"


# Sentence 1 has a multiword token (can't = ca + n't) and an empty node (4.1); sentence 2 a
# relation with a subtype (nmod:poss) and a gold lemma "_" (bowl).
GOLD = conllu(
    [
        "# sent_id = s1",
        "# text = Anna can't swim.",
        "1 Anna Anna PROPN NNP Number=Sing 4 nsubj",
        "2-3 can't _ _ _ _ _ _",
        "2 ca can AUX MD VerbForm=Fin 4 aux",
        "3 n't not PART RB Polarity=Neg 4 advmod",
        "4 swim swim VERB VB VerbForm=Inf 0 root",
        "4.1 swims swim VERB _ _ _ _",
        "5 . . PUNCT . _ 4 punct",
    ],
    [
        "# sent_id = s2",
        "1 The the DET DT Definite=Def|PronType=Art 2 det",
        "2 dog dog NOUN NN Number=Sing 4 nmod:poss",
        "3 's 's PART POS _ 2 case",
        "4 bowl _ NOUN NN Number=Sing 0 root",
    ],
)

# The same tokens; the differences from gold, word by word:
#   Anna:  relation obj (gold nsubj)             -> LAS, CLAS, LAS-full wrong
#   n't:   lemma n't (gold not)                  -> Lemmas wrong
#   swim:  FEATS Foo=Bar|VerbForm=Inf            -> Feats wrong; UFeats right (Foo is not universal)
#   .:     head 1 (gold 4)                       -> UAS, LAS, LAS-full wrong
#   dog:   relation nmod (gold nmod:poss)        -> LAS right (no subtypes), LAS-full wrong
#   's:    UPOS ADP (gold PART)                  -> UPOS, AllTags wrong
#   bowl:  lemma bowls (gold _), Number=Plur     -> Lemmas right (gold _); UFeats, Feats and
#                                                   AllTags wrong
# The empty node is left out (an empty node there or not changes nothing).
PRED = conllu(
    [
        "# sent_id = s1",
        "1 Anna Anna PROPN NNP Number=Sing 4 obj",
        "2-3 can't _ _ _ _ _ _",
        "2 ca can AUX MD VerbForm=Fin 4 aux",
        "3 n't n't PART RB Polarity=Neg 4 advmod",
        "4 swim swim VERB VB Foo=Bar|VerbForm=Inf 0 root",
        "5 . . PUNCT . _ 1 punct",
    ],
    [
        "# sent_id = s2",
        "1 The the DET DT Definite=Def|PronType=Art 2 det",
        "2 dog dog NOUN NN Number=Sing 4 nmod",
        "3 's 's ADP POS _ 2 case",
        "4 bowl bowls NOUN NN Number=Plur 0 root",
    ],
)
# 9 words each side, all aligned: correct counts, by hand from the list above.
SAME_TOKENS = {
    "Words": 9,
    "UPOS": 8,
    "XPOS": 9,
    "UFeats": 8,
    "AllTags": 7,
    "Lemmas": 8,
    "UAS": 8,
    "LAS": 7,
    "Feats": 7,
    "LAS-full": 6,
}

# Another tokenisation: "can't" is one word (no multiword token) and "dog's" one token.
# Text offsets (spaces left out): Anna 0-4, can't 4-9, swim 9-13, . 13-14 | The 14-17,
# gold dog 17-20 + 's 20-22 (pred dog's 17-22), bowl 22-26.
# Aligned words: Anna, swim, ., The, bowl (5 of 9 gold, 7 predicted): the multiword stretch
# ca + n't vs can't shares no form, and dog / 's do not match dog's's span.
TOKENISED = conllu(
    [
        "1 Anna Anna PROPN NNP Number=Sing 3 nsubj",
        "2 can't can AUX MD VerbForm=Fin 3 aux",
        "3 swim swim VERB VB VerbForm=Inf 0 root",
        "4 . . PUNCT . _ 1 punct",
    ],
    [
        "1 The the DET DT Definite=Def|PronType=Art 2 det",
        "2 dog's dog NOUN NN Number=Sing 3 nmod:poss",
        "3 bowl _ NOUN NN Number=Sing 0 root",
    ],
)


@pytest.fixture
def files(tmp_path):
    return {
        "gold": str(write(tmp_path / "gold.conllu", GOLD)),
        "pred": str(write(tmp_path / "pred.conllu", PRED)),
        # recognised by its content, as the readers recognise CoNLL-U
        "tokenised": str(write(tmp_path / "tokenised.txt", TOKENISED)),
    }


def test_same_tokenisation_scored_by_hand(files):
    scores = evaluate_ud([(files["gold"], files["pred"])])["scores"]
    for metric, correct in SAME_TOKENS.items():
        row = scores[metric]
        assert (row["gold"], row["predicted"], row["correct"]) == (9, 9, correct), metric
        # With the same tokens, F1 = P = R = accuracy over the (all aligned) words.
        assert row["f1"] == row["precision"] == row["recall"] == pytest.approx(correct / 9)
        if metric != "Words":
            assert row["aligned_accuracy"] == pytest.approx(correct / 9)
    assert scores["Tokens"]["correct"] == scores["Tokens"]["gold"] == 8
    assert scores["Sentences"]["correct"] == 2
    # CLAS: content relations only. Gold: Anna, n't, swim, dog, bowl (not aux, det, case,
    # punct); predicted: the same five (obj is one too); Anna's relation is wrong.
    assert (scores["CLAS"]["gold"], scores["CLAS"]["predicted"], scores["CLAS"]["correct"]) == (
        5,
        5,
        4,
    )


def test_different_tokenisation_aligned_by_characters(files):
    scores = evaluate_ud([(files["gold"], files["tokenised"])])["scores"]
    # Tokens: gold 8, predicted 7; the same spans: Anna, can't, swim, ., The, bowl.
    assert scores["Tokens"]["correct"] == 6 and scores["Tokens"]["predicted"] == 7
    assert scores["Tokens"]["f1"] == pytest.approx(2 * 6 / 15)
    words = scores["Words"]
    assert (words["gold"], words["predicted"], words["correct"]) == (9, 7, 5)
    assert words["precision"] == pytest.approx(5 / 7) and words["recall"] == pytest.approx(5 / 9)
    assert words["f1"] == pytest.approx(10 / 16)
    # Every aligned word has the gold UPOS: correct 5, accuracy over aligned words 1.
    assert scores["UPOS"]["correct"] == 5 and scores["UPOS"]["aligned_accuracy"] == 1.0
    # UAS: Anna -> swim and swim, bowl at the root are right; "." hangs from Anna, and The's
    # head dog's has no aligned gold word, so it cannot be gold's dog.
    assert scores["UAS"]["correct"] == 3 and scores["UAS"]["f1"] == pytest.approx(6 / 16)
    # CLAS: gold content words 5 (Anna, n't, swim, dog, bowl), predicted 4 (Anna, swim, dog's,
    # bowl); right: Anna, swim, bowl.
    clas = scores["CLAS"]
    assert (clas["gold"], clas["predicted"], clas["correct"]) == (5, 4, 3)
    assert scores["Sentences"]["correct"] == 2


def test_multiword_token_words_align_by_their_forms(tmp_path):
    """Inside a multiword token words align by their (lower-cased) forms, not their spans."""
    gold = write(
        tmp_path / "g.conllu",
        conllu(
            ["1-2 vámonos _ _ _ _ _ _", "1 Vamos ir VERB _ _ 0 root", "2 nos nos PRON _ _ 1 obj"]
        ),
    )
    pred = write(
        tmp_path / "p.conllu",
        conllu(["1-2 vámonos _ _ _ _ _ _", "1 VAMOS ir AUX _ _ 0 root", "2 no no PRON _ _ 1 obj"]),
    )
    scores = evaluate_ud([(str(gold), str(pred))])["scores"]
    assert scores["Words"]["correct"] == 1  # VAMOS ~ Vamos; "no" is not "nos"
    assert scores["UPOS"]["correct"] == 0 and scores["Lemmas"]["correct"] == 1


def test_feature_order_does_not_matter_and_ufeats_keeps_universal_only(tmp_path):
    gold = write(tmp_path / "g.conllu", conllu(["1 x x X _ Mood=Ind|VerbForm=Fin|Foo=1 0 root"]))
    pred = write(tmp_path / "p.conllu", conllu(["1 x x X _ VerbForm=Fin|Mood=Ind 0 root"]))
    scores = evaluate_ud([(str(gold), str(pred))])["scores"]
    assert scores["UFeats"]["correct"] == 1 and scores["Feats"]["correct"] == 0


def test_cli_prints_the_scores_without_flags(files, capsys):
    assert main(["evaluate", files["gold"], files["pred"]]) in (0, None)
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["UPOS"][1:7] == ["9", "9", "8", "88.89", "88.89", "88.89"]
    assert rows["LAS"][6] == "77.78" and rows["LAS-full"][6] == "66.67"
    assert rows["CLAS"][1:4] == ["5", "5", "4"]
    assert rows["Tokens"][1:4] == ["8", "8", "8"]
    assert "conll18_ud_eval.py" in out


def test_cli_json_and_several_pairs(files, capsys):
    main(["evaluate", files["gold"], files["pred"], files["gold"], files["tokenised"], "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "ud" and len(report["pairs"]) == 2
    first, second = (row["scores"]["UPOS"]["f1"] for row in report["pairs"])
    assert report["average"]["scores"]["UPOS"]["f1"] == pytest.approx((first + second) / 2)
    # pooled: counts added, UPOS correct 8 + 5 of gold 18 and predicted 16
    assert report["pooled"]["scores"]["UPOS"]["f1"] == pytest.approx(2 * 13 / 34)
    assert main(["evaluate", files["gold"], files["pred"], files["gold"], files["tokenised"]]) in (
        0,
        None,
    )
    table = capsys.readouterr().out
    assert "pooled" in table and "average (2)" in table


def test_compare_two_predictions(files, capsys):
    main(["evaluate", files["gold"], files["pred"], files["tokenised"], "--models", "A", "B"])
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["A"][3] == "100.00" and rows["B"][3] == "62.50"  # Words F1
    assert "pooled" not in rows


def test_empty_node_only_in_one_file_changes_nothing(tmp_path, files):
    without = write(
        tmp_path / "g2.conllu", GOLD.replace("4.1\tswims\tswim\tVERB\t_\t_\t_\t_\t_\t_\n", "")
    )
    assert "4.1" not in without.read_text()
    one = evaluate_ud([(files["gold"], files["pred"])])["scores"]
    two = evaluate_ud([(str(without), files["pred"])])["scores"]
    assert one == two


def test_missing_heads_leave_the_syntax_metrics_out_with_a_note(tmp_path, files, capsys):
    pred = write(tmp_path / "p.conllu", PRED.replace("Number=Sing\t4\tobj", "Number=Sing\t_\tobj"))
    report = evaluate_ud([(files["gold"], str(pred))])
    assert "UAS" not in report["scores"] and "LAS" not in report["scores"]
    assert report["scores"]["UPOS"]["correct"] == 8
    assert "line 2" in report["notes"][0] and "HEAD is '_'" in report["notes"][0]
    main(["evaluate", files["gold"], str(pred)])
    assert "note:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # a word whose text differs: named with its line in each file
        (lambda t: t.replace("1\tAnna\tAnna", "1\tAna\tAnna"), "line 2: the text differs"),
        (lambda t: t.replace("\tswim\tswim\tVERB", "\tswam\tswim\tVERB"), "token 'swam' here"),
        # nine columns
        (lambda t: t.replace("\tnmod\t_\t_", "\tnmod\t_"), "expected 10 tab-separated columns"),
        # a head outside the sentence, a word out of order, a multiword token without words
        (lambda t: t.replace("\t1\tpunct", "\t7\tpunct"), "HEAD '7'"),
        (lambda t: t.replace("4\tswim", "5\tswim"), "word ID '5' where 4 is due"),
        (lambda t: t.split("2\tca\t")[0] + "\n", "ends before its words"),
        # a sentence missing at the end
        (lambda t: t.split("# sent_id = s2")[0], "the end of the file"),
    ],
)
def test_bad_prediction_is_one_error(files, tmp_path, capsys, change, message):
    bad = write(tmp_path / "bad.conllu", change(PRED))
    code = main(["evaluate", files["gold"], str(bad)])
    error = one_error(capsys, code)
    assert message in error and "bad.conllu" in error


def test_text_difference_names_both_lines(files, tmp_path):
    bad = write(tmp_path / "bad.conllu", PRED.replace("3\t's\t's", "3\t'z\t's"))
    with pytest.raises(DataError) as caught:
        evaluate_ud([(files["gold"], str(bad))])
    message = str(caught.value)
    # 's is on line 12 of the prediction and line 14 of gold
    assert message.startswith(f"{bad}, line 12:") and "line 14 of" in message
    assert 'token "\'z" here, token "\'s" at line 14' in message


@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n\n"])
def test_empty_prediction_is_one_error(files, tmp_path, capsys, content):
    bad = write(tmp_path / "empty.conllu", content)
    assert "empty.conllu" in one_error(capsys, main(["evaluate", files["gold"], str(bad)]))


def layout(tokens: list[str]) -> str:
    """A one-sentence CoNLL-U file from tokens written as "form" (a word) or "form w1 w2 ..."
    (a multiword token and its words); every word hangs from the first."""
    rows, number = [], 0
    for token in tokens:
        form, *words = token.split()
        if words:
            rows.append(f"{number + 1}-{number + len(words)}\t{form}" + "\t_" * 8)
        for word in words or [form]:
            number += 1
            rows.append(f"{number}\t{word}\t_\t_\t_\t_\t{int(number > 1)}\tdep\t_\t_")
    return "\n".join(rows) + "\n\n"


@pytest.mark.parametrize(
    ("gold", "pred", "aligned"),
    [
        # the same words, with and without multiword tokens
        (["abc a b c"], ["a", "b", "c"], 3),
        (["a", "bc b c", "d"], ["a", "b", "c", "d"], 4),
        (["abcd a b c d"], ["ab a b", "cd c d"], 4),
        (["abc a b c", "de d e"], ["a", "bcd b c d", "e"], 5),
        # other tokenisations: only words with the same span (outside multiword tokens) or
        # the same lower-cased form (inside them) align
        (["abcd"], ["a", "b", "c", "d"], 0),
        (["abc", "d"], ["a", "b", "c", "d"], 1),
        (["a", "bc", "d"], ["a", "b", "c", "d"], 2),
        (["a", "bc b c", "d"], ["a", "b", "cd"], 2),
        (["abc a BX c", "def d EX f"], ["ab a b", "cd c d", "ef e f"], 4),
        (["ab a b", "cd bc d"], ["a", "bc", "d"], 2),
        (["a", "bc b c", "d"], ["ab AX BX", "cd CX a"], 1),
    ],
)
def test_word_alignment_cases(tmp_path, gold, pred, aligned):
    """Tokenisation layouts whose alignments the CoNLL 2018 scorer documents in its own tests."""
    gold_path = write(tmp_path / "g.conllu", layout(gold))
    pred_path = write(tmp_path / "p.conllu", layout(pred))
    words = evaluate_ud([(str(gold_path), str(pred_path))])["scores"]["Words"]
    gold_words = sum(max(1, len(t.split()) - 1) for t in gold)
    pred_words = sum(max(1, len(t.split()) - 1) for t in pred)
    assert (words["gold"], words["predicted"], words["correct"]) == (
        gold_words,
        pred_words,
        aligned,
    )


def test_sentence_boundaries_are_spans_too(tmp_path):
    gold = write(tmp_path / "g.conllu", layout(["a", "b"]) + layout(["c"]))
    pred = write(tmp_path / "p.conllu", layout(["a", "b", "c"]))
    scores = evaluate_ud([(str(gold), str(pred))])["scores"]
    assert (scores["Sentences"]["gold"], scores["Sentences"]["predicted"]) == (2, 1)
    assert scores["Sentences"]["correct"] == 0 and scores["Words"]["correct"] == 3
    # c hangs from a in the prediction (the root of its own sentence in gold)
    assert scores["UAS"]["correct"] == 2


@pytest.mark.parametrize("column", ["0", "3"])
def test_a_label_option_scores_that_column_instead(files, capsys, column):
    """--label_column (0 too, which is falsy) asks for label scoring of a column."""
    argv = [files["gold"], files["pred"], "--label_column", column, "--no_spans"]
    main(["evaluate", *argv, "--metrics", "accuracy", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "pairs"
    # column 0 holds the IDs (equal); column 3 UPOS: 8 of 9 right
    expected = 1.0 if column == "0" else 8 / 9
    assert report["metrics"]["accuracy"]["score"] == pytest.approx(expected)
