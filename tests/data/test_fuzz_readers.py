"""Property-based tests: readers and the writer on arbitrary bytes and near-CoNLL text."""

from __future__ import annotations

import codecs
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from machamp_lite.config import validate_dataset
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.readers import ColumnReader, ConlluReader, SentenceTsvReader
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.data.writers import write_in_place
from machamp_lite.decoders.codecs import bio_label_problem
from machamp_lite.errors import DataError, MachampError

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- near-CoNLL text ----

TOKENS = [
    "anna", "Berlin", "#", "_", "4_", "東京", "naïve", "-DOCSTART-", "1", "1-2", "1.1", "id",
    "a=b", "http://x", "\u200b", "\u200d", "\ufeff", "\x00", "\x01", "\x7f", "\x0c", "\x0b",
    "\x1c", "\x85", "\u2028", "\u00a0", "\u3000", "\u0301", "\r", "",
]  # fmt: skip
VALID_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
INVALID_LABELS = ["", "B-", "I-", "X", "b-per", "_", "0", "B-PER\x00", "E-PER", "O\r"]
SEPARATORS = [" ", "\t", "  ", " \t ", "\u00a0", "\x0b", "\x1c", "\t\t"]
COMMENTS = [
    "# id 1\tdomain=x", "# sent_id = s1", "# text = a b", "#", "# newdoc", "#\tO", "# _ _ O",
    "#\thttp://x\t[2005-10-27]\t", " # sent_id = s2", "#\tberlinonline.de\t[2005-10-27]\t",
]  # fmt: skip
BLANKS = ["", " ", "\t", "\u3000", "\x0c", "  \t"]
CONLLU_IDS = ["1", "2", "3", "0", "1-2", "1.1", "_", "x", "-1", "01", "2-1", ""]
CONLLU_VALUES = ["_", "anna", "A=B|C=D", "Foo", "B-PER", "0", "1", "root", "2:nsubj", "X", ""]
INVALID_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\xe2\x82", b"\x80"]

tokens = st.one_of(st.sampled_from(TOKENS), st.text(max_size=4))
labels = st.one_of(st.sampled_from(VALID_LABELS), st.sampled_from(INVALID_LABELS))


@st.composite
def token_lines(draw) -> str:
    fields = [draw(tokens) for _ in range(draw(st.integers(0, 3)))] + [draw(labels)]
    if draw(st.booleans()):
        fields.insert(0, draw(tokens))
    line = fields[0]
    for field in fields[1:]:
        line += draw(st.sampled_from(SEPARATORS)) + field
    return line + draw(st.sampled_from(["", "", " ", "\t", "  "]))


@st.composite
def conllu_lines(draw) -> str:
    fields = [draw(st.sampled_from(CONLLU_IDS))]
    fields += [draw(st.one_of(st.sampled_from(CONLLU_VALUES), tokens)) for _ in range(9)]
    return "\t".join(fields[: draw(st.integers(1, 10))])


lines = st.one_of(
    token_lines(),
    token_lines(),
    conllu_lines(),
    st.sampled_from(COMMENTS),
    st.sampled_from(BLANKS),
    st.text(max_size=12),
)


@st.composite
def near_conll(draw) -> bytes:
    """Lines of tokens, labels, comments and blanks; any line endings, a BOM, bad bytes."""
    text = "\ufeff" if draw(st.booleans()) else ""
    for line in draw(st.lists(lines, max_size=25)):
        text += line + draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode("utf-8")
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(INVALID_BYTES)) + data[at:]
    return data


SAFE_WORDS = ["anna", "Berlin", "#", "_", "4_", "東京", "naïve", "\u200b", "\x00", "\x01", "\u0301"]
words = st.one_of(st.sampled_from(SAFE_WORDS), st.sampled_from(SAFE_WORDS), tokens)
mostly_valid_labels = st.sampled_from(VALID_LABELS * 40 + INVALID_LABELS)


