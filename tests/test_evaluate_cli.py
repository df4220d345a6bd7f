"""``machamp-lite evaluate`` end to end: tables, JSON, --compare and --plot, --by_language, errors
as one line with exit code 2, a real subprocess, and the per-language check on real MultiCoNER."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from machamp_lite.cli import main
from machamp_lite.evaluate_cli import format_table
from machamp_lite.evaluation import evaluate_files

from conftest import ROOT, SHARED_DATA, needs_shared_data, one_error, write


def conll(sentences, ids=None) -> str:
    """MultiCoNER layout; each sentence is a list of (token, tag)."""
    blocks = []
    for index, sentence in enumerate(sentences):
        lines = [] if ids is False else [f"# id {ids[index] if ids else f's{index}'}\tdomain=t"]
        lines += [f"{token} _ _ {tag}" for token, tag in sentence]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


GOLD = [
    [("Anna", "B-PER"), ("Berg", "I-PER"), ("visits", "O"), ("Oslo", "B-LOC")],
    [("Acme", "B-CORP"), ("hires", "O"), ("Bo", "B-PER")],
]
MODEL_A = [
    [("Anna", "B-PER"), ("Berg", "I-PER"), ("visits", "O"), ("Oslo", "B-LOC")],
    [("Acme", "B-CORP"), ("hires", "O"), ("Bo", "O")],
]
MODEL_B = [
    [("Anna", "B-PER"), ("Berg", "O"), ("visits", "O"), ("Oslo", "B-CORP")],
    [("Acme", "B-CORP"), ("hires", "O"), ("Bo", "B-PER")],
]


@pytest.fixture
def files(tmp_path):
    return {
        "gold": str(write(tmp_path / "en_dev.conll", conll(GOLD))),
        "a": str(write(tmp_path / "model_a.conll", conll(MODEL_A))),
        "b": str(write(tmp_path / "model_b.conll", conll(MODEL_B))),
        "de": str(write(tmp_path / "de_dev.conll", conll(GOLD[1:]))),
    }


def run(capsys, *argv):
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out), err


# --- output -------------------------------------------------------------------------------------


def test_single_pair_table(files, capsys):
    code, out, err = run(capsys, files["gold"], files["a"])
    assert code == 0 and err == ""
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("name"))
    assert header.split() == "name sents gold pred CORP LOC PER P R F1 macro-F1 acc".split()
    row = next(line for line in lines if line.startswith("en "))
    # 4 gold chunks, 3 predicted, 3 correct: P 100, R 75, F1 85.71; PER F1 2/3.
    assert row.split() == "en 2 4 3 100.00 100.00 66.67 100.00 75.00 85.71 88.89 85.71".split()
    assert any(line.startswith("PER") and "50.00" in line for line in lines)
    assert not any(line.startswith(("average", "pooled")) for line in lines)


def test_single_pair_json_keeps_the_scores_at_top_level(files, capsys):
    report, _ = run_json(capsys, files["gold"], files["a"])
    direct = evaluate_files(files["gold"], files["a"])
    assert report["micro"] == direct["micro"] and report["micro"]["f1"] == pytest.approx(6 / 7)
    for key in ("macro", "per_type", "accuracy", "counts"):
        assert report[key] == direct[key]
    (pair,) = report["pairs"]
    assert pair["name"] == "en" and pair["gold"] == files["gold"]
    assert set(pair["micro"]) == set(pair["macro"]) == {"precision", "recall", "f1"}
    assert set(pair["per_type"]["PER"]) == {"precision", "recall", "f1", "support"}
    assert all(0 <= pair[k]["f1"] <= 1 for k in ("micro", "macro"))
    assert report["pooled"]["micro"] == report["micro"]


def test_several_pairs_table_and_json(files, capsys):
    code, out, _ = run(capsys, files["gold"], files["a"], files["de"], files["de"])
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert names[:2] == ["en", "de"] and "average" in names and "pooled" in names

    report, _ = run_json(capsys, files["gold"], files["a"], files["de"], files["de"])
    en, de = report["pairs"]
    assert report["average"]["micro"]["f1"] == pytest.approx((en["micro"]["f1"] + 1.0) / 2)
    assert report["average"]["macro"]["f1"] == pytest.approx((en["macro"]["f1"] + 1.0) / 2)
    pooled = report["pooled"]["counts"]
    assert pooled["gold"] == en["counts"]["gold"] + de["counts"]["gold"] == 6
    assert pooled["correct"] == 5 and report["pooled"]["micro"]["f1"] == pytest.approx(10 / 11)
    assert "micro" not in report


def test_names_and_types_options(files, capsys):
    report, _ = run_json(
        capsys, files["gold"], files["a"], files["de"], files["de"], "--names", "EN", "DE"
    )
    assert [row["name"] for row in report["pairs"]] == ["EN", "DE"]
    code, out, _ = run(capsys, files["gold"], files["a"], "--types", "PER", "LOC")
    header = next(line for line in out.splitlines() if line.startswith("name"))
    assert header.split()[4:6] == ["PER", "LOC"] and "CORP" not in header
    code, _, err = run(capsys, files["gold"], files["a"], "--types", "ORG")
    assert code == 2 and "ORG not found" in err and "CORP, LOC, PER" in err


def test_scheme_option(tmp_path, capsys):
    tokens = [("a", "S-PER"), ("b", "B-LOC"), ("c", "E-LOC")]
    gold = str(write(tmp_path / "gold.conll", conll([tokens])))
    report, _ = run_json(capsys, gold, gold, "--scheme", "bioes")
    assert report["counts"]["gold"] == 2
    code, _, err = run(capsys, gold, gold)  # E- is not an IOB prefix
    assert code == 2 and "line 2: unparseable gold tag 'S-PER' under scheme 'iob'" in err


def test_format_table_takes_a_bare_result(files):
    table = format_table(evaluate_files(files["gold"], files["a"]))
    assert "85.71" in table and "PER" in table


# --- formats ------------------------------------------------------------------------------------


def test_label_column_on_a_three_column_tsv(tmp_path, capsys):
    gold = str(write(tmp_path / "da_news_dev.tsv", "Lübeck\tB-ORG\tB-LOC\nBank\tI-ORG\tO\n"))
    pred = str(write(tmp_path / "pred.tsv", "Lübeck\tB-ORG\tO\nBank\tI-ORG\tO\n"))
    outer, _ = run_json(capsys, gold, pred, "--label_column", "1")
    inner, _ = run_json(capsys, gold, pred)
    assert outer["micro"]["f1"] == 1.0 and list(outer["per_type"]) == ["ORG"]
    assert inner["micro"]["f1"] == 0.0 and list(inner["per_type"]) == ["LOC"]
    assert outer["pairs"][0]["name"] == "da"


def test_conllu_input(tmp_path, capsys):
    def conllu(tags):
        words = ["Anna", "Berg", "sings"]
        rows = [
            f"{i}\t{word}\t_\tX\t_\t_\t0\troot\t_\t{tag}"
            for i, (word, tag) in enumerate(zip(words, tags), start=1)
        ]
        return "# sent_id = u1\n" + "\n".join(rows) + "\n"

    gold = str(write(tmp_path / "gold.conllu", conllu(["B-PER", "I-PER", "O"])))
    pred = str(write(tmp_path / "pred.conllu", conllu(["B-PER", "O", "O"])))
    # Tags in a CoNLL-U column are span-scored when --label_column names it (-1: MISC) ...
    report, _ = run_json(capsys, gold, pred, "--label_column", "-1")
    assert report["counts"]["gold"] == 1 and report["counts"]["correct"] == 0
    assert report["accuracy"] == pytest.approx(2 / 3)
    # ... and without any label option two CoNLL-U files get the CoNLL 2018 scores.
    report, _ = run_json(capsys, gold, pred)
    assert report["mode"] == "ud" and report["scores"]["UPOS"]["f1"] == 1.0


# --- separators: what train and predict read, evaluate reads -----------------------------------


@pytest.mark.parametrize(
    "layout",
    ["tab_after_the_word", "tabs_here_and_there", "bom_and_an_id_line_with_a_tab"],
)
def test_evaluate_reads_whitespace_files_with_tabs_as_train_and_predict_do(
    tmp_path, capsys, layout
):
    """Files that train and predict read with their default "separator": "whitespace" (any run
    of spaces and tabs): evaluate used to take a tab on the first token line (or in a BOM-hidden
    id line) to mean a tab-separated file and stopped on them."""
    text = conll(GOLD)
    if layout == "tab_after_the_word":
        text = "\n".join(
            line.replace(" ", "\t", 1) if line and not line.startswith("#") else line
            for line in text.split("\n")
        )
    elif layout == "tabs_here_and_there":
        text = text.replace("Anna _ _", "Anna\t_ _").replace("Berg _ _", "Berg \t_\t_")
    else:
        text = "\ufeff" + text
    gold = str(write(tmp_path / "en_dev.conll", text))
    report, _ = run_json(capsys, gold, gold)
    assert report["counts"]["tokens"] == 7 and report["micro"]["f1"] == 1.0


def test_evaluate_separator_option(tmp_path, capsys):
    """--separator takes the dataset key's values; "tab" keeps words with spaces whole."""
    text = "new york\tB-LOC\ta note\nis\tO\tx\n\nAnna\tB-PER\ty\n"
    gold = str(write(tmp_path / "gold.tsv", text))
    pred = str(write(tmp_path / "pred.tsv", text.replace("B-PER", "O")))
    report, _ = run_json(capsys, gold, pred, "--separator", "tab", "--label_column", "1")
    assert report["counts"]["gold"] == 2 and report["counts"]["correct"] == 1
    assert report["counts"]["tokens"] == 3
    spaced = str(write(tmp_path / "spaced.conll", conll(GOLD)))
    code, _, err = run(capsys, spaced, spaced, "--separator", "tab")
    assert code == 2 and err.count("\n") == 1
    assert err == (
        f"error: {spaced}, line 2: expected at least 2 columns (word column 0, task 'label' "
        'column -1), found 1 (the separator is "tab"; give --separator whitespace if the '
        "columns are separated by spaces)\n"
    )
    report, _ = run_json(capsys, spaced, spaced, "--separator", "whitespace")
    assert report["counts"]["tokens"] == 7
    code, _, err = run(capsys, spaced, spaced, "--separator", "comma")
    assert code == 2 and "invalid choice: 'comma'" in err


