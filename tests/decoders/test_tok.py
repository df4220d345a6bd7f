"""The tok task's pieces and labels (machamp_lite.segmentation), its decoder, codec and token F1,
the pieces reader on hand-made CoNLL-U, and the dataset split of configs with a tok task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from machamp_lite.config import load_dataset_configs
from machamp_lite.data.dataset import read_dataset_file
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.decoders.tok import Segmenter, TokenF1
from machamp_lite.errors import ConfigError, DataError
from machamp_lite.registry import load_plugins, metrics
from machamp_lite.segmentation import (
    MERGE,
    SPLIT,
    PiecesReader,
    piece_labels,
    piece_spans,
    segment,
    token_spans,
)
from machamp_lite.testing import random_word_batch

TOK = [TaskColumn("tokenization", -1)]


def pieces(text: str) -> list[str]:
    return [text[a:b] for a, b in piece_spans(text)]


def labels_for(text: str, tokens: list[str]) -> tuple[list[str], int]:
    return piece_labels(piece_spans(text), token_spans(text, tokens))


def conllu(path: Path, *sentences: tuple[str | None, list[str]]) -> Path:
    """A CoNLL-U file of (text, token lines): a token line is ``ID<TAB>FORM``, padded to ten
    columns here; a text of None writes no ``# text`` comment."""
    blocks = []
    for number, (text, rows) in enumerate(sentences, start=1):
        lines = [f"# sent_id = {number}"] + ([f"# text = {text}"] if text is not None else [])
        for row in rows:
            fields = row.split("\t")
            head = "0" if fields[0] == "1" else ("1" if fields[0].isdigit() else "_")
            rel = "root" if head == "0" else ("dep" if head == "1" else "_")
            lines.append("\t".join(fields + ["_", "X", "_", "_", head, rel, "_", "_"]))
        blocks.append("\n".join(lines) + "\n")
    path.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    return path


