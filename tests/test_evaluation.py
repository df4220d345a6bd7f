"""File-level scoring: chunk rules through real files, the readers' formats, alignment and tag
errors with their lines, per-language scores, and pooled counts that add up over files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.errors import DataError
from machamp_lite.evaluation import (
    LabelMetrics,
    check_aligned,
    evaluate_by_language,
    evaluate_compare,
    evaluate_files,
    evaluate_pairs,
    find_language_files,
    language_map_from_files,
    language_of_path,
    read_labelled,
    read_language_map,
    short_name,
    unique_names,
)

from conftest import write

TYPES = ("PER", "LOC", "CORP")


def multiconer(sentences, ids=None, blank="\n") -> str:
    """MultiCoNER layout: `# id <id>\\tdomain=x`, then `token _ _ TAG` lines."""
    blocks = []
    for index, sentence in enumerate(sentences):
        lines = []
        if ids is not False:
            sent_id = ids[index] if ids else f"s{index}"
            lines.append(f"# id {sent_id}\tdomain=test")
        lines += [f"{token} _ _ {tag}" for token, tag in sentence]
        blocks.append("\n".join(lines) + "\n")
    return blank.join(blocks)


def tagged(tags, words=None):
    words = words or [f"w{i}" for i in range(len(tags))]
    return list(zip(words, tags))


def score_tags(tmp_path, gold_tags, pred_tags, scheme="iob"):
    gold = write(tmp_path / "gold.conll", multiconer([tagged(t) for t in gold_tags]))
    pred = write(tmp_path / "pred.conll", multiconer([tagged(t) for t in pred_tags]))
    return evaluate_files(str(gold), str(pred), scheme=scheme)


def chunk_counts(result):
    counts = result["counts"]
    return counts["gold"], counts["predicted"], counts["correct"]


# --- chunk rules, through files -----------------------------------------------------------------


@pytest.mark.parametrize(
    "gold, pred, scheme, expected",
    [
        # Exact match of a multi-token chunk: type, start and end agree.
        (["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"], "iob", (1, 1, 1)),
        # A shorter prediction is a different chunk: no partial credit.
        (["B-PER", "I-PER", "O"], ["B-PER", "O", "O"], "iob", (1, 1, 0)),
        # Same boundaries but another type: wrong.
        (["B-PER", "I-PER"], ["B-LOC", "I-LOC"], "iob", (1, 1, 0)),
        # A span-initial I- starts a chunk (as conlleval counts it), so I-PER I-PER == B-PER I-PER.
        (["B-PER", "I-PER"], ["I-PER", "I-PER"], "iob", (1, 1, 1)),
        # I- after O starts a new chunk rather than continuing the one before the O.
        (["B-LOC", "O", "I-LOC"], ["B-LOC", "O", "B-LOC"], "iob", (2, 2, 2)),
        # A change of type inside a run of I- tags ends one chunk and starts another.
        (["B-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"], "iob", (2, 2, 2)),
        # B- after I- of the same type splits the run in two chunks.
        (["B-PER", "I-PER", "B-PER"], ["B-PER", "I-PER", "I-PER"], "iob", (2, 1, 0)),
        # IOB1 (CoNLL-2003 style) reads the same way as IOB2 for the same chunks.
        (["I-PER", "I-PER", "B-PER", "O"], ["B-PER", "I-PER", "B-PER", "O"], "iob", (2, 2, 2)),
        # A chunk open at the sentence end ends there.
        (["O", "B-CORP", "I-CORP"], ["O", "B-CORP", "I-CORP"], "iob", (1, 1, 1)),
        # "." is an outside tag like "O".
        (["B-PER", ".", "B-PER"], ["B-PER", "O", "B-PER"], "iob", (2, 2, 2)),
        # Types may hold '-': LOC-deriv is its own type, split on the first '-' only.
        (["B-LOC-deriv", "I-LOC-deriv"], ["B-LOC", "I-LOC"], "iob", (1, 1, 0)),
        # BIOES: S- is a one-token chunk; E- ends its chunk so the next I- starts a new one.
        (
            ["S-PER", "B-LOC", "E-LOC", "I-LOC"],
            ["S-PER", "B-LOC", "I-LOC", "I-LOC"],
            "bioes",
            (3, 2, 1),
        ),
        # BIOES read leniently: B- without E- still ends at O.
        (["B-PER", "I-PER", "O"], ["B-PER", "E-PER", "O"], "bioes", (1, 1, 1)),
        # BILOU: U- and L- behave like S- and E-.
        (["U-PER", "B-LOC", "L-LOC"], ["U-PER", "B-LOC", "L-LOC"], "bilou", (2, 2, 2)),
        (["B-LOC", "L-LOC", "L-LOC"], ["B-LOC", "I-LOC", "L-LOC"], "bilou", (2, 1, 0)),
    ],
)
def test_chunk_rules_through_files(tmp_path, gold, pred, scheme, expected):
    result = score_tags(tmp_path, [gold], [pred], scheme)
    assert chunk_counts(result) == expected


def test_scores_on_a_hand_computed_example(tmp_path):
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-CORP", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-PER"], ["B-CORP", "O", "O"]]
    result = score_tags(tmp_path, gold, pred)
    # PER: gold 2, predicted 2, correct 1; LOC: gold 1, predicted 0; CORP: 1/1/1.
    per, loc, corp = (result["per_type"][t] for t in ("PER", "LOC", "CORP"))
    assert (per["precision"], per["recall"], per["f1"], per["support"]) == (0.5, 0.5, 0.5, 2)
    assert (loc["precision"], loc["recall"], loc["f1"], loc["support"]) == (0.0, 0.0, 0.0, 1)
    assert corp["f1"] == 1.0
    assert result["micro"] == pytest.approx({"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7})
    # Macro F1 is the mean of the per-type F1 values.
    assert result["macro"]["f1"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert result["accuracy"] == pytest.approx(5 / 7)
    assert result["counts"] == {
        "gold": 4,
        "predicted": 3,
        "correct": 2,
        "tokens": 7,
        "correct_tokens": 5,
        "sentences": 2,
    }


# --- formats ------------------------------------------------------------------------------------


def test_multiconer_quirks_are_read_as_the_readers_read_them(tmp_path):
    # A leading blank line, double blank lines, a token '#', tokens ending in '_'.
    text = "\n" + multiconer(
        [[("#", "O"), ("4_", "B-PROD"), ("x", "I-PROD")], [("a", "B-PER")]], blank="\n\n"
    )
    gold = write(tmp_path / "gold.conll", text)
    result = evaluate_files(str(gold), str(gold))
    assert chunk_counts(result) == (2, 2, 2)
    assert result["counts"]["tokens"] == 4


def test_three_column_tsv_scores_the_chosen_label_column(tmp_path):
    # DaN+ layout: token<TAB>outer<TAB>inner.
    gold = write(tmp_path / "gold.tsv", "Lübeck\tB-ORG\tB-LOC\nBank\tI-ORG\tO\n\nx\tO\tO\n")
    pred = write(tmp_path / "pred.tsv", "Lübeck\tB-ORG\tO\nBank\tO\tO\n\nx\tO\tO\n")
    outer = evaluate_files(str(gold), str(pred), label_column=1)
    inner = evaluate_files(str(gold), str(pred))  # default -1: the last field
    assert chunk_counts(outer) == (1, 1, 0)
    assert chunk_counts(inner) == (1, 0, 0)
    assert set(outer["per_type"]) == {"ORG"} and set(inner["per_type"]) == {"LOC"}


def conllu(sentences, tag_field="misc") -> str:
    blocks = []
    for index, sentence in enumerate(sentences):
        lines = [f"# sent_id = c{index}", "# text = " + " ".join(w for w, _ in sentence)]
        for i, (word, tag) in enumerate(sentence, start=1):
            xpos, misc = (tag, "_") if tag_field == "xpos" else ("_", tag)
            lines.append(f"{i}\t{word}\t_\tX\t{xpos}\t_\t0\troot\t_\t{misc}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


@pytest.mark.parametrize("tag_field, label_column", [("misc", -1), ("xpos", 4)])
def test_conllu_input(tmp_path, tag_field, label_column):
    gold = [[("Anna", "B-PER"), ("Berg", "I-PER"), ("sings", "O")], [("Oslo", "B-LOC")]]
    pred = [[("Anna", "B-PER"), ("Berg", "O"), ("sings", "O")], [("Oslo", "B-LOC")]]
    gold_path = write(tmp_path / "gold.conllu", conllu(gold, tag_field))
    pred_path = write(tmp_path / "pred.conllu", conllu(pred, tag_field))
    result = evaluate_files(str(gold_path), str(pred_path), label_column=label_column)
    assert chunk_counts(result) == (2, 2, 1)
    assert read_labelled(str(gold_path), label_column)[0].sent_id == "c0"


def test_conllu_without_its_suffix_is_scored_as_conllu(tmp_path):
    """The reader comes from the content: a multiword-token line (tag ``_``) is no token."""
    gold = [[("Anna", "B-PER"), ("Berg", "I-PER"), ("sings", "O")], [("Oslo", "B-LOC")]]
    pred = [[("Anna", "B-PER"), ("Berg", "O"), ("sings", "O")], [("Oslo", "B-LOC")]]
    multiword = "1-2\tAnnaBerg\t_\t_\t_\t_\t_\t_\t_\t_\n"
    results = []
    for suffix in (".conllu", ".dev"):
        paths = []
        for name, sentences in (("gold", gold), ("pred", pred)):
            text = conllu(sentences).replace("# text = Anna Berg sings\n", multiword, 1)
            paths.append(str(write(tmp_path / f"{name}{suffix}", text)))
        results.append(evaluate_files(*paths))
    assert chunk_counts(results[1]) == chunk_counts(results[0]) == (2, 2, 1)
    assert results[1]["accuracy"] == results[0]["accuracy"] == 0.75


# --- bad input ----------------------------------------------------------------------------------


def two_files(tmp_path, gold_text, pred_text):
    gold = write(tmp_path / "gold.conll", gold_text)
    pred = write(tmp_path / "pred.conll", pred_text)
    return str(gold), str(pred)


GOLD_TEXT = (
    "# id a\tdomain=x\nJohn _ _ B-PER\nSmith _ _ I-PER\n\n# id b\tdomain=x\nOslo _ _ B-LOC\n"
)


def test_different_token_names_both_lines(tmp_path):
    gold, pred = two_files(tmp_path, GOLD_TEXT, GOLD_TEXT.replace("Smith", "Smyth"))
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    message = str(caught.value)
    assert f"{pred}, line 3" in message and f"line 3 of {gold}" in message
    assert "'Smyth'" in message and "'Smith'" in message
    assert (caught.value.path, caught.value.line) == (pred, 3)


def test_sentence_shorter_in_prediction_names_both_lines(tmp_path):
    pred_text = GOLD_TEXT.replace("Smith _ _ I-PER\n", "")
    gold, pred = two_files(tmp_path, GOLD_TEXT, pred_text)
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    message = str(caught.value)
    # The prediction's sentence ends at its line 3 (the blank line); gold goes on at line 3.
    assert f"{pred}, line 3" in message and f"line 3 of {gold}" in message
    assert "'Smith'" in message


def test_sentence_longer_in_prediction_names_both_lines(tmp_path):
    pred_text = GOLD_TEXT.replace("Oslo _ _ B-LOC\n", "Oslo _ _ B-LOC\nis _ _ O\n")
    gold, pred = two_files(tmp_path, GOLD_TEXT, pred_text)
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    message = str(caught.value)
    assert f"{pred}, line 7" in message and f"line 7 of {gold}" in message
    assert "'is'" in message


def test_extra_sentence_in_either_file_names_both_lines(tmp_path):
    longer = GOLD_TEXT + "\n# id c\tdomain=x\nmore _ _ O\n"
    gold, pred = two_files(tmp_path, GOLD_TEXT, longer)
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    message = str(caught.value)
    assert "2 gold sentences but 3 predicted" in message
    assert "line 7)" in message and "starts at line 9" in message
    assert gold in message and pred in message

    gold, pred = two_files(tmp_path, longer, GOLD_TEXT)
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    message = str(caught.value)
    assert f"{pred} ends after sentence 2 (line 7)" in message
    assert f"sentence 3 of {gold} starts at line 9" in message


def test_different_sentence_ids_are_misaligned(tmp_path):
    gold, pred = two_files(tmp_path, GOLD_TEXT, GOLD_TEXT.replace("# id b", "# id z"))
    with pytest.raises(DataError, match="has id 'z'.*line 6 of .*has id 'b'"):
        evaluate_files(gold, pred)


@pytest.mark.parametrize("which", ["gold", "prediction"])
def test_unparseable_tag_names_file_and_line(tmp_path, which):
    bad = GOLD_TEXT.replace("I-PER", "X-PER")
    gold, pred = (
        two_files(tmp_path, bad, GOLD_TEXT)
        if which == "gold"
        else two_files(tmp_path, GOLD_TEXT, bad)
    )
    with pytest.raises(DataError) as caught:
        evaluate_files(gold, pred)
    path = gold if which == "gold" else pred
    assert str(caught.value).startswith(f"{path}, line 3: unparseable")
    assert "'X-PER'" in str(caught.value)
    assert (caught.value.path, caught.value.line) == (path, 3)


def test_wrong_label_column_is_an_error_not_a_skip(tmp_path):
    gold, pred = two_files(tmp_path, GOLD_TEXT, GOLD_TEXT)
    with pytest.raises(DataError, match=r"line 2: unparseable gold tag '_'.*--label_column"):
        evaluate_files(gold, pred, label_column=1)


def test_missing_file_is_a_data_error(tmp_path):
    gold, _ = two_files(tmp_path, GOLD_TEXT, GOLD_TEXT)
    with pytest.raises(DataError, match="file not found"):
        evaluate_files(gold, str(tmp_path / "absent.conll"))


def test_check_aligned_accepts_equal_sentences(tmp_path):
    gold, _ = two_files(tmp_path, GOLD_TEXT, GOLD_TEXT)
    sentences = read_labelled(gold)
    check_aligned(gold, sentences, gold, read_labelled(gold))


# --- several files ------------------------------------------------------------------------------


def test_pairs_average_and_pooled(tmp_path):
    en_gold = write(tmp_path / "en_dev.conll", multiconer([tagged(["B-PER", "O", "B-LOC"])]))
    en_pred = write(tmp_path / "en.pred", multiconer([tagged(["B-PER", "O", "O"])]))
    de_gold = write(tmp_path / "de_dev.conll", multiconer([tagged(["B-CORP", "I-CORP"])]))
    report = evaluate_pairs([(str(en_gold), str(en_pred)), (str(de_gold), str(de_gold))])
    en, de = report["pairs"]
    assert (en["name"], de["name"]) == ("en", "de")
    assert en["micro"]["f1"] == pytest.approx(2 / 3) and de["micro"]["f1"] == 1.0
    assert report["average"]["micro"]["f1"] == pytest.approx((2 / 3 + 1) / 2)
    assert report["average"]["macro"]["f1"] == pytest.approx((0.5 + 1) / 2)
    assert chunk_counts(report["pooled"]) == (3, 2, 2)
    assert "micro" not in report  # two pairs: no top-level copy


def test_compare_scores_each_model_against_one_gold(tmp_path):
    gold = write(tmp_path / "dev.conll", multiconer([tagged(["B-PER", "I-PER", "O"])]))
    a = write(tmp_path / "a" / "pred.conll", multiconer([tagged(["B-PER", "I-PER", "O"])]))
    b = write(tmp_path / "b" / "pred.conll", multiconer([tagged(["B-PER", "O", "O"])]))
    report = evaluate_compare(str(gold), [str(a), str(b)])
    assert [row["name"] for row in report["pairs"]] == ["a/pred", "b/pred"]
    assert [row["micro"]["f1"] for row in report["pairs"]] == [1.0, 0.0]
    assert "pooled" not in report and "average" not in report


@pytest.mark.parametrize(
    "path, expected",
    [
        ("data/EN-English/en_dev.conll", "en"),
        ("da_news_dev.tsv", "da"),
        ("wikiann/fi/test.tsv", "fi"),
        ("predictions/en_dev.pred.conll", "en"),
        ("multi_dev.conll", None),
        ("my_model.conll", None),
        ("dev.conll", None),
    ],
)
def test_language_of_path(path, expected):
    assert language_of_path(path) == expected


def test_short_and_unique_names():
    assert short_name("runs/model_a.conll") == "model_a"
    assert short_name("en_dev.conll") == "en"
    assert unique_names(["en", "en", "de"], ["en:a", "en:b", "de:c"]) == ["en:a", "en:b", "de"]
    assert unique_names(["x", "x"], ["y", "y"]) == ["y#1", "y#2"]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.lists(
            st.lists(
                st.tuples(
                    st.sampled_from(["O", "B", "I"]),
                    st.sampled_from(TYPES),
                    st.sampled_from(["O", "B", "I"]),
                    st.sampled_from(TYPES),
                ),
                min_size=1,
                max_size=6,
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=2,
        max_size=2,
    )
)
def test_pooled_counts_equal_scoring_the_concatenation(corpora):
    def tag(prefix, kind):
        return "O" if prefix == "O" else f"{prefix}-{kind}"

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        pairs, all_gold, all_pred = [], [], []
        for n, corpus in enumerate(corpora):
            gold = [tagged([tag(g, gt) for g, gt, _, _ in s]) for s in corpus]
            pred = [tagged([tag(p, pt) for _, _, p, pt in s]) for s in corpus]
            all_gold += gold
            all_pred += pred
            pairs.append(
                (
                    str(write(root / f"g{n}.conll", multiconer(gold))),
                    str(write(root / f"p{n}.conll", multiconer(pred))),
                )
            )
        whole = evaluate_files(
            str(write(root / "gold.conll", multiconer(all_gold))),
            str(write(root / "pred.conll", multiconer(all_pred))),
        )
        report = evaluate_pairs(pairs)
    pooled = report["pooled"]
    for key in ("micro", "macro", "per_type", "accuracy", "counts"):
        assert pooled[key] == whole[key], key
    for key in ("gold", "predicted", "correct", "tokens", "sentences"):
        assert pooled["counts"][key] == sum(row["counts"][key] for row in report["pairs"])


# --- by language --------------------------------------------------------------------------------


@pytest.fixture
def languages(tmp_path):
    """Two per-language dev files and their shuffled union with one extra, unmapped sentence."""
    en = [tagged(["B-PER", "O"], ["Anna", "sings"]), tagged(["B-LOC"], ["Paris"])]
    de = [tagged(["B-CORP", "I-CORP"], ["Die", "Bahn"])]
    write(tmp_path / "EN-English" / "en_dev.conll", multiconer(en, ["e1", "e2"]))
    write(tmp_path / "DE-German" / "de_dev.conll", multiconer(de, ["d1"]))
    union = [de[0], en[1], tagged(["O"], ["?"]), en[0]]
    ids = ["d1", "e2", "zz", "e1"]
    gold = write(tmp_path / "multi_dev.conll", multiconer(union, ids))
    pred_union = [tagged(["B-CORP", "O"], ["Die", "Bahn"]), en[1], union[2], en[0]]
    pred = write(tmp_path / "multi.pred", multiconer(pred_union, ids))
    return tmp_path, str(gold), str(pred)


def test_by_language_from_per_language_files(languages):
    root, gold, pred = languages
    mapping = language_map_from_files(find_language_files(str(root)))
    assert mapping == {"e1": "en", "e2": "en", "d1": "de"}
    report = evaluate_by_language(gold, pred, mapping)
    rows = {row["name"]: row for row in report["pairs"]}
    assert list(rows) == ["de", "en"]
    assert rows["en"]["micro"]["f1"] == 1.0 and rows["en"]["counts"]["sentences"] == 2
    assert chunk_counts(rows["de"]) == (1, 1, 0)
    assert report["unmapped"]["count"] == 1 and report["unmapped"]["ids"] == ["zz"]
    assert report["unmapped"]["scores"]["counts"]["sentences"] == 1
    # The whole file, unmapped sentence included, is the pooled row and the top level.
    assert report["pooled"]["counts"]["sentences"] == 4
    assert report["micro"] == report["pooled"]["micro"]
    assert chunk_counts(report["pooled"]) == (3, 3, 2)


def test_language_map_file(languages, tmp_path):
    _, gold, pred = languages
    path = write(tmp_path / "map.tsv", "# id\tlanguage\nd1\tde\ne1\ten\n\ne2\ten\nzz\txx\n")
    report = evaluate_by_language(gold, pred, read_language_map(str(path)))
    assert [row["name"] for row in report["pairs"]] == ["de", "en", "xx"]
    assert report["unmapped"] == {"count": 0, "ids": [], "scores": None}


def test_language_map_errors(tmp_path):
    bad = write(tmp_path / "bad.tsv", "a\ten\nb\n")
    with pytest.raises(DataError, match=r"bad.tsv, line 2: expected 'sentence id<TAB>language'"):
        read_language_map(str(bad))
    clash = write(tmp_path / "clash.tsv", "a\ten\na\tde\n")
    with pytest.raises(DataError, match="'a' is mapped to 'de' here but to 'en'"):
        read_language_map(str(clash))
    no_ids = write(tmp_path / "en_dev.conll", multiconer([tagged(["O"])], ids=False))
    with pytest.raises(DataError, match="line 1: this sentence has no id line"):
        language_map_from_files({"en": str(no_ids)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files match"):
        find_language_files(str(tmp_path / "empty"))
    with pytest.raises(DataError, match="not a directory"):
        find_language_files(str(tmp_path / "absent"))


# --- registered metrics beside the spans ---------------------------------------------------------


def test_by_language_scores_the_metrics_per_language_and_pooled(languages):
    root, gold, pred = languages
    mapping = language_map_from_files(find_language_files(str(root)))
    metrics = LabelMetrics(("f1_micro", "f1_macro"))
    report = evaluate_by_language(gold, pred, mapping, metrics=metrics)
    rows = {row["name"]: row for row in report["pairs"]}
    # de: B-CORP right, I-CORP -> O wrong; en: all 3 words right; unmapped "?": O right.
    assert rows["de"]["metrics"]["f1_micro"]["score"] == 0.5
    assert rows["en"]["metrics"]["f1_micro"]["score"] == 1.0
    assert report["unmapped"]["scores"]["metrics"]["f1_micro"]["score"] == 1.0
    assert report["pooled"]["metrics"]["f1_micro"]["score"] == pytest.approx(5 / 6)
    assert report["metrics"] == report["pooled"]["metrics"]
    # Pooled macro: B-CORP 1, I-CORP 0, O (tp 2, fp 1: F1 0.8), B-PER 1, B-LOC 1.
    assert report["pooled"]["metrics"]["f1_macro"]["score"] == pytest.approx(3.8 / 5)
    assert report["average"]["metrics"]["f1_micro"]["score"] == pytest.approx(0.75)
    # The span scores are those without metrics.
    plain = evaluate_by_language(gold, pred, mapping)
    for key in ("micro", "macro", "per_type", "counts"):
        assert report["pooled"][key] == plain["pooled"][key]


def test_compare_scores_the_metrics_of_each_model(tmp_path):
    gold = write(tmp_path / "dev.conll", multiconer([tagged(["B-PER", "O", "O"])]))
    a = write(tmp_path / "a.conll", multiconer([tagged(["B-PER", "O", "O"])]))
    b = write(tmp_path / "b.conll", multiconer([tagged(["B-PER", "B-PER", "O"])]))
    chosen = LabelMetrics(("f1_binary",), positive_label="O")
    report = evaluate_compare(str(gold), [str(a), str(b)], metrics=chosen)
    # b's O: tp 1, fp 0, fn 1.
    scores = [row["metrics"]["f1_binary"]["score"] for row in report["pairs"]]
    assert scores == [1.0, pytest.approx(2 / 3)]


def test_without_spans_only_the_metrics_are_scored(tmp_path):
    gold = write(tmp_path / "g.conll", multiconer([tagged(["NOUN", "VERB"])]))
    pred = write(tmp_path / "p.conll", multiconer([tagged(["NOUN", "NOUN"])]))
    result = evaluate_files(str(gold), str(pred), scheme=None, metrics=LabelMetrics(("accuracy",)))
    assert result["counts"] == {"sentences": 1, "tokens": 2}
    assert result["metrics"]["accuracy"]["score"] == 0.5 and "micro" not in result


def test_a_metric_that_cannot_score_the_labels_names_the_file_and_line(tmp_path):
    gold = write(tmp_path / "g.conll", multiconer([tagged(["B-PER", "O"])]))
    with pytest.raises(DataError, match=r"g\.conll, line 2: metric 'avg_dist' cannot score"):
        evaluate_files(str(gold), str(gold), metrics=LabelMetrics(("avg_dist",)))