# --- errors -------------------------------------------------------------------------------------


def test_mismatch_is_one_error_line_naming_both_files(files, tmp_path, capsys):
    shifted = str(write(tmp_path / "short.conll", conll([GOLD[0][:3], GOLD[1]])))
    code, out, err = run(capsys, files["gold"], shifted)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert f"{shifted}, line 5" in err and f"line 5 of {files['gold']}" in err


def test_unparseable_tag_through_the_cli(files, tmp_path, capsys):
    bad = str(write(tmp_path / "bad.conll", conll(GOLD).replace("I-PER", "I_PER")))
    code, _, err = run(capsys, files["gold"], bad)
    assert code == 2 and f"error: {bad}, line 3: unparseable predicted tag 'I_PER'" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["gold"], "expected GOLD PRED pairs but got 1 files"),
        (["gold", "a", "b"], "add --compare"),
        (["gold", "a", "b", "--models", "A"], "1 model names for 2 prediction files"),
        (["gold", "a", "--models", "A", "--names", "B"], "not both"),
        (["gold", "a", "--by_language"], "--by_language needs the sentence languages"),
        (["gold", "a", "b", "c", "--language_map", "m"], "takes one GOLD PRED pair"),
        (["gold", "a", "--compare", "--by_language"], "cannot --compare"),
        (["gold", "a", "--language_files", "nolang.conll"], "write it as LANG=PATH"),
    ],
)
def test_usage_errors(files, capsys, argv, message):
    paths = [files.get(item, item) for item in argv]
    code, _, err = run(capsys, *paths)
    assert code == 2 and message in err, err