@st.composite
def spoil(draw, text: str) -> bytes:
    """``text`` as UTF-8, maybe with a BOM, maybe without its final newline, and now and then
    with a random line or a bad byte put in."""
    lines_ = text.split("\n")
    if draw(st.integers(0, 4)) == 0:
        lines_.insert(draw(st.integers(0, len(lines_))), draw(lines))
    text = ("\ufeff" if draw(st.booleans()) else "") + "\n".join(lines_)
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    data = text.encode("utf-8")
    if draw(st.integers(0, 6)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(INVALID_BYTES)) + data[at:]
    return data


@st.composite
def column_like(draw) -> bytes:
    """Mostly well-formed column files: ``word _ _ label`` sentences, comments, blank lines."""
    sep = draw(st.sampled_from(["\t", "\t", " ", "  ", " \t"]))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ""
    for _ in range(draw(st.integers(1, 4))):
        text += "".join(
            draw(st.sampled_from(BLANKS)) + ending for _ in range(draw(st.integers(0, 2)))
        )
        if draw(st.booleans()):
            text += draw(st.sampled_from(COMMENTS[:6])) + ending
        for _ in range(draw(st.integers(1, 5))):
            fields = [draw(words), "_", "_", draw(mostly_valid_labels)]
            text += sep.join(fields) + draw(st.sampled_from(["", "", " ", "\t"])) + ending
        text += ending
    return draw(spoil(text))


@st.composite
def conllu_like(draw) -> bytes:
    """Mostly well-formed CoNLL-U: numbered words, multiword tokens, empty nodes, comments."""
    text = ""
    for _ in range(draw(st.integers(1, 3))):
        text += "".join(
            draw(st.sampled_from(BLANKS)) + "\n" for _ in range(draw(st.integers(0, 2)))
        )
        if draw(st.booleans()):
            text += draw(st.sampled_from(["# sent_id = s1", "# text = a b", "# newpar"])) + "\n"
        n = draw(st.integers(1, 4))
        for i in range(1, n + 1):
            if i < n and draw(st.integers(0, 3)) == 0:
                text += f"{i}-{i + 1}\t{draw(words)}\t_\t_\t_\t_\t_\t_\t_\t_\n"
            misc = draw(st.sampled_from(["_", "B-PER", "O", "SpaceAfter=No", "I-LOC"]))
            upos = draw(st.sampled_from(["NOUN", "VERB", "_", "X"]))
            head = draw(st.integers(0, n))
            text += f"{i}\t{draw(words)}\t_\t{upos}\t_\t_\t{head}\troot\t_\t{misc}\n"
            if draw(st.integers(0, 5)) == 0:
                text += f"{i}.1\t{draw(words)}\t_\t_\t_\t_\t_\t_\t{i}:conj\t_\n"
        text += "\n"
    return draw(spoil(text))


# Raw bytes, chaotic near-CoNLL text, and (twice as often) mostly valid files that parse.
any_input = st.one_of(
    st.binary(max_size=400),
    near_conll(),
    column_like(),
    column_like(),
    conllu_like(),
    conllu_like(),
)


def file_lines(data: bytes) -> list[str]:
    """The file's lines as the readers number them (a BOM dropped, one CR per line ending)."""
    text = data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    return [line.removesuffix("\r") for line in text.split("\n")]


def check_error(error: MachampError, path: str, data: bytes) -> None:
    """A reader's error names the file (and, when it has one, a line of the file)."""
    assert str(path) in str(error)
    if isinstance(error, DataError) and error.line is not None:
        assert 1 <= error.line <= data.count(b"\n") + 1