def test_pieces_split_at_spaces_runs_and_single_other_characters():
    assert pieces("I don't like it.") == ["I", "don", "'", "t", "like", "it", "."]
    assert pieces("3.5km-long (ok)!!") == ["3", ".", "5km", "-", "long", "(", "ok", ")", "!", "!"]
    assert pieces("  a\tb  ") == ["a", "b"]
    assert pieces("") == []
    # Marks stay with their letters (Devanagari vowel signs, a combining acute).
    assert pieces("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
    assert pieces("cafe\u0301!") == ["cafe\u0301", "!"]
    # Scripts without spaces are one run: boundaries inside it cannot be learned.
    assert pieces("我爱北京。") == ["我爱北京", "。"]


def test_labels_punctuation_and_a_contraction_split_between_pieces():
    assert labels_for("Hi, you!", ["Hi", ",", "you", "!"]) == ([SPLIT] * 4, 0)
    # UD splits "can't" into "ca" + "n't": the boundary falls inside the piece "can".
    assert labels_for("I can't.", ["I", "ca", "n't", "."]) == (
        [SPLIT, MERGE, MERGE, SPLIT, SPLIT],
        1,
    )
    # French "l'homme": the boundary is after the apostrophe, between pieces.
    assert labels_for("l'homme", ["l'", "homme"]) == ([MERGE, SPLIT, SPLIT], 0)


def test_a_multiword_token_is_one_gold_token(tmp_path):
    rows = ["1\tVoy", "2-3\tal", "2\ta", "3\tel", "4\tmercado", "4.1\tva", "5\t."]
    path = conllu(tmp_path / "mwt.conllu", ("Voy al mercado.", rows))
    [sentence] = PiecesReader().read(str(path), TOK)
    assert sentence.words == ["Voy", "al", "mercado", "."]
    assert sentence.labels["tokenization"] == [SPLIT] * 4
    # Each piece keeps the line of its token: "al" the range line, not its words.
    lines = path.read_text().split("\n")
    assert [lines[n - 1].split("\t")[0] for n in sentence.line_numbers] == ["1", "2-3", "4", "5"]


def test_spaces_inside_a_token_and_non_latin_scripts(tmp_path):
    # UD allows a space inside a token (Vietnamese words, French numbers): the piece before the
    # space is "merge", and segment() still ends a token at a space, so that is counted.
    assert labels_for("10 000 euros", ["10 000", "euros"]) == ([MERGE, SPLIT, SPLIT], 0)
    assert labels_for("Привет, мир!", ["Привет", ",", "мир", "!"]) == ([SPLIT] * 4, 0)
    labels, inside = labels_for("我爱北京。", ["我", "爱", "北京", "。"])
    assert (labels, inside) == ([SPLIT, SPLIT], 2)


def test_segment_rebuilds_tokens_and_ends_them_at_spaces():
    text = "I don't like it."
    spans = piece_spans(text)
    labels = [SPLIT, MERGE, MERGE, SPLIT, MERGE, SPLIT, SPLIT]
    assert [text[a:b] for a, b in segment(text, spans, labels)] == [
        "I",
        "don't",
        "like",
        "it",
        ".",
    ]
    # "merge" on the last piece, or before a space, still ends the token.
    assert [text[a:b] for a, b in segment(text, spans, [MERGE] * 7)] == [
        "I",
        "don't",
        "like",
        "it.",
    ]
    assert segment("", [], []) == []
    # Without pre_split (MaChAmp's key) a "merge" joins pieces across a space.
    number = "10 000 euros"
    joined = segment(number, piece_spans(number), [MERGE, SPLIT, SPLIT], split_at_spaces=False)
    assert [number[a:b] for a, b in joined] == ["10 000", "euros"]


def test_tokens_that_do_not_spell_the_text_are_one_data_error():
    with pytest.raises(DataError, match=r"f\.conllu, line 3: token 2 \('Wrld'\)"):
        token_spans("Hello World", ["Hello", "Wrld"], "f.conllu", 3)
    with pytest.raises(DataError, match="goes on after the last token"):
        token_spans("Hello World", ["Hello"], "f.conllu", 3)
    with pytest.raises(DataError, match="empty or only spaces"):
        token_spans("Hello", ["Hello", " "], "f.conllu", 3)


def test_reader_errors_name_the_file_and_line(tmp_path):
    missing = conllu(tmp_path / "missing.conllu", ("Hi !", ["1\tHi", "2\t!"]), (None, ["1\tx"]))
    with pytest.raises(DataError, match=r"missing\.conllu, line 6: .*no '# text = \.\.\.'"):
        PiecesReader().read(str(missing), TOK)
    wrong = conllu(tmp_path / "wrong.conllu", ("Hi you", ["1\tHi", "2\tthey"]))
    with pytest.raises(DataError, match=r"wrong\.conllu, line 2: token 2 \('they'\)"):
        PiecesReader().read(str(wrong), TOK)
    empty = conllu(tmp_path / "empty.conllu", ("", ["1\tHi"]))
    with pytest.raises(DataError, match="empty one"):
        PiecesReader().read(str(empty), TOK)
    broken = tmp_path / "broken.conllu"
    broken.write_text("# text = a\nx\ta\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.conllu, line 1: not valid CoNLL-U"):
        PiecesReader().read(str(broken), TOK)


def test_reader_logs_boundaries_inside_pieces(tmp_path, caplog):
    path = conllu(tmp_path / "x.conllu", ("I can't.", ["1\tI", "2\tca", "3\tn't", "4\t."]))
    with caplog.at_level("INFO", logger="machamp_lite"):
        PiecesReader().read(str(path), TOK)
    assert "1 of 4 token boundaries (25.00%) fall inside a piece" in caplog.text


def test_decoder_learns_split_and_merge_with_both_labels_in_its_vocabulary():
    load_plugins()
    vocabulary = Segmenter.codec.build_vocabulary({SPLIT: 3})
    assert vocabulary.labels == [MERGE, SPLIT]
    assert Segmenter.codec.validate("split") is None
    assert "got 'B-PER'" in Segmenter.codec.validate("B-PER")
    decoder = Segmenter(8, vocabulary)
    vectors, mask = random_word_batch([3, 2])
    gold = Segmenter.codec.to_tensor(vocabulary, [[MERGE, SPLIT, SPLIT], [SPLIT, SPLIT]], 3)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.1)
    for _ in range(30):
        optimizer.zero_grad()
        decoder.loss(vectors, mask, gold).backward()
        optimizer.step()
    assert decoder.decode(vectors, mask) == [[MERGE, SPLIT, SPLIT], [SPLIT, SPLIT]]