# --- compare and plot ---------------------------------------------------------------------------


def test_compare_models_table(files, capsys):
    code, out, _ = run(capsys, files["gold"], files["a"], files["b"], "--models", "A", "B")
    assert code == 0
    rows = [line.split()[0] for line in out.splitlines()[2:] if line.strip()]
    assert rows[:2] == ["A", "B"]
    assert not any(row in ("average", "pooled") for row in rows)
    report, _ = run_json(capsys, "--compare", files["gold"], files["a"], files["b"])
    assert [row["name"] for row in report["pairs"]] == ["model_a", "model_b"]
    assert report["mode"] == "compare" and "average" not in report


def test_plot_from_a_real_run(files, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="--plot needs the optional matplotlib (plot extra)")
    png = tmp_path / "figures" / "f1.png"
    code, _, err = run(
        capsys, files["gold"], files["a"], files["b"], "--models", "A", "B", "--plot", str(png)
    )
    assert code == 0, err
    data = png.read_bytes()
    assert len(data) > 1000 and data.startswith(b"\x89PNG\r\n\x1a\n")
    assert f"wrote {png}" in err


def test_plot_without_matplotlib_says_how_to_install(files, tmp_path, capsys, monkeypatch):
    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)
    code, _, err = run(capsys, files["gold"], files["a"], "--plot", str(tmp_path / "x.png"))
    assert code == 2 and 'pip install "machamp-lite[plot]"' in err
    assert not (tmp_path / "x.png").exists()


