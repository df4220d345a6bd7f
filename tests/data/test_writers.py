"""Tests for the writers: predictions go back into the input's own lines, atomically."""

from __future__ import annotations

import codecs
import errno
import os
import stat

import pytest

from machamp_lite.config import validate_dataset
from machamp_lite.data import writers
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.readers import ColumnReader, WriterSettings
from machamp_lite.data.writers import (
    atomic_write,
    replace_field,
    write_in_place,
    write_labels_only,
    write_token_label,
)
from machamp_lite.errors import DataError
from machamp_lite.registry import readers

from conftest import write

MULTICONER = (
    "\n"
    "# id 5f901859-942c-4023-b507-1748578c1963\tdomain=multi\n"
    "# _ _ O\n"
    "4_ _ _ B-CW\n"
    "ease _ _ I-CW\n"
    "\n"
    "\n"
    "# id 0372e985\tdomain=en\n"
    "berlin_ _ _ B-LOC\n"
)


def read(path, column=-1, **settings):
    config = {
        "train_data_path": str(path),
        "tasks": {"ner": {"task_type": "seq", "column_idx": column}},
        **settings,
    }
    dataset = validate_dataset("d", config, "d.json", None)
    return read_dataset_file(dataset, str(path))


def fake_predictions(sentences) -> list[list[str]]:
    """A distinct label for every word, so that a misplaced label shows."""
    return [[f"P{i}-{j}" for j in range(len(s.words))] for i, s in enumerate(sentences)]


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_replace_field_whitespace_keeps_spacing_and_other_fields():
    assert replace_field("4_ _ _ O", -1, "B-X", "whitespace") == "4_ _ _ B-X"
    assert replace_field("a  b\tc", 1, "Z", "whitespace") == "a  Z\tc"
    assert replace_field("a", 1, "Z", "whitespace") == "a Z"


def test_replace_field_tab_keeps_other_columns_and_appends_missing_ones():
    assert replace_field("1\tBerlin\tB-LOC\tO", 2, "O", "tab") == "1\tBerlin\tO\tO"
    assert replace_field("a b\tO", -1, "B-X", "tab") == "a b\tB-X"
    assert replace_field("a", 3, "X", "tab") == "a\t\t\tX"


def test_write_in_place_multiconer_replaces_only_the_label(tmp_path):
    source = write(tmp_path / "multi_dev.conll", MULTICONER)
    sentences = read(source)
    predictions = fake_predictions(sentences)
    target = tmp_path / "out" / "pred.conll"
    write_in_place(
        str(source), str(target), sentences, {"ner": predictions}, {"ner": -1}, "whitespace"
    )
    expected = MULTICONER.replace("# _ _ O", "# _ _ P0-0").replace("4_ _ _ B-CW", "4_ _ _ P0-1")
    expected = expected.replace("ease _ _ I-CW", "ease _ _ P0-2")
    expected = expected.replace("berlin_ _ _ B-LOC", "berlin_ _ _ P1-0")
    assert target.read_text(encoding="utf-8") == expected
    assert leftovers(target.parent) == []


def test_write_in_place_keeps_crlf_endings_and_comments(tmp_path):
    source = tmp_path / "crlf.conll"
    source.write_bytes(b"# id 1\tdomain=x\r\na _ _ O\r\nb _ _ O\r\n\r\n\r\nc _ _ O")
    sentences = read(source)
    target = tmp_path / "pred.conll"
    write_in_place(
        str(source), str(target), sentences, {"ner": [["X", "Y"], ["Z"]]}, {"ner": -1}, "whitespace"
    )
    assert target.read_bytes() == b"# id 1\tdomain=x\r\na _ _ X\r\nb _ _ Y\r\n\r\n\r\nc _ _ Z"