def check_token_sentences(sentences, data, tasks, require_labels, word_of_line) -> None:
    """Every sentence: words on increasing, non-blank lines, read from those lines, with one
    valid label per word and task."""
    assert sentences
    lines_ = file_lines(data)
    previous = 0
    for sentence in sentences:
        assert sentence.words
        assert len(sentence.line_numbers) == len(sentence.words)
        for word, number in zip(sentence.words, sentence.line_numbers):
            assert previous < number <= len(lines_)
            previous = number
            assert lines_[number - 1].strip()
            assert word_of_line(lines_[number - 1]) == word
        if not require_labels:
            assert sentence.labels == {}
            continue
        for task in tasks:
            assert len(sentence.labels[task.name]) == len(sentence.words)
            for label in sentence.labels[task.name]:
                assert task.validate is None or task.validate(label) is None


COLUMN_TASKS = [
    [TaskColumn("ner", -1, "token", bio_label_problem)],
    [TaskColumn("pos", 1), TaskColumn("ner", -1, "token", bio_label_problem)],
]


@pytest.mark.parametrize("separator", ["whitespace", "tab"])
@pytest.mark.parametrize("tasks", COLUMN_TASKS, ids=["ner", "pos+ner"])
@FUZZ
@given(data=any_input, require_labels=st.booleans())
def test_column_reader_gives_aligned_sentences_or_a_data_error(
    tmp_path, separator, tasks, data, require_labels
):
    path = tmp_path / "fuzz.conll"
    path.write_bytes(data)
    try:
        sentences = ColumnReader(separator=separator).read(str(path), tasks, require_labels)
    except MachampError as error:
        check_error(error, str(path), data)
        return

    def word_of_line(line: str) -> str:
        if separator == "tab":
            return line.split("\t")[0].strip()
        return line.split()[0]

    check_token_sentences(sentences, data, tasks, require_labels, word_of_line)
    lines_ = file_lines(data)
    read_lines = [n for s in sentences for n in s.line_numbers]
    # No token is dropped: every non-blank line is a word, or a comment before a sentence.
    for number, line in enumerate(lines_, start=1):
        if line.strip() and not line.startswith("#"):
            assert number in read_lines
    for sentence, following in zip(sentences, sentences[1:]):
        # Words of a sentence are on consecutive lines, and a blank line ends the sentence.
        assert sentence.line_numbers == list(
            range(sentence.first_line, sentence.first_line + len(sentence))
        )
        between = lines_[sentence.line_numbers[-1] : following.first_line - 1]
        assert any(not line.strip() for line in between)


@pytest.mark.parametrize(
    "tasks",
    [[TaskColumn("upos", 3)], [TaskColumn("misc", 9)], [TaskColumn("dep", 7, width=2)]],
    ids=["upos", "misc", "head+deprel"],
)
@FUZZ
@given(data=any_input, require_labels=st.booleans())
def test_conllu_reader_gives_aligned_sentences_or_a_data_error(
    tmp_path, tasks, data, require_labels
):
    path = tmp_path / "fuzz.conllu"
    path.write_bytes(data)
    try:
        sentences = ConlluReader().read(str(path), tasks, require_labels)
    except MachampError as error:
        check_error(error, str(path), data)
        return

    def word_of_line(line: str) -> str:
        return line.rstrip().split("\t")[1]

    check_token_sentences(sentences, data, tasks, require_labels, word_of_line)
    lines_ = file_lines(data)
    for sentence in sentences:
        for number in sentence.line_numbers:
            fields = lines_[number - 1].rstrip().split("\t")
            assert re.fullmatch(r"[1-9][0-9]*", fields[0].strip())
            if require_labels:
                for task in tasks:
                    index = sentence.line_numbers.index(number)
                    expected = "\t".join(fields[c].strip() for c in task.columns)
                    assert sentence.labels[task.name][index] == expected