# --- by language --------------------------------------------------------------------------------


@pytest.fixture
def multilingual(tmp_path):
    en = [[("Anna", "B-PER"), ("sings", "O")], [("Paris", "B-LOC")]]
    de = [[("Die", "B-CORP"), ("Bahn", "I-CORP")]]
    root = tmp_path / "langs"
    write(root / "EN-English" / "en_dev.conll", conll(en, ["e1", "e2"]))
    write(root / "DE-German" / "de_dev.conll", conll(de, ["d1"]))
    ids = ["d1", "e2", "n1", "n2", "e1"]
    union = [de[0], en[1], [("?", "O")], [("!", "O")], en[0]]
    pred = [[("Die", "B-CORP"), ("Bahn", "O")], en[1], [("?", "O")], [("!", "O")], en[0]]
    return {
        "root": str(root),
        "en": str(root / "EN-English" / "en_dev.conll"),
        "de": str(root / "DE-German" / "de_dev.conll"),
        "gold": str(write(tmp_path / "multi_dev.conll", conll(union, ids))),
        "pred": str(write(tmp_path / "multi.pred", conll(pred, ids))),
    }


def check_by_language(report, err):
    rows = {row["name"]: row for row in report["pairs"]}
    assert list(rows) == ["de", "en"]
    assert rows["en"]["micro"]["f1"] == 1.0 and rows["de"]["micro"]["f1"] == 0.0
    assert report["unmapped"]["count"] == 2 and report["unmapped"]["ids"] == ["n1", "n2"]
    assert report["pooled"]["counts"]["sentences"] == 5
    assert "warning: 2 sentence(s)" in err and "n1, n2" in err


def test_by_language_with_language_files(multilingual, capsys):
    m = multilingual
    files = ["en=" + m["en"], "de=" + m["de"]]
    report, err = run_json(
        capsys, m["gold"], m["pred"], "--by_language", "--language_files", *files
    )
    check_by_language(report, err)
    # LANG= may be left out when the file name carries the language.
    report, err = run_json(capsys, m["gold"], m["pred"], "--language_files", m["en"], m["de"])
    check_by_language(report, err)


def test_by_language_with_language_dir_table(multilingual, capsys):
    m = multilingual
    code, out, err = run(capsys, m["gold"], m["pred"], "--language_dir", m["root"])
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[2:]]
    assert names[:3] == ["de", "en", "(unmapped:"] and "pooled" in names
    assert "warning: 2 sentence(s)" in err