def test_write_in_place_tab_file_keeps_other_columns(tmp_path):
    text = (
        "#\thttp://www.heise.de/x.html\t[2010-07-04]\t\n"
        "1\tGleich\tO\tO\n"
        "2\tBerlin\tB-LOC\tB-LOCderiv\n"
        "\n"
        "#\tberlinonline.de vom 27.10.2005\t[2005-10-27]\t\n"
        "1\tAm Ende\tO\tO\n"
    )
    source = write(tmp_path / "NER-de-dev.tsv", text)
    sentences = read(source, column=2, separator="tab", word_idx=1)
    target = tmp_path / "pred.tsv"
    predictions = {"ner": [["B-PER", "I-PER"], ["B-ORG"]]}
    write_in_place(str(source), str(target), sentences, predictions, {"ner": 2}, "tab")
    assert target.read_text(encoding="utf-8").split("\n") == [
        "#\thttp://www.heise.de/x.html\t[2010-07-04]\t",
        "1\tGleich\tB-PER\tO",
        "2\tBerlin\tI-PER\tB-LOCderiv",
        "",
        "#\tberlinonline.de vom 27.10.2005\t[2005-10-27]\t",
        "1\tAm Ende\tB-ORG\tO",
        "",
    ]


def test_write_in_place_two_tasks_and_a_missing_column(tmp_path):
    source = write(tmp_path / "a.conll", "a X\nb Y\n")
    sentences = read_dataset_file(
        validate_dataset(
            "d",
            {"train_data_path": "a", "tasks": {"pos": {"task_type": "seq", "column_idx": 1}}},
            "d.json",
            None,
        ),
        str(source),
        require_labels=False,
    )
    target = tmp_path / "pred.conll"
    predictions = {"pos": [["P", "Q"]], "ner": [["O", "B-LOC"]]}
    write_in_place(
        str(source), str(target), sentences, predictions, {"pos": 1, "ner": 2}, "whitespace"
    )
    assert target.read_text(encoding="utf-8") == "a P O\nb Q B-LOC\n"


def test_write_in_place_keeps_latin1_encoding(tmp_path):
    source = tmp_path / "latin.conll"
    source.write_bytes("M\u00fcnchen O\n".encode("latin-1"))
    sentences = read(source, encoding="latin-1")
    target = tmp_path / "pred.conll"
    write_in_place(
        str(source), str(target), sentences, {"ner": [["B-LOC"]]}, {"ner": -1}, "ws", "latin-1"
    )
    assert target.read_bytes() == "M\u00fcnchen B-LOC\n".encode("latin-1")


def test_write_in_place_refuses_to_overwrite_the_input(tmp_path):
    source = write(tmp_path / "a.conll", "a O\n")
    sentences = read(source)
    with pytest.raises(DataError, match="the output file is the input file"):
        write_in_place(
            str(source), str(source), sentences, {"ner": [["X"]]}, {"ner": -1}, "whitespace"
        )
    alias = tmp_path / "sub" / ".." / "a.conll"
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataError, match="the output file is the input file"):
        write_in_place(
            str(source), str(alias), sentences, {"ner": [["X"]]}, {"ner": -1}, "whitespace"
        )
    assert source.read_text(encoding="utf-8") == "a O\n"


def test_misaligned_predictions_leave_no_output(tmp_path):
    source = write(tmp_path / "a.conll", "a O\nb O\n")
    sentences = read(source)
    target = tmp_path / "pred.conll"
    with pytest.raises(ValueError, match="not aligned"):
        write_in_place(
            str(source), str(target), sentences, {"ner": [["X"]]}, {"ner": -1}, "whitespace"
        )
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_predictions_that_fail_while_read_leave_no_output(tmp_path):
    source = write(tmp_path / "a.conll", "a O\n\nb O\n")
    sentences = read(source)
    target = tmp_path / "pred.conll"

    def broken():
        yield ["X"]
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        write_in_place(
            str(source), str(target), sentences, {"ner": broken()}, {"ner": -1}, "whitespace"
        )
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_bad_label_halfway_through_writing_leaves_the_old_output(tmp_path):
    source = write(tmp_path / "a.conll", "a O\n\nb O\n")
    sentences = read(source)
    target = write(tmp_path / "pred.conll", "old\n")
    predictions = {"ner": [["X"], [None]]}  # the second sentence's label cannot be written
    with pytest.raises(TypeError):
        write_in_place(str(source), str(target), sentences, predictions, {"ner": -1}, "whitespace")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert leftovers(tmp_path) == []