@FUZZ
@given(data=any_input, require_labels=st.booleans(), label_column=st.sampled_from([1, -1]))
def test_sentence_tsv_reader_gives_one_sentence_per_line_or_a_data_error(
    tmp_path, data, require_labels, label_column
):
    path = tmp_path / "fuzz.tsv"
    path.write_bytes(data)
    tasks = [TaskColumn("cls", label_column, "sentence")]
    try:
        sentences = SentenceTsvReader().read(str(path), tasks, require_labels)
    except MachampError as error:
        check_error(error, str(path), data)
        return
    lines_ = file_lines(data)
    previous = 0
    for sentence in sentences:
        number = sentence.first_line
        assert previous < number <= len(lines_)
        previous = number
        assert sentence.line_numbers == [number] * len(sentence.words)
        fields = lines_[number - 1].split("\t")
        while len(fields) > 2 and not fields[-1].strip():
            fields.pop()  # a trailing tab does not make an empty label column
        assert sentence.words == fields[0].split()
        if require_labels:
            assert sentence.labels["cls"] == fields[label_column].strip()
    assert len(sentences) == sum(1 for line in lines_ if line.strip())


@FUZZ
@given(data=any_input, separator=st.sampled_from(["whitespace", "tab"]))
def test_read_dataset_file_with_a_seq_bio_task_gives_iob2_or_a_data_error(
    tmp_path, data, separator
):
    path = tmp_path / "fuzz.conll"
    path.write_bytes(data)
    config = {
        "train_data_path": str(path),
        "separator": separator,
        "tasks": {"ner": {"task_type": "seq_bio", "column_idx": -1}},
    }
    dataset = validate_dataset("fuzz", config, "fuzz.json", None)
    try:
        sentences = read_dataset_file(dataset, str(path))
    except MachampError as error:
        check_error(error, str(path), data)
        return
    for sentence in sentences:
        assert len(sentence.labels["ner"]) == len(sentence.words) == len(sentence.line_numbers)
        previous = "O"
        for label in sentence.labels["ner"]:
            assert bio_label_problem(label) is None
            # IOB2: an I- tag only continues a chunk of its own type.
            assert not label.startswith("I-") or previous[2:] == label[2:]
            previous = label


# ---- the writer: read, write new labels in place, read again ----

WORDS = ["anna", "#", "_", "4_", "東京", "\u200b", "\x00", "\x01", "\u0301", "a=b", "x\x0cy", "id"]
PLAIN_WORDS = ["anna", "_", "4_", "東京", "\u200b", "x\x0cy"]  # a bare "#" would be a comment
NEW_LABELS = st.one_of(
    st.sampled_from(VALID_LABELS),
    st.from_regex(r"[BI]-[A-Za-z0-9_\u00c0-\u017f]{1,6}", fullmatch=True),
)


@st.composite
def labelled_files(draw) -> tuple[bytes, str]:
    """A readable column file: sentences of ``word [_ _] label`` lines, comments, runs of blank
    lines, LF or CRLF, maybe a BOM, maybe no final newline, maybe trailing whitespace."""
    separator = draw(st.sampled_from(["whitespace", "tab"]))
    sep = " " if separator == "whitespace" else "\t"
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = "\ufeff" if draw(st.booleans()) else ""
    for _ in range(draw(st.integers(1, 4))):
        text += ending * draw(st.integers(0, 2))
        if draw(st.booleans()):
            text += draw(st.sampled_from(["# id s\tdomain=x", "# sent_id = 1"])) + ending
        for _ in range(draw(st.integers(1, 5))):
            word = draw(st.sampled_from(WORDS))
            middle = draw(st.sampled_from(["", f"{sep}_{sep}_"]))
            trailing = draw(st.sampled_from(["", "", " ", "\t", "  \t"]))
            text += f"{word}{middle}{sep}{draw(st.sampled_from(VALID_LABELS))}{trailing}{ending}"
        text += ending
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text.encode("utf-8"), separator


