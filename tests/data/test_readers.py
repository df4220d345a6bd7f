"""Tests for the column, CoNLL-U and sentence TSV readers: formats, quirks, line numbers, errors."""

from __future__ import annotations

import codecs
import gzip

import pytest

from machamp_lite.config import validate_dataset
from machamp_lite.data.dataset import make_reader, read_dataset_file, task_columns
from machamp_lite.data.readers import (
    ColumnReader,
    ConlluReader,
    Reader,
    SentenceTsvReader,
    WriterSettings,
    detect_reader,
)
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.data.text import EncodingError, read_text, stream_lines
from machamp_lite.decoders.codecs import bio_label_problem, normalize_bio
from machamp_lite.errors import DataError
from machamp_lite.registry import readers

from conftest import SHARED_DATA, needs_shared_data, write

NER_LAST = {"ner": {"task_type": "seq_bio", "column_idx": -1}}


def dataset(path, tasks=None, **settings) -> dict:
    """A validated dataset config for ``path``, as load_dataset_configs would produce it."""
    config = {"train_data_path": str(path), "tasks": tasks or NER_LAST, **settings}
    return validate_dataset("demo", config, "demo.json", None)


def read(path, tasks=None, **settings):
    return read_dataset_file(dataset(path, tasks, **settings), str(path))


def labels_of(sentences, task="ner"):
    return [s.labels[task] for s in sentences]


def spans(labels: list[str]) -> set[tuple[int, int, str]]:
    """conlleval chunks: a span starts at B-X, or at I-X after O or another type."""
    found, start, kind = set(), None, None
    for i, label in enumerate([*labels, "O"]):
        inside = label.startswith("I-") and kind == label[2:]
        if start is not None and not inside:
            found.add((start, i, kind))
            start = kind = None
        if label[:2] in ("B-", "I-") and not inside:
            start, kind = i, label[2:]
    return found


# ---- column files: words, labels, comments, blank lines, separators ----


def test_one_word_column_and_one_label_column_per_task(tmp_path):
    path = write(tmp_path / "a.conll", "John NNP B-PER\nsmiles VBZ O\n\nHi UH O\n")
    tasks = {
        "pos": {"task_type": "seq", "column_idx": 1},
        "ner": {"task_type": "seq_bio", "column_idx": 2},
    }
    sentences = read(path, tasks)
    assert [s.words for s in sentences] == [["John", "smiles"], ["Hi"]]
    assert labels_of(sentences, "pos") == [["NNP", "VBZ"], ["UH"]]
    assert labels_of(sentences, "ner") == [["B-PER", "O"], ["O"]]


def test_comment_lines_are_kept_and_not_words(tmp_path):
    path = write(tmp_path / "a.conll", "# sent_id = s1\n# text = a b\na O\nb O\n")
    [sentence] = read(path)
    assert sentence.words == ["a", "b"]
    assert sentence.comments == ["# sent_id = s1", "# text = a b"]
    assert sentence.sent_id == "s1"
    assert sentence.line_numbers == [3, 4]


def test_runs_of_blank_lines_separate_sentences_and_are_not_sentences(tmp_path):
    path = write(tmp_path / "a.conll", "\n\na O\n\n\n\nb O\n  \n\t\nc O\n\n\n")
    sentences = read(path)
    assert [s.words for s in sentences] == [["a"], ["b"], ["c"]]
    assert [s.line_numbers for s in sentences] == [[3], [7], [10]]


def test_whitespace_separator_splits_on_any_run_of_spaces_and_tabs(tmp_path):
    path = write(tmp_path / "a.conll", "New  \t B-LOC\nYork\tI-LOC\n")
    [sentence] = read(path)
    assert sentence.words == ["New", "York"]
    assert sentence.labels["ner"] == ["B-LOC", "I-LOC"]


def test_tab_separator_keeps_spaces_inside_a_field(tmp_path):
    path = write(tmp_path / "a.tsv", "New York\tB-LOC\nis\tO\n")
    [sentence] = read(path, separator="tab")
    assert sentence.words == ["New York", "is"]
    assert sentence.labels["ner"] == ["B-LOC", "O"]


# ---- MultiCoNER exactly as distributed ----