def test_failure_mid_write_keeps_an_old_output_and_removes_the_temp_file(tmp_path):
    target = write(tmp_path / "pred.conll", "old\n")

    def chunks():
        yield "new line 1\n"
        yield "new line 2\n"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, chunks())
    assert target.read_text(encoding="utf-8") == "old\n"
    assert leftovers(tmp_path) == []
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "fresh.conll", chunks())
    assert not (tmp_path / "fresh.conll").exists()
    assert leftovers(tmp_path) == []


def test_labels_that_fail_mid_write_leave_no_labels_only_file(tmp_path):
    target = tmp_path / "labels.txt"

    class Exploding(list):
        def __iter__(self):
            yield ["O"]
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_labels_only(str(target), [], Exploding())
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_write_labels_only_one_label_per_line_and_blank_lines(tmp_path):
    target = tmp_path / "en.pred.conll"
    write_labels_only(str(target), [], [["B-PER", "O"], ["O"]])
    assert target.read_text(encoding="utf-8") == "B-PER\nO\n\nO\n\n"


def test_write_token_label(tmp_path):
    source = write(tmp_path / "a.conll", "4_ _ _ O\n# _ _ O\n\nx _ _ O\n")
    sentences = read(source)
    target = tmp_path / "pred.tsv"
    write_token_label(str(target), sentences, [["B-CW", "I-CW"], ["O"]])
    assert target.read_text(encoding="utf-8") == "4_\tB-CW\n#\tI-CW\n\nx\tO\n\n"


# ---- file modes: the user's umask, or the mode of the file replaced ----


@pytest.fixture
def umask():
    """Set the process umask for a test and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o027, 0o640)])
def test_atomic_write_gives_a_new_file_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    atomic_write(tmp_path / "new.txt", ["x\n"])
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == expected


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask):
    target = write(tmp_path / "shared.txt", "old\n")
    target.chmod(0o664)
    umask(0o077)
    atomic_write(target, ["new\n"])
    assert stat.S_IMODE(target.stat().st_mode) == 0o664
    assert target.read_text(encoding="utf-8") == "new\n"


# ---- a file system that refuses the output ----


def full_disk_after(monkeypatch, writes: int) -> None:
    """os.fdopen's files take ``writes`` writes, then fail as a full disk does."""
    real = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle, self.left = handle, writes

        def write(self, text):
            if not self.left:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.left -= 1
            return self.handle.write(text)

        def close(self):
            self.handle.close()

    monkeypatch.setattr(writers.os, "fdopen", lambda *a, **k: Full(real(*a, **k)))


def test_a_full_disk_names_the_output_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = write(tmp_path / "out" / "pred.conll", "old\n")
    full_disk_after(monkeypatch, 2)
    with pytest.raises(DataError) as caught:
        atomic_write(target, ["a\n", "b\n", "c\n"])
    assert str(caught.value) == (
        f"{target}: cannot write the output: the disk is full (no space left on device); the "
        "file was not written (a file that was there is unchanged): free some space or choose "
        "another output path"
    )
    assert [p.name for p in target.parent.iterdir()] == ["pred.conll"]
    assert target.read_text(encoding="utf-8") == "old\n"


def test_an_error_while_reading_the_input_is_not_blamed_on_the_output(tmp_path):
    def chunks():
        yield "a\n"
        raise DataError("bytes that are not valid utf-8", "in.conll", 2)

    with pytest.raises(DataError, match=r"^in\.conll, line 2: bytes"):
        atomic_write(tmp_path / "out.txt", chunks())
    assert list(tmp_path.iterdir()) == []