def test_by_language_with_a_map_file(multilingual, tmp_path, capsys):
    m = multilingual
    mapping = write(tmp_path / "ids.tsv", "d1\tde\ne1\ten\ne2\ten\nn1\tnone\nn2\tnone\n")
    report, err = run_json(
        capsys, m["gold"], m["pred"], "--by_language", "--language_map", str(mapping)
    )
    assert [row["name"] for row in report["pairs"]] == ["de", "en", "none"]
    assert report["unmapped"]["count"] == 0 and err == ""


# --- a real process and real data ---------------------------------------------------------------


def test_real_subprocess(files):
    completed = subprocess.run(
        [sys.executable, "-m", "machamp_lite", "evaluate", files["gold"], files["a"], "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["micro"]["f1"] == pytest.approx(6 / 7)


@needs_shared_data()
def test_multi_dev_by_language_against_itself(capsys):
    root = SHARED_DATA / "multiconer2022"
    multi = str(root / "MULTI_Multilingual" / "multi_dev.conll")
    start = time.perf_counter()
    report, err = run_json(capsys, multi, multi, "--by_language", "--language_dir", str(root))
    elapsed = time.perf_counter() - start
    assert len(report["pairs"]) == 11
    assert {row["name"] for row in report["pairs"]} == {
        "bn",
        "de",
        "en",
        "es",
        "fa",
        "hi",
        "ko",
        "nl",
        "ru",
        "tr",
        "zh",
    }
    assert all(row["micro"]["f1"] == 1.0 and row["macro"]["f1"] == 1.0 for row in report["pairs"])
    assert all(row["counts"]["sentences"] == 800 for row in report["pairs"])
    assert report["unmapped"]["count"] == 0 and "warning" not in err
    assert sum(row["counts"]["gold"] for row in report["pairs"]) == 12_513
    assert report["pooled"]["counts"]["gold"] == 12_513
    assert elapsed < 20, f"took {elapsed:.1f} s"


# --- registered metrics on the label column (--metrics) ----------------------------------------

# MODEL_A against GOLD, per label: B-PER tp 1, fn 1 (F1 2/3); O tp 2, fp 1 (F1 0.8); I-PER,
# B-LOC and B-CORP right (F1 1). Micro F1 = accuracy = 6/7.
MACRO_OF_LABELS_MET = (2 / 3 + 0.8 + 1 + 1 + 1) / 5


def training_file(tmp_path, labels) -> str:
    return str(
        write(tmp_path / "train.conll", conll([[(f"w{i}", t) for i, t in enumerate(labels)]]))
    )


def test_metrics_are_scored_beside_the_spans(files, capsys):
    report, _ = run_json(capsys, files["gold"], files["a"], "--metrics", "f1_macro", "f1_micro")
    (pair,) = report["pairs"]
    assert list(pair["metrics"]) == ["f1_macro", "f1_micro"]
    assert pair["metrics"]["f1_micro"]["score"] == pytest.approx(6 / 7)
    assert pair["metrics"]["f1_macro"]["score"] == pytest.approx(MACRO_OF_LABELS_MET)
    assert report["metrics"] == pair["metrics"]  # one pair: at the top level too
    assert pair["micro"]["f1"] == pytest.approx(6 / 7)  # the span scores are unchanged
    code, out, _ = run(capsys, files["gold"], files["a"], "--metrics", "f1_macro", "f1_micro")
    header = next(line for line in out.splitlines() if line.startswith("name"))
    assert header.split()[-2:] == ["f1_macro", "f1_micro"]
    row = next(line for line in out.splitlines() if line.startswith("en "))
    assert row.split()[-2:] == [f"{MACRO_OF_LABELS_MET:.4f}", f"{6 / 7:.4f}"]
    assert any(line.startswith("f1_macro: precision") for line in out.splitlines())


def test_train_file_gives_machamps_label_order(files, tmp_path, capsys):
    # B-MISC comes before B-CORP in training: MaChAmp averages it, with F1 0.
    train = training_file(tmp_path, ["O", "B-PER", "I-PER", "B-MISC", "B-LOC", "B-CORP"])
    report, _ = run_json(
        capsys, files["gold"], files["a"], "--metrics", "f1_macro", "--train_file", train
    )
    result = report["metrics"]["f1_macro"]
    assert result["score"] == pytest.approx((2 / 3 + 0.8 + 1 + 1 + 1) / 6)
    assert list(result["per_label"]) == ["O", "B-PER", "I-PER", "B-MISC", "B-LOC", "B-CORP"]
    # After B-CORP, the last label that occurs, it is not averaged.
    train = training_file(tmp_path, ["B-PER", "I-PER", "O", "B-LOC", "B-CORP", "B-MISC"])
    report, _ = run_json(
        capsys, files["gold"], files["a"], "--metrics", "f1_macro", "--train_file", train
    )
    assert report["metrics"]["f1_macro"]["score"] == pytest.approx(MACRO_OF_LABELS_MET)


def test_several_pairs_average_and_pool_the_metrics(files, capsys):
    argv = [files["gold"], files["a"], files["de"], files["de"], "--metrics", "f1_micro"]
    report, _ = run_json(capsys, *argv)
    en, de = report["pairs"]
    assert en["metrics"]["f1_micro"]["score"] == pytest.approx(6 / 7)
    assert de["metrics"]["f1_micro"]["score"] == 1.0
    assert report["average"]["metrics"]["f1_micro"]["score"] == pytest.approx((6 / 7 + 1) / 2)
    # Pooled: 10 words, 9 right.
    assert report["pooled"]["metrics"]["f1_micro"]["score"] == pytest.approx(9 / 10)
    assert report["pooled"]["metrics"]["f1_micro"]["total"] == 10


def binary_files(tmp_path):
    def tagged(labels):
        return "".join(f"w{i}\t{label}\n" for i, label in enumerate(labels))

    gold = write(tmp_path / "g.tsv", tagged(["yes", "no", "yes", "no", "yes"]))
    pred = write(tmp_path / "p.tsv", tagged(["yes", "yes", "no", "no", "yes"]))
    train = write(tmp_path / "t.tsv", tagged(["no", "yes"]))
    return str(gold), str(pred), str(train)


def test_labels_that_are_not_chunk_tags_are_scored_without_spans(tmp_path, capsys):
    gold, pred, train = binary_files(tmp_path)
    code, _, err = run(capsys, gold, pred, "--metrics", "accuracy")
    assert code == 2 and "unparseable gold tag 'yes'" in err
    argv = [gold, pred, "--no_spans", "--metrics", "accuracy", "f1_binary"]
    report, _ = run_json(capsys, *argv, "--train_file", train)
    assert report["scheme"] is None and "micro" not in report["pairs"][0]
    assert report["counts"] == {"sentences": 1, "tokens": 5}
    # The training file starts with "no": tp 1, fp 1, fn 1.
    binary = report["metrics"]["f1_binary"]
    assert binary["positive_label"] == "no" and binary["score"] == pytest.approx(0.5)
    report, _ = run_json(capsys, *argv, "--positive_label", "yes")
    assert report["metrics"]["f1_binary"]["score"] == pytest.approx(2 / 3)
    assert report["metrics"]["accuracy"]["score"] == pytest.approx(3 / 5)
    code, out, _ = run(capsys, gold, pred, gold, gold, *argv[2:], "--positive_label", "yes")
    lines = out.splitlines()
    assert lines[1].split() == ["name", "sents", "tokens", "accuracy", "f1_binary"]
    assert lines[2].split()[-2:] == ["0.6000", "0.6667"]
    assert "f1_binary: positive label 'yes'" in lines


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "f1_binary"], "f1_binary needs its positive label"),
        (["--metrics", "accuracy", "--positive_label", "B-PER"], "add it to --metrics"),
        (["--no_spans"], "--no_spans goes with --metrics"),
        (["--metrics", "accuracy", "--no_spans", "--types", "PER"], "drop them or --no_spans"),
        (["--metrics", "f1_macr"], "unknown metric 'f1_macr'"),
    ],
)
def test_metric_option_errors(files, capsys, extra, message):
    code = main(["evaluate", files["gold"], files["a"], *extra])
    assert message in one_error(capsys, code)