MULTICONER = (
    "\n"  # multi_dev.conll starts with a blank line
    "# id 5f901859-942c-4023-b507-1748578c1963\tdomain=multi\n"
    "# _ _ O\n"  # the token "#" as the first token, right after the id line
    "4_ _ _ O\n"  # a token that ends in "_"
    "ease _ _ B-CW\n"
    "on _ _ I-CW\n"
    "\n"
    "\n"  # double blank line between sentences
    "# id 0372e985-7b29-402b-b0f5-377878c61ee7\tdomain=en\n"
    "the _ _ O\n"
    "# _ _ O\n"  # "#" in the middle of a sentence
    "berlin_ _ _ B-LOC\n"
)


def test_multiconer_as_distributed(tmp_path):
    path = write(tmp_path / "multi_dev.conll", MULTICONER)
    first, second = read(path)
    assert first.sent_id == "5f901859-942c-4023-b507-1748578c1963"
    assert first.comments == ["# id 5f901859-942c-4023-b507-1748578c1963\tdomain=multi"]
    assert first.words == ["#", "4_", "ease", "on"]
    assert first.labels["ner"] == ["O", "O", "B-CW", "I-CW"]
    assert first.line_numbers == [3, 4, 5, 6]
    assert second.sent_id == "0372e985-7b29-402b-b0f5-377878c61ee7"
    assert second.words == ["the", "#", "berlin_"]
    assert second.labels["ner"] == ["O", "O", "B-LOC"]
    assert second.line_numbers == [10, 11, 12]


def test_multiconer_sentence_without_id_line_may_start_with_hash_token(tmp_path):
    path = write(tmp_path / "a.conll", "# _ _ B-PROD\n1 _ _ I-PROD\n")
    [sentence] = read(path)
    assert sentence.words == ["#", "1"]
    assert sentence.comments == []


# ---- other '#' conventions ----


def test_wikiann_hash_token_at_sentence_start_is_a_token(tmp_path):
    path = write(tmp_path / "dev.tsv", "#\tO\nParis\tB-LOC\n\n#\tO\n")
    sentences = read(path, {"ner": {"task_type": "seq_bio", "column_idx": 1}}, separator="tab")
    assert [s.words for s in sentences] == [["#", "Paris"], ["#"]]
    assert [s.comments for s in sentences] == [[], []]


@pytest.mark.parametrize(
    "comment",
    [
        "#\thttp://www.heise.de/tp/r4/artikel/32/32883/1.html\t[2010-07-04]\t",
        "#\tberlinonline.de vom 27.10.2005\t[2005-10-27]\t",
        "#\thttp://www.tagesspiegel.de/politik/International-Irak;art123,2356163\t[2007-08-11]",
    ],
)
def test_germeval_source_line_is_a_comment(tmp_path, comment):
    path = write(tmp_path / "NER-de-dev.tsv", f"{comment}\n1\tGleich\tO\tO\n2\tBerlin\tB-LOC\tO\n")
    [sentence] = read(
        path, {"ner": {"task_type": "seq_bio", "column_idx": 2}}, separator="tab", word_idx=1
    )
    assert sentence.comments == [comment]
    assert sentence.words == ["Gleich", "Berlin"]
    assert sentence.labels["ner"] == ["O", "B-LOC"]
    assert sentence.line_numbers == [2, 3]


def test_conllu_style_comments_in_a_column_file(tmp_path):
    path = write(tmp_path / "a.conll", "# newdoc id = d1\n# sent_id = x\n# text = A b\nA O\nb O\n")
    [sentence] = read(path)
    assert sentence.sent_id == "x"
    assert len(sentence.comments) == 3
    assert sentence.words == ["A", "b"]


# ---- nested NER (DaN+) ----

DANPLUS = "Hvor\tO\tO\nKøbenhavns\tB-ORG\tB-LOCderiv\nUniversitet\tI-ORG\tO\n"


@pytest.mark.parametrize(
    ("column", "expected"), [(1, ["O", "B-ORG", "I-ORG"]), (2, ["O", "B-LOCderiv", "O"])]
)
def test_nested_ner_config_picks_outer_or_inner_column(tmp_path, column, expected):
    path = write(tmp_path / "da_news_dev.tsv", DANPLUS)
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": column}}
    [sentence] = read(path, tasks, separator="tab")
    assert sentence.words == ["Hvor", "Københavns", "Universitet"]
    assert sentence.labels["ner"] == expected


# ---- CoNLL-U ----

