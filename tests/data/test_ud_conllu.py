"""Raw UD CoNLL-U as MaChAmp's ``configs/ewt.json`` reads it: an extensionless file
(``data/ewt.train``) recognised by its content, ``word_idx`` 1, the parser's ``column_idx`` 6
(HEAD, with DEPREL in the next column). Multiword tokens and empty nodes are not words; the
writer leaves them, the comments and the sentence breaks as they were."""

from __future__ import annotations

import json

import pytest

from machamp_lite.config import load_dataset_configs
from machamp_lite.data import writers
from machamp_lite.data.dataset import make_reader, read_dataset_file, reader_name, task_columns
from machamp_lite.data.readers import ConlluReader, detect_reader
from machamp_lite.errors import ConfigError, DataError

from conftest import write

# Two UD sentences: a document comment, a multiword token (French "du" = "de le"), an empty
# node (5.1, an elided verb), MISC values and enhanced DEPS that must survive the writing.
UD = (
    "# newdoc id = doc1\n"
    "# sent_id = fr-1\n"
    "# text = Il parle du livre.\n"
    "1\tIl\til\tPRON\t_\tPerson=3\t2\tnsubj\t2:nsubj\t_\n"
    "2\tparle\tparler\tVERB\t_\tTense=Pres\t0\troot\t0:root\t_\n"
    "3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "3\tde\tde\tADP\t_\t_\t5\tcase\t5:case\t_\n"
    "4\tle\tle\tDET\t_\tDefinite=Def\t5\tdet\t5:det\t_\n"
    "5\tlivre\tlivre\tNOUN\t_\tGender=Masc\t2\tobl\t2:obl:de\tSpaceAfter=No\n"
    "6\t.\t.\tPUNCT\t_\t_\t2\tpunct\t2:punct\t_\n"
    "\n"
    "# sent_id = en-2\n"
    "# text = She ate apples and he pears.\n"
    "1\tShe\tshe\tPRON\tPRP\t_\t2\tnsubj\t2:nsubj\t_\n"
    "2\tate\teat\tVERB\tVBD\t_\t0\troot\t0:root\t_\n"
    "3\tapples\tapple\tNOUN\tNNS\t_\t2\tobj\t2:obj\t_\n"
    "4\tand\tand\tCCONJ\tCC\t_\t5\tcc\t5.1:cc\t_\n"
    "5\the\the\tPRON\tPRP\t_\t2\tconj\t5.1:nsubj\t_\n"
    "5.1\tate\teat\tVERB\tVBD\t_\t_\t_\t2:conj\tCopyOf=2\n"
    "6\tpears\tpear\tNOUN\tNNS\t_\t5\torphan\t5.1:obj\tSpaceAfter=No\n"
    "7\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_\n"
    "\n"
)

EWT_TASKS = {
    "upos": {"task_type": "seq", "column_idx": 3},
    "dependency": {"task_type": "dependency", "column_idx": 6},
}


def ewt(tmp_path, tasks: dict = EWT_TASKS, data: str = UD, word_idx=1) -> tuple[dict, str]:
    """MaChAmp's ewt.json over an extensionless UD file: the loaded dataset and the file."""
    path = write(tmp_path / "ewt.train", data)
    config = {"UD_EWT": {"train_data_path": str(path), "word_idx": word_idx, "tasks": tasks}}
    loaded = load_dataset_configs([str(write(tmp_path / "ewt.json", json.dumps(config)))])
    return loaded["UD_EWT"], str(path)


def test_an_extensionless_ud_file_is_read_as_conllu(tmp_path):
    config, path = ewt(tmp_path)
    assert detect_reader(path) == "conllu" and reader_name(config, path) == "conllu"
    assert isinstance(make_reader(config, path), ConlluReader)
    first, second = read_dataset_file(config, path)
    assert first.words == ["Il", "parle", "de", "le", "livre", "."]
    assert first.line_numbers == [4, 5, 7, 8, 9, 10]  # not the multiword token on line 6
    assert first.labels["dependency"] == [
        "2\tnsubj",
        "0\troot",
        "5\tcase",
        "5\tdet",
        "2\tobl",
        "2\tpunct",
    ]
    assert second.words == ["She", "ate", "apples", "and", "he", "pears", "."]  # no 5.1
    assert second.labels["upos"][-2:] == ["NOUN", "PUNCT"]
    assert second.labels["dependency"][5] == "5\torphan"
    assert first.comments == [
        "# newdoc id = doc1",
        "# sent_id = fr-1",
        "# text = Il parle du livre.",
    ]
    assert (first.sent_id, second.sent_id) == ("fr-1", "en-2")
    assert (first.comment_lines, first.start_line, second.start_line) == ([1, 2, 3], 1, 12)