def test_token_f1_counts_tokens_by_their_span():
    load_plugins()
    assert metrics.get("token_f1") is TokenF1
    metric = TokenF1()
    # gold tokens: [0,1] [2] ; predicted: [0] [1] [2]: one of two gold, one of three predicted
    metric.update([[MERGE, SPLIT, SPLIT]], [[SPLIT, SPLIT, SPLIT]])
    result = metric.compute()
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["score"] == pytest.approx(0.4)
    metric.reset()
    # A last piece predicted "merge" still ends the last token.
    metric.update([[SPLIT, SPLIT]], [[SPLIT, MERGE]])
    assert metric.compute()["score"] == 1.0
    with pytest.raises(ValueError):
        metric.update([[SPLIT]], [[SPLIT, SPLIT]])


def machamp_config(tmp_path: Path, tasks: dict, **extra) -> Path:
    data = conllu(tmp_path / "ud.conllu", ("Hi, you!", ["1\tHi", "2\t,", "3\tyou", "4\t!"]))
    config = {"UD_EWT": {"train_data_path": str(data), "word_idx": 1, "tasks": tasks, **extra}}
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


TOKENIZATION = {"tokenization": {"task_type": "tok", "column_idx": -1}}


def test_a_tok_only_dataset_is_read_as_pieces(tmp_path):
    datasets = load_dataset_configs([str(machamp_config(tmp_path, TOKENIZATION))])
    assert list(datasets) == ["UD_EWT"]
    dataset = datasets["UD_EWT"]
    [sentence] = read_dataset_file(dataset, dataset["train_data_path"])
    assert sentence.words == ["Hi", ",", "you", "!"]
    assert sentence.labels == {"tokenization": [SPLIT] * 4}


def test_a_tok_task_beside_word_tasks_gets_a_dataset_of_its_own(tmp_path):
    tasks = {"upos": {"task_type": "seq", "column_idx": 3}, **TOKENIZATION}
    datasets = load_dataset_configs([str(machamp_config(tmp_path, tasks))])
    assert list(datasets) == ["UD_EWT", "UD_EWT-tokenization"]
    assert list(datasets["UD_EWT"]["tasks"]) == ["upos"]
    derived = datasets["UD_EWT-tokenization"]
    assert list(derived["tasks"]) == ["tokenization"]
    assert derived["name"] == "UD_EWT-tokenization"
    assert derived["train_data_path"] == datasets["UD_EWT"]["train_data_path"]
    [words] = read_dataset_file(datasets["UD_EWT"], derived["train_data_path"])
    assert words.words == ["Hi", ",", "you", "!"] and words.labels["upos"] == ["X"] * 4


def test_machamps_parameter_defaults_give_the_tok_task_pre_split(tmp_path):
    from machamp_lite.config import load_configs
    from machamp_lite.model import collect_tasks

    machamp_params = Path(__file__).resolve().parent.parent / "machamp_configs/params-div-0.json"
    _, datasets = load_configs([str(machamp_config(tmp_path, TOKENIZATION))], machamp_params)
    assert datasets["UD_EWT"]["tasks"]["tokenization"]["pre_split"] is True
    spec = collect_tasks(datasets)["tokenization"]
    assert Segmenter(8, Segmenter.codec.build_vocabulary({}), **spec.decoder_args).pre_split


def test_a_tok_task_with_another_reader_or_a_taken_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"reader is 'column'; remove the 'reader' key"):
        load_dataset_configs([str(machamp_config(tmp_path, TOKENIZATION, reader="column"))])
    tasks = {"upos": {"task_type": "seq", "column_idx": 3}, **TOKENIZATION}
    path = machamp_config(tmp_path, tasks)
    config = json.loads(path.read_text())
    config["UD_EWT-tokenization"] = config["UD_EWT"]
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="'UD_EWT-tokenization'.*that name is taken"):
        load_dataset_configs([str(path)])