CONLLU = (
    "# sent_id = fr-1\n"
    "# text = du chat\n"
    "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tde\tde\tADP\t_\t_\t3\tcase\t_\t_\n"
    "2\tle\tle\tDET\t_\t_\t3\tdet\t_\t_\n"
    "3\tchat\tchat\tNOUN\t_\tGender=Masc\t0\troot\t_\t_\n"
    "3.1\tmange\tmanger\tVERB\t_\t_\t_\t_\t3:conj\t_\n"
    "\n"
    "\n"
    "# sent_id = fr-2\n"
    "1\tOui\toui\tINTJ\t_\t_\t0\troot\t_\t_\n"
)


def test_conllu_multiword_tokens_and_empty_nodes_are_not_words(tmp_path):
    path = write(tmp_path / "a.conllu", CONLLU)
    tasks = {"upos": {"task_type": "seq", "column_idx": 3}}
    first, second = read(path, tasks)
    assert first.words == ["de", "le", "chat"]
    assert first.labels["upos"] == ["ADP", "DET", "NOUN"]
    assert first.line_numbers == [4, 5, 6]
    assert first.sent_id == "fr-1"
    assert first.comments == ["# sent_id = fr-1", "# text = du chat"]
    assert second.words == ["Oui"]
    assert second.line_numbers == [11]
    assert second.sent_id == "fr-2"


def test_conllu_reader_directly_with_feats_column(tmp_path):
    path = write(tmp_path / "a.conllu", CONLLU)
    first, _ = ConlluReader().read(str(path), [TaskColumn("feats", 5)])
    assert first.labels["feats"] == ["_", "_", "Gender=Masc"]


def test_invalid_conllu_names_file_and_sentence_line(tmp_path):
    text = "1\tok\tok\tX\t_\t_\t0\troot\t_\t_\n\nx\tbad\tbad\tX\t_\t_\t0\troot\t_\t_\n"
    path = write(tmp_path / "bad.conllu", text)
    with pytest.raises(DataError, match=r"bad\.conllu, line 3: not valid CoNLL-U.*'x'"):
        read(path, {"upos": {"task_type": "seq", "column_idx": 3}})


def test_conllu_line_without_the_task_column_is_an_error(tmp_path):
    path = write(
        tmp_path / "short.conllu", "# sent_id = 1\n1\tok\tok\tX\t_\t_\t0\troot\t_\t_\n2\tshort\n"
    )
    with pytest.raises(DataError, match=r"short\.conllu, line 3: expected the ten .* column 3"):
        read(path, {"upos": {"task_type": "seq", "column_idx": 3}})


# ---- choosing a reader: suffix, level, content, or the "reader" key ----

UPOS = {"upos": {"task_type": "seq", "column_idx": 3}}


def as_seen(sentences):
    return [(s.words, s.labels, s.line_numbers, s.sent_id, s.comments) for s in sentences]


@pytest.mark.parametrize("word_idx", [0, 1])  # unset (0) and MaChAmp's explicit FORM
def test_conllu_without_its_suffix_is_read_as_conllu(tmp_path, word_idx):
    """MaChAmp's data/ewt.train: CoNLL-U by its content, read as the .conllu file is."""
    named = read(write(tmp_path / "ewt.conllu", CONLLU), UPOS, word_idx=word_idx)
    unnamed = read(write(tmp_path / "ewt.train", CONLLU), UPOS, word_idx=word_idx)
    assert as_seen(unnamed) == as_seen(named)
    assert unnamed[0].words == ["de", "le", "chat"]  # not the multiword token "du"
    config = dataset(tmp_path / "ewt.train", UPOS)
    assert isinstance(make_reader(config, str(tmp_path / "ewt.train")), ConlluReader)


@pytest.mark.parametrize(
    "text",
    [
        "John NNP B-PER\nsmiles VBZ O\n",  # whitespace columns
        "# id 1\tdomain=x\n1 _ _ O\n",  # MultiCoNER with a number as its first token
        "Berlin\tB-LOC\tO\n",  # TSV
        # ten tab-separated columns, but the first is not the word numbers 1, 2, ...
        "7\ta\t_\t_\t_\t_\t_\t_\t_\tO\n8\tb\t_\t_\t_\t_\t_\t_\t_\tO\n",
        "1\ta\t_\t_\t_\t_\t_\t_\t_\tO\n3\tb\t_\t_\t_\t_\t_\t_\t_\tO\n",
        "1\ta\t_\t_\t_\t_\t_\t_\tO\n",  # nine columns
        "# sent_id = 1\n",  # comments only
    ],
)
def test_a_column_file_is_not_taken_for_conllu(tmp_path, text):
    path = write(tmp_path / "data.train", text)
    assert detect_reader(str(path)) == "column"
    assert type(make_reader(dataset(path), str(path))) is ColumnReader