def test_predictions_leave_everything_but_the_label_columns_as_it_was(tmp_path):
    config, path = ewt(tmp_path)
    sentences = read_dataset_file(config, path, require_labels=False)
    predicted = {
        "upos": [["X"] * 6, ["Y"] * 7],
        "dependency": [
            ["2\ta", "0\tb", "2\tc", "2\td", "2\te", "2\tf"],
            ["2\tg", "0\th", "2\ti", "2\tj", "2\tk", "2\tl", "2\tm"],
        ],
    }
    target = tmp_path / "ewt.pred"
    writers.write_predictions(config, path, str(target), sentences, predicted)
    before, after = UD.split("\n"), target.read_text(encoding="utf-8").split("\n")
    assert len(after) == len(before)
    assert after.count("") == before.count("")  # one output sentence per input sentence
    words = iter([label for sentence in predicted["dependency"] for label in sentence])
    for old, new in zip(before, after):
        id_ = old.split("\t")[0]
        if not id_.isdigit():  # comments, blank lines, 3-4 and 5.1
            assert new == old
            continue
        old_fields, new_fields = old.split("\t"), new.split("\t")
        head, relation = next(words).split("\t")
        assert new_fields[3] in ("X", "Y")
        assert new_fields[6:8] == [head, relation]
        unchanged = [0, 1, 2, 4, 5, 8, 9]  # DEPS and MISC included
        assert [new_fields[i] for i in unchanged] == [old_fields[i] for i in unchanged]
    again = read_dataset_file(config, str(target))
    assert [s.labels["dependency"] for s in again] == predicted["dependency"]


def test_the_old_convention_is_refused_with_the_value_to_use(tmp_path):
    """column_idx 7 (machamp-lite's old DEPREL convention) reads DEPREL as heads: one error
    naming the data file, the line, the dataset config and the key, and saying 6."""
    tasks = {"dependency": {"task_type": "dependency", "column_idx": 7}}
    config, path = ewt(tmp_path, tasks)
    with pytest.raises(DataError) as error:
        read_dataset_file(config, path)
    message = str(error.value)
    assert (error.value.path, error.value.line) == (path, 4)
    assert message.startswith(f"{path}, line 4: task 'dependency' of dataset 'UD_EWT' (")
    assert str(tmp_path / "ewt.json") in message
    assert "\"column_idx\" is 7, and column 7 holds 'nsubj'" in message
    assert message.endswith('set "column_idx" to 6')


def test_the_old_convention_on_a_column_file_too(tmp_path):
    """A word/head/relation file configured with the relation's column (2): the line is too
    short for the new reading, and the error says to use 1."""
    tasks = {"dep": {"task_type": "dependency", "column_idx": 2}}
    config, path = ewt(tmp_path, tasks, "dogs 2 nsubj\nbark 0 root\n\n", word_idx=0)
    with pytest.raises(DataError, match=r'line 1: task \'dep\' .* set "column_idx" to 1$'):
        read_dataset_file(config, path)
    tasks = {"dep": {"task_type": "dependency", "column_idx": 1}}
    config, path = ewt(tmp_path, tasks, "dogs 2 nsubj\nbark 0 root\n\n", word_idx=0)
    [sentence] = read_dataset_file(config, path)
    assert (sentence.words, sentence.labels["dep"]) == (["dogs", "bark"], ["2\tnsubj", "0\troot"])


def test_a_two_column_label_cannot_start_at_the_last_column(tmp_path):
    config, _ = ewt(tmp_path, {"dep": {"task_type": "dependency", "column_idx": -1}})
    pattern = r"ewt\.json, dataset 'UD_EWT', task 'dep': key 'column_idx' is -1.* to -2"
    with pytest.raises(ConfigError, match=pattern):
        task_columns(config)


def test_the_head_counted_from_the_end_of_the_ten_columns(tmp_path):
    config, path = ewt(tmp_path, {"dependency": {"task_type": "dependency", "column_idx": -4}})
    assert read_dataset_file(config, path)[0].labels["dependency"][0] == "2\tnsubj"