@FUZZ
@given(file=labelled_files(), data=st.data())
def test_written_labels_read_back_in_place(tmp_path, file, data):
    raw, separator = file
    source, target = tmp_path / "in.conll", tmp_path / "out.conll"
    source.write_bytes(raw)
    tasks = [TaskColumn("ner", -1, "token", bio_label_problem)]
    reader = ColumnReader(separator=separator)
    try:
        before = reader.read(str(source), tasks)
    except DataError:
        assume(False)  # e.g. a word that is a whitespace character, which leaves no word column
    new = [data.draw(st.lists(NEW_LABELS, min_size=len(s), max_size=len(s))) for s in before]
    write_in_place(str(source), str(target), before, {"ner": new}, {"ner": -1}, separator)
    written = target.read_bytes()
    assert written.count(b"\n") == raw.count(b"\n")
    assert written.startswith(codecs.BOM_UTF8) == raw.startswith(codecs.BOM_UTF8)
    after = reader.read(str(target), tasks)
    assert [s.words for s in after] == [s.words for s in before]
    assert [s.line_numbers for s in after] == [s.line_numbers for s in before]
    assert [s.labels["ner"] for s in after] == new
    token_lines_ = {n for s in before for n in s.line_numbers}
    old_lines, new_lines = file_lines(raw), file_lines(written)
    for number, (old, line) in enumerate(zip(old_lines, new_lines), start=1):
        if number not in token_lines_:
            assert line == old


@FUZZ
@given(
    words=st.lists(st.lists(st.sampled_from(PLAIN_WORDS), min_size=1, max_size=4), min_size=1),
    separator=st.sampled_from(["whitespace", "tab"]),
    data=st.data(),
)
def test_labels_of_an_unlabelled_file_are_added_beside_the_words(tmp_path, words, separator, data):
    source, target = tmp_path / "in.txt", tmp_path / "out.conll"
    source.write_text("\n\n".join("\n".join(s) for s in words) + "\n", encoding="utf-8")
    tasks = [TaskColumn("ner", -1, "token", bio_label_problem)]
    reader = ColumnReader(separator=separator)
    before = reader.read(str(source), tasks, require_labels=False)
    new = [data.draw(st.lists(NEW_LABELS, min_size=len(s), max_size=len(s))) for s in before]
    write_in_place(str(source), str(target), before, {"ner": new}, {"ner": -1}, separator)
    after = reader.read(str(target), tasks)
    assert [s.words for s in after] == [s.words for s in before]
    assert [s.line_numbers for s in after] == [s.line_numbers for s in before]
    assert [s.labels["ner"] for s in after] == new


@FUZZ
@given(data=st.data())
def test_labels_written_into_conllu_misc_read_back_in_place(tmp_path, data):
    raw = data.draw(conllu_like())
    source, target = tmp_path / "in.conllu", tmp_path / "out.conllu"
    source.write_bytes(raw)
    tasks = [TaskColumn("ner", 9, "token", bio_label_problem)]
    reader = ConlluReader()
    try:
        before = reader.read(str(source), tasks, require_labels=False)
    except DataError:
        assume(False)  # a spoiled line
    # A short word line gets "_" in the columns it lacks; one that also has an empty field (a
    # trailing tab) was malformed CoNLL-U before and stays so.
    word_lines = [f.split("\t") for f in file_lines(raw) if f.strip() and f.strip()[0] != "#"]
    assume(not any(len(fields) < 10 and "" in fields for fields in word_lines))
    new = [data.draw(st.lists(NEW_LABELS, min_size=len(s), max_size=len(s))) for s in before]
    columns = {"ner": 9}
    write_in_place(
        str(source), str(target), before, {"ner": new}, columns, "tab", word_idx=1, pad="_"
    )
    assert target.read_bytes().count(b"\n") == raw.count(b"\n")
    after = reader.read(str(target), tasks)
    assert [s.words for s in after] == [s.words for s in before]
    assert [s.line_numbers for s in after] == [s.line_numbers for s in before]
    assert [s.labels["ner"] for s in after] == new