def test_detection_by_suffix_level_and_content(tmp_path):
    conllu_text = write(tmp_path / "dev.txt", CONLLU)
    assert detect_reader(str(conllu_text)) == "conllu"
    assert detect_reader(str(tmp_path / "absent.CONLLU")) == "conllu"  # the suffix decides
    assert detect_reader(str(conllu_text), sentence_level=True) == "sentence_tsv"
    assert detect_reader(str(tmp_path / "absent.train")) == "column"  # the reader says why
    assert detect_reader(None, sentence_level=True) == "sentence_tsv"
    utf16 = write(tmp_path / "utf16.train", CONLLU, encoding="utf-16")
    assert detect_reader(str(utf16), "utf-16") == "conllu"
    assert ConlluReader.recognises(CONLLU.split("\n"))


def test_the_reader_key_wins_over_the_content(tmp_path):
    path = write(tmp_path / "ewt.train", CONLLU)
    tasks = {"upos": {"task_type": "seq", "column_idx": 3}}
    first, _ = read(path, tasks, reader="column", separator="tab", word_idx=1)
    assert first.words[0] == "du"  # the column reader takes the multiword line as a word


def test_conllu_negative_columns_count_from_the_tenth(tmp_path):
    path = write(tmp_path / "a.conllu", CONLLU.replace("\t_\n", "\tB-X\n"))
    first, _ = read(path, {"misc": {"task_type": "seq", "column_idx": -1}})
    assert first.labels["misc"] == ["B-X", "B-X", "B-X"]
    with pytest.raises(DataError, match=r"column -11 is not one of the ten CoNLL-U columns"):
        read(path, {"misc": {"task_type": "seq", "column_idx": -11}})


# ---- the reader protocol ----


def test_a_reader_defines_read_or_iter_read():
    with pytest.raises(TypeError, match="must define read or iter_read"):

        class Nothing(Reader):
            pass


def test_a_reader_that_only_reads_whole_files_does_not_stream(tmp_path):
    class Whole(ColumnReader):
        def read(self, path, tasks, require_labels=True):
            return super().read(path, tasks, require_labels)

    assert ColumnReader.streams and not Whole.streams
    path = write(tmp_path / "a.conll", "a O\n\nb O\n")
    assert [s.words for s in Whole().iter_read(str(path), [])] == [["a"], ["b"]]


def test_writer_settings_come_from_the_reader(tmp_path):
    column = make_reader(dataset(tmp_path / "a.conll", separator="tab", encoding="latin-1"))
    # Files of one word per line keep sentence labels in comments (MaChAmp's # intent: X).
    assert column.writer_settings() == WriterSettings("tab", "latin-1", 0, "", None, True)
    conllu = make_reader(dataset(tmp_path / "a.conllu", UPOS), str(tmp_path / "a.conllu"))
    assert conllu.writer_settings() == WriterSettings("tab", "utf-8", 1, "_", 10, True)
    assert conllu.writer_settings().label_column(-1) == 9
    tsv = SentenceTsvReader(sent_idxs=[0, 2]).writer_settings()
    assert (tsv.separator, tsv.word_idx, tsv.comment_labels) == ("tab", 2, False)


def test_a_registered_reader_without_the_base_class_is_adopted(tmp_path, monkeypatch):
    """A plugin reader written before the protocol: read as before, written with the keys."""
    monkeypatch.setattr(readers, "_entries", dict(readers._entries))

    @readers.register("test_plain_reader")
    class Plain:
        def __init__(self, word_idx: int = 0):
            self.word_idx = word_idx

        def read(self, path, tasks, require_labels=True):
            return ColumnReader(self.word_idx).read(path, tasks, require_labels)

    path = write(tmp_path / "a.conll", "a b O\n")
    config = dataset(path, reader="test_plain_reader", word_idx=1, separator="tab")
    reader = make_reader(config, str(path))
    assert isinstance(reader, Reader) and not reader.streams
    assert reader.writer_settings() == WriterSettings("tab", "utf-8", 1, "")
    assert [s.words for s in reader.read(str(path), task_columns(config))] == [["b"]]