def test_a_label_the_output_encoding_cannot_hold_is_one_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(DataError) as caught:
        atomic_write(target, ["M\u00fcnchen ", "B-\u0416\n"], encoding="latin-1")
    assert str(caught.value).startswith(f"{target}: cannot write '\u0416' (in a predicted label)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "encoding, bom, codec",
    [
        ("utf-16", codecs.BOM_UTF16_BE, "utf-16-be"),
        ("utf-16", codecs.BOM_UTF16_LE, "utf-16-le"),
        ("utf-16-le", b"", "utf-16-le"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16-be"),
        ("utf-32", codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_write_in_place_keeps_a_wide_encoding_its_bom_and_byte_order(
    tmp_path, encoding, bom, codec
):
    """As with a UTF-8 BOM: dropped on reading, written back; in the input's byte order."""
    source = tmp_path / "wide.conll"
    source.write_bytes(bom + "a O\r\n\nb O\n".encode(codec))
    sentences = read(source, encoding=encoding)
    assert [s.words for s in sentences] == [["a"], ["b"]]
    target = tmp_path / "pred.conll"
    labels = {"ner": [["B-X"], ["B-Y"]]}
    write_in_place(str(source), str(target), sentences, labels, {"ner": -1}, "ws", encoding)
    assert target.read_bytes() == bom + "a B-X\r\n\nb B-Y\n".encode(codec)


# ---- write_predictions: the reader's writer settings, one writer for predict and training ----

CONLLU = (
    "# sent_id = s1\n"
    "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "1\tde\tde\tADP\t_\t_\t2\tcase\t_\t_\n"
    "2\tle chat\tchat\tNOUN\t_\t_\t0\troot\t_\t_\n"
)


def unlabelled(path, tasks, **settings) -> tuple[dict, list]:
    """The dataset config of ``path`` and its sentences, read as predict reads them."""
    config = {"train_data_path": str(path), "tasks": tasks, **settings}
    config = validate_dataset("d", config, "d.json", None)
    return config, read_dataset_file(config, str(path), require_labels=False)


@pytest.mark.parametrize("name", ["ewt.conllu", "ewt.dev"])  # by suffix or by content
def test_write_predictions_into_conllu_with_or_without_the_suffix(tmp_path, name):
    source = write(tmp_path / name, CONLLU)
    config, sentences = unlabelled(source, {"misc": {"task_type": "seq", "column_idx": -1}})
    target = tmp_path / "out"
    writers.write_predictions(config, str(source), str(target), sentences, {"misc": [["A", "B"]]})
    assert target.read_text(encoding="utf-8") == (
        "# sent_id = s1\n"
        "1-2\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
        "1\tde\tde\tADP\t_\t_\t2\tcase\t_\tA\n"
        "2\tle chat\tchat\tNOUN\t_\t_\t0\troot\t_\tB\n"
    )


def test_write_predictions_puts_a_conllu_label_in_the_tenth_column_of_a_short_line(tmp_path):
    source = write(tmp_path / "short.conllu", "1\tBerlin\n")
    config, sentences = unlabelled(source, {"misc": {"task_type": "seq", "column_idx": -1}})
    target = tmp_path / "out.conllu"
    writers.write_predictions(config, str(source), str(target), sentences, {"misc": [["B-LOC"]]})
    assert target.read_text(encoding="utf-8") == "1\tBerlin" + "\t_" * 7 + "\tB-LOC\n"


class KeyValueReader(ColumnReader):
    """``id<TAB>word`` lines whose labels go after the word, with ``-`` in the columns between:
    settings no name switch knows."""

    streams = False

    def read(self, path, tasks, require_labels=True):
        return super().read(path, tasks, require_labels)

    def writer_settings(self):
        return WriterSettings("tab", self.encoding, 1, "-")


@pytest.fixture
def key_value_reader(monkeypatch):
    monkeypatch.setattr(readers, "_entries", dict(readers._entries))
    readers.register("test_key_value")(KeyValueReader)
    return "test_key_value"


def test_write_predictions_asks_a_registered_reader_how_to_write(tmp_path, key_value_reader):
    source = write(tmp_path / "in.kv", "1\tBerlin\n2\tis\n\n1\tOslo\n")
    tasks = {"ner": {"task_type": "seq", "column_idx": 3}}
    config, sentences = unlabelled(
        source, tasks, reader=key_value_reader, word_idx=1, separator="tab"
    )
    target = tmp_path / "out.kv"
    labels = {"ner": [["B-LOC", "O"], ["B-LOC"]]}
    writers.write_predictions(config, str(source), str(target), sentences, labels)
    assert target.read_text(encoding="utf-8") == (
        "1\tBerlin\t-\tB-LOC\n2\tis\t-\tO\n\n1\tOslo\t-\tB-LOC\n"
    )


def test_write_predictions_streaming_matches_the_whole_file_writer(tmp_path):
    source = write(tmp_path / "in.conll", MULTICONER)
    config, sentences = unlabelled(source, {"ner": {"task_type": "seq", "column_idx": -1}})
    labels = fake_predictions(sentences)
    whole, streamed = tmp_path / "whole", tmp_path / "streamed"
    writers.write_predictions(config, str(source), str(whole), sentences, {"ner": labels})
    chunks = [([s], {"ner": [lab]}) for s, lab in zip(sentences, labels)]
    writers.write_predictions_streaming(config, str(source), str(streamed), iter(chunks))
    assert streamed.read_bytes() == whole.read_bytes()
    assert "berlin_ _ _ P1-0" in whole.read_text(encoding="utf-8")


def test_write_predictions_of_a_sentence_task_go_on_the_first_line(tmp_path):
    source = write(tmp_path / "in.tsv", "good film\tx\nbad film\tx\n")
    tasks = {"sentiment": {"task_type": "classification", "column_idx": 1}}
    config, sentences = unlabelled(source, tasks)
    target = tmp_path / "out.tsv"
    writers.write_predictions(
        config, str(source), str(target), sentences, {"sentiment": ["+", "-"]}
    )
    assert target.read_text(encoding="utf-8") == "good film\t+\nbad film\t-\n"


def test_a_sentence_task_beside_word_tasks_is_written_into_a_comment(tmp_path):
    """MaChAmp's NLU layout: the sentence label lives in a comment (column_idx -1); a sentence
    without one gets a new comment before its first line."""
    source = write(tmp_path / "in.conll", "a O\nb O\n")
    tasks = {
        "ner": {"task_type": "seq", "column_idx": 1},
        "kind": {"task_type": "classification", "column_idx": -1},
    }
    config, sentences = unlabelled(source, tasks)
    target = tmp_path / "out"
    writers.write_predictions(
        config, str(source), str(target), sentences, {"ner": [["X", "Y"]], "kind": ["k1"]}
    )
    assert target.read_text(encoding="utf-8") == "# kind = k1\na X\nb Y\n"


def test_a_sentence_task_in_a_word_file_must_be_read_from_a_comment(tmp_path):
    source = write(tmp_path / "in.conll", "a O\n")
    tasks = {
        "ner": {"task_type": "seq", "column_idx": 1},
        "kind": {"task_type": "classification", "column_idx": 1},
    }
    pattern = (
        r"in\.conll: task 'kind' of dataset 'd' \(d\.json\): key \"column_idx\" is 1, .*to -1$"
    )
    with pytest.raises(DataError, match=pattern):
        unlabelled(source, tasks)


def test_write_predictions_encoding_replaces_the_datasets(tmp_path):
    source = tmp_path / "in.conll"
    source.write_bytes("Zürich O\n".encode("latin-1"))
    tasks = {"ner": {"task_type": "seq", "column_idx": -1}}
    latin, sentences = unlabelled(source, tasks, encoding="latin-1")
    config = {**latin, "encoding": "utf-8"}  # what --encoding latin-1 overrides
    target = tmp_path / "out.conll"
    writers.write_predictions(
        config, str(source), str(target), sentences, {"ner": [["B-LOC"]]}, encoding="latin-1"
    )
    assert target.read_bytes() == "Zürich B-LOC\n".encode("latin-1")