# ---- line numbers ----


def test_every_word_has_its_own_line_number(tmp_path):
    text = "\n# id a\tdomain=x\nw1 _ _ O\nw2 _ _ O\n\n\n\n# id b\tdomain=x\n# _ _ O\nw4 _ _ O\n"
    path = write(tmp_path / "a.conll", text)
    lines = text.split("\n")
    for sentence in read(path):
        for word, number in zip(sentence.words, sentence.line_numbers, strict=True):
            assert lines[number - 1].split()[0] == word


def test_line_numbers_with_crlf_and_form_feed_inside_a_token(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_bytes("a\x0cb\tO\r\nc\u2028d\tO\r\n\r\ne\tO\r\n".encode())
    first, second = read(path, {"ner": {"task_type": "seq", "column_idx": 1}}, separator="tab")
    assert first.words == ["a\x0cb", "c\u2028d"]
    assert first.line_numbers == [1, 2]
    assert second.words == ["e"]
    assert second.line_numbers == [4]


# ---- sentence TSV ----


def test_sentence_tsv_reader_reads_text_and_label_columns(tmp_path):
    path = write(tmp_path / "cls.tsv", "a good film\tpos\n\nbad one\tneg\n")
    sentences = SentenceTsvReader().read(str(path), [TaskColumn("sentiment", 1, "sentence")])
    assert [s.words for s in sentences] == [["a", "good", "film"], ["bad", "one"]]
    assert [s.labels["sentiment"] for s in sentences] == ["pos", "neg"]
    assert [s.line_numbers for s in sentences] == [[1, 1, 1], [3, 3]]


def test_sentence_tsv_line_without_label_column_is_an_error(tmp_path):
    path = write(tmp_path / "cls.tsv", "a good film\tpos\nno label here\n")
    with pytest.raises(DataError, match=r"cls\.tsv, line 2: expected at least 2 tab-separated"):
        SentenceTsvReader().read(str(path), [TaskColumn("sentiment", -1, "sentence")])


def test_column_reader_without_labels_needs_only_the_word_column(tmp_path):
    path = write(tmp_path / "raw.conll", "a\nb\n\nc\n")
    sentences = ColumnReader().read(str(path), [TaskColumn("ner", -1)], require_labels=False)
    assert [s.words for s in sentences] == [["a", "b"], ["c"]]
    assert sentences[0].labels == {}


# ---- bad input ----


def test_missing_file(tmp_path):
    path = tmp_path / "nope.conll"
    with pytest.raises(DataError, match=r"nope\.conll: file not found"):
        read(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path / "empty.conll", text)
    with pytest.raises(DataError, match=r"empty\.conll: file is empty"):
        read(path)


def test_file_with_only_comments(tmp_path):
    path = write(tmp_path / "c.conll", "# id 1\tdomain=x\n\n# id 2\tdomain=x\n")
    with pytest.raises(DataError, match=r"c\.conll: no sentences found \(only blank or comment"):
        read(path)


@pytest.mark.parametrize(
    ("line", "settings", "width"),
    [
        ("lonely", {}, 2),  # label column -1 must not be the word column
        ("word\tlabel", {"separator": "tab", "word_idx": 1}, 3),
    ],
)
def test_line_with_too_few_columns(tmp_path, line, settings, width):
    first = "1\tok\tO" if settings else "ok _ _ O"
    path = write(tmp_path / "few.conll", f"{first}\n{line}\n")
    with pytest.raises(DataError) as caught:
        read(path, {"ner": {"task_type": "seq", "column_idx": -1}}, **settings)
    message = str(caught.value)
    assert f"few.conll, line 2: expected at least {width} columns" in message
    assert caught.value.line == 2


def test_too_few_columns_with_tab_separator_hints_at_whitespace(tmp_path):
    path = write(tmp_path / "few.tsv", "Paris B-LOC\n")
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": 1}}
    with pytest.raises(DataError, match=r'line 1: expected at least 2 .*"separator": "whitespace"'):
        read(path, tasks, separator="tab")


@pytest.mark.parametrize("label", ["PER", "B-", "X-Y"])
def test_non_bio_label_is_an_error_for_seq_bio(tmp_path, label):
    path = write(tmp_path / "bio.conll", f"a O\nb {label}\n")
    with pytest.raises(DataError) as caught:
        read(path)
    message = str(caught.value)
    assert "bio.conll, line 2:" in message
    assert f"label {label!r}" in message
    assert "expected a BIO tag" in message


@pytest.mark.parametrize("label", ["PER", "B-", "X-Y"])
def test_same_labels_are_accepted_for_seq(tmp_path, label):
    path = write(tmp_path / "bio.conll", f"a O\nb {label}\n")
    [sentence] = read(path, {"ner": {"task_type": "seq", "column_idx": -1}})
    assert sentence.labels["ner"] == ["O", label]


def test_empty_label_field_is_an_error(tmp_path):
    path = write(tmp_path / "e.tsv", "a\tO\nb\t\n")
    with pytest.raises(DataError, match=r"e\.tsv, line 2: label '' of task 'ner'"):
        read(path, {"ner": {"task_type": "seq", "column_idx": 1}}, separator="tab")


def test_bytes_that_are_not_utf8_name_the_line_and_the_encoding_key(tmp_path):
    path = tmp_path / "latin.conll"
    path.write_bytes("a O\n\nb O\nM\u00fcnchen B-LOC\n".encode("latin-1"))
    with pytest.raises(DataError) as caught:
        read(path)
    message = str(caught.value)
    assert "latin.conll, line 4:" in message
    assert "not valid utf-8" in message
    assert '"encoding": "latin-1"' in message
    sentences = read(path, encoding="latin-1")
    assert sentences[1].words == ["b", "M\u00fcnchen"]


def test_bad_byte_line_counts_correctly_after_a_bom(tmp_path):
    path = tmp_path / "bom.conll"
    path.write_bytes(b"\xef\xbb\xbfa O\n\xffb O\n")
    with pytest.raises(DataError, match=r"bom\.conll, line 2: bytes that are not valid utf-8"):
        read(path)


def test_unknown_encoding_is_an_error(tmp_path):
    path = write(tmp_path / "a.conll", "a O\n")
    with pytest.raises(DataError, match=r"unknown encoding 'klingon'"):
        read(path, encoding="klingon")


def test_bom_is_dropped(tmp_path):
    path = tmp_path / "bom.conll"
    path.write_bytes(b"\xef\xbb\xbf# id x\tdomain=y\nParis _ _ B-LOC\n")
    [sentence] = read(path)
    assert sentence.sent_id == "x"
    assert sentence.words == ["Paris"]


def test_bom_before_a_first_word_is_not_part_of_the_word(tmp_path):
    path = tmp_path / "bom.conll"
    path.write_bytes(b"\xef\xbb\xbfParis B-LOC\n")
    [sentence] = read(path)
    assert sentence.words == ["Paris"]


def test_crlf_line_endings(tmp_path):
    path = tmp_path / "crlf.tsv"
    path.write_bytes(b"#\thttp://x.de\t[2010-07-04]\t\r\n1\tParis\tB-LOC\r\n\r\n1\tja\tO\r\n")
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": 2}}
    sentences = read(path, tasks, separator="tab", word_idx=1)
    assert [s.words for s in sentences] == [["Paris"], ["ja"]]
    assert labels_of(sentences) == [["B-LOC"], ["O"]]
    assert sentences[0].comments == ["#\thttp://x.de\t[2010-07-04]\t"]


# ---- BIO normalisation ----


def test_span_initial_i_tags_become_b_without_changing_the_chunks(tmp_path):
    path = write(tmp_path / "a.tsv", "a\tI-PER\nb\tI-PER\nc\tI-LOC\nd\tO\ne\tI-ORG\n")
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": 1}}
    [sentence] = read(path, tasks, separator="tab")
    assert sentence.labels["ner"] == ["B-PER", "I-PER", "B-LOC", "O", "B-ORG"]
    [raw] = read(path, {"ner": {"task_type": "seq", "column_idx": 1}}, separator="tab")
    assert raw.labels["ner"][0] == "I-PER"  # only seq_bio tasks are normalised


def test_normalize_bio_counts_changes():
    labels, changed = normalize_bio(["I-X", "I-X", "B-X", "I-Y", "O"])
    assert labels == ["B-X", "I-X", "B-X", "B-Y", "O"]
    assert changed == 2


def test_bio_label_problem():
    assert bio_label_problem("O") is None
    assert bio_label_problem("B-PER") is None
    assert bio_label_problem("I-LOCderiv") is None
    assert bio_label_problem("PER") is not None


def test_max_sents_keeps_the_first_sentences(tmp_path):
    path = write(tmp_path / "a.conll", "a O\n\nb O\n\nc O\n")
    assert [s.words for s in read(path, max_sents=2)] == [["a"], ["b"]]


# ---- the real data in ../shared/data ----


def count_b(sentences, task="ner") -> int:
    return sum(label.startswith("B-") for s in sentences for label in s.labels[task])


@needs_shared_data()
def test_real_multiconer_multi_dev():
    path = SHARED_DATA / "multiconer2022/MULTI_Multilingual/multi_dev.conll"
    sentences = read(path)
    assert len(sentences) == 8800
    assert count_b(sentences) == 12513
    assert all(s.sent_id for s in sentences)
    assert all(len(s.words) == len(s.labels["ner"]) for s in sentences)


@needs_shared_data()
def test_real_multiconer_en_dev():
    sentences = read(SHARED_DATA / "multiconer2022/EN-English/en_dev.conll")
    assert len(sentences) == 800
    assert len({s.sent_id for s in sentences}) == 800


@needs_shared_data()
def test_real_danplus_news_dev():
    path = SHARED_DATA / "danplus/da_news_dev.tsv"
    sentences = read(path, {"ner": {"task_type": "seq_bio", "column_idx": 1}}, separator="tab")
    assert len(sentences) == 564


@needs_shared_data()
def test_real_germeval_dev():
    path = SHARED_DATA / "germeval2014/NER-de-dev.tsv"
    tasks = {"ner": {"task_type": "seq_bio", "column_idx": 2}}
    sentences = read(path, tasks, separator="tab", word_idx=1)
    assert len(sentences) == 2200
    assert count_b(sentences) == 2674
    assert all(len(s.comments) == 1 for s in sentences)


@needs_shared_data()
def test_real_wikiann_zh_dev_normalises_span_initial_i():
    path = SHARED_DATA / "wikiann/zh/dev.tsv"
    normalised = read(path, {"ner": {"task_type": "seq_bio", "column_idx": 1}}, separator="tab")
    raw = read(path, {"ner": {"task_type": "seq", "column_idx": 1}}, separator="tab")
    assert len(normalised) == len(raw) == 10000
    assert [s.words for s in normalised] == [s.words for s in raw]
    changed = sum(
        a != b for n, r in zip(normalised, raw) for a, b in zip(n.labels["ner"], r.labels["ner"])
    )
    assert changed > 0
    for n, r in zip(normalised, raw):
        assert spans(n.labels["ner"]) == spans(r.labels["ner"])
        assert all(label[:2] != "I-" or i > 0 for i, label in enumerate(n.labels["ner"]))


# ---- files that are not text in the encoding they are read with ----

NOT_TEXT = {
    "utf16_le_bom": (
        codecs.BOM_UTF16_LE + "a O\n".encode("utf-16-le"),
        "this is a UTF-16 file (it starts with the UTF-16 little-endian byte-order mark ff fe) "
        'but it is read as utf-8; set the dataset\'s "encoding" key: "encoding": "utf-16"',
    ),
    "utf16_be_bom": (
        codecs.BOM_UTF16_BE + "a O\n".encode("utf-16-be"),
        "this is a UTF-16 file (it starts with the UTF-16 big-endian byte-order mark fe ff) "
        'but it is read as utf-8; set the dataset\'s "encoding" key: "encoding": "utf-16"',
    ),
    "utf16_le_no_bom": (
        "anna B-PER\nlives O\n".encode("utf-16-le"),
        "this looks like a UTF-16 little-endian file without a byte-order mark (one byte in "
        'two is NUL) but it is read as utf-8; set the dataset\'s "encoding" key: "encoding": '
        '"utf-16-le"',
    ),
    "utf32_le_bom": (
        "a O\n".encode("utf-32"),
        "this is a UTF-32 file (it starts with the UTF-32 little-endian byte-order mark ff fe "
        '00 00) but it is read as utf-8; set the dataset\'s "encoding" key: "encoding": "utf-32"',
    ),
    "gzip": (
        gzip.compress(b"a O\n"),
        "this is a gzip-compressed file (it starts with the bytes 1f 8b), not text; decompress "
        "it first (e.g. with gunzip) and give the path of the decompressed file",
    ),
}


@pytest.mark.parametrize("kind", NOT_TEXT)
@pytest.mark.parametrize("streaming", [False, True], ids=["read", "iter_read"])
def test_utf16_utf32_and_gzip_files_are_named(tmp_path, kind, streaming):
    data, message = NOT_TEXT[kind]
    path = tmp_path / "f.conll"
    path.write_bytes(data)
    reader = ColumnReader()
    task = [TaskColumn("ner", -1)]
    with pytest.raises(EncodingError) as caught:
        list(reader.iter_read(str(path), task)) if streaming else reader.read(str(path), task)
    assert str(caught.value) == f"{path}: {message}"
    worded = str(caught.value.for_option("--encoding"))
    if kind == "gzip":
        assert worded == str(caught.value)
    else:
        encoding = message.rsplit('"', 2)[1]
        assert worded.endswith(
            f"but it is read as utf-8; run the command again with --encoding {encoding}"
        )


def test_a_utf8_file_read_as_utf16_is_named(tmp_path):
    path = tmp_path / "f.conll"
    path.write_bytes(codecs.BOM_UTF8 + b"a O\n")
    with pytest.raises(EncodingError, match=r"this is a UTF-8 file .* read as utf-16; .*utf-8"):
        ColumnReader(encoding="utf-16").read(str(path), [TaskColumn("ner", -1)])


def test_nul_tokens_in_utf8_are_not_taken_for_utf16(tmp_path):
    path = tmp_path / "nul.conll"
    path.write_bytes(b"\x00 O\na\x00b O\n\x00\x00 O\n")
    sentences = ColumnReader().read(str(path), [TaskColumn("ner", -1)])
    assert sentences[0].words == ["\x00", "a\x00b", "\x00\x00"]


@pytest.mark.parametrize(
    "encoding, data",
    [
        ("utf-16", "Paris B-LOC\nis O\n".encode("utf-16")),  # Python's codec writes a BOM
        ("utf-16", codecs.BOM_UTF16_BE + "Paris B-LOC\nis O\n".encode("utf-16-be")),
        ("utf-16-le", "\ufeffParis B-LOC\nis O\n".encode("utf-16-le")),
        ("UTF_16BE", "\ufeffParis B-LOC\nis O\n".encode("utf-16-be")),
        ("utf-32", "Paris B-LOC\nis O\n".encode("utf-32")),
    ],
)
def test_utf16_and_utf32_files_drop_their_bom_like_utf8(tmp_path, encoding, data):
    path = tmp_path / "wide.conll"
    path.write_bytes(data)
    [sentence] = read(path, encoding=encoding)
    assert sentence.words == ["Paris", "is"]


def test_a_bad_utf16_byte_names_its_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_bytes("a O\n\nb O\n".encode("utf-16") + b"\x00\xd8c\x00")  # a lone surrogate
    with pytest.raises(DataError, match=r"bad\.conll, line 4: bytes that are not valid utf-16"):
        read(path, encoding="utf-16")


# ---- symbolic links ----


@pytest.mark.parametrize("streaming", [False, True], ids=["read_text", "stream_lines"])
def test_a_symlink_loop_and_a_dangling_link_say_what_they_are(tmp_path, streaming):
    loop = tmp_path / "loop.conll"
    loop.symlink_to(tmp_path / "loop2.conll")
    (tmp_path / "loop2.conll").symlink_to(loop)
    dangling = tmp_path / "dangling.conll"
    dangling.symlink_to("gone.conll")

    def load(path):
        return list(stream_lines(str(path))) if streaming else read_text(str(path))

    with pytest.raises(DataError) as caught:
        load(loop)
    assert str(caught.value) == (
        f"{loop}: is a symbolic link loop (a link on this path points, through other links, "
        "back to itself); fix the link or give the data file's own path"
    )
    with pytest.raises(DataError) as caught:
        load(dangling)
    assert str(caught.value) == (
        f"{dangling}: is a symbolic link to gone.conll, which does not exist; fix the link or "
        "give the data file's own path"
    )
    (tmp_path / "gone.conll").write_text("a O\n", encoding="utf-8")
    assert "a O" in str(load(dangling))
