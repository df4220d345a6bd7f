"""Context the encoder reads but does not label (issue 18, part 1): a sentence followed by its
context in the tokenizer's pair template, only the sentence's words get vectors and labels, the
context is cut (never the sentence) to fit the model, and no context encodes as before."""

from __future__ import annotations

import pytest

from machamp_lite.cli import main
from machamp_lite.data.context import encode_with_context
from machamp_lite.data.sentence import Sentence
from machamp_lite.data.tokenization import SubwordTokenizer
from machamp_lite.errors import ConfigError
from machamp_lite.modules.encoder import load_tokenizer
from machamp_lite.predict import Predictor, encode_sentences

from conftest import ROOT, tiny_training_params

SENTENCE = ["Nadine", "Scholl", "wuchs", "in", "Bonn", "auf"]
CONTEXT_WORDS = ["When", "does", "the", "shop", "open", "tomorrow", "?", "Norfolk", "Trust"]


def context(n: int) -> list[str]:
    return [CONTEXT_WORDS[i % len(CONTEXT_WORDS)] for i in range(n)]


@pytest.fixture(scope="module")
def subwords(tiny_model) -> SubwordTokenizer:
    return SubwordTokenizer(load_tokenizer(str(tiny_model)), max_input_length=32)


def test_the_sentence_keeps_its_words_and_the_context_follows_in_the_pair_template(subwords):
    plain = subwords.encode(SENTENCE)
    joined = encode_with_context(subwords, SENTENCE, context(3))
    assert (joined.word_starts, joined.word_ends) == (plain.word_starts, plain.word_ends)
    assert joined.num_words == len(SENTENCE)
    context_ids = [i for pieces in subwords.word_pieces(context(3)) for i in pieces]
    # The pair template's separator between the texts; token types as the template gives them
    # (the tiny tokenizer gives both texts type 0, so none are passed).
    separator = list(subwords._pair.middle)
    assert separator and joined.subword_ids == plain.subword_ids + separator + context_ids
    expected = subwords.tokenizer(" ".join(SENTENCE), " ".join(context(3)))
    assert joined.subword_ids == expected["input_ids"][1:-1]  # as tokenizer(a, b) encodes it
    types = subwords._pair.types
    length = len(plain.subword_ids) + len(separator)
    assert joined.type_ids == (
        None if types is None else [types[0]] * length + [types[1]] * len(context_ids)
    )


def test_xlmr_sentencepiece_gets_its_own_pair_template(real_models):
    """multilingual-e5-small (XLM-R's tokenizer): <s> a </s></s> b </s>, as tokenizer(a, b)."""
    tokenizer = SubwordTokenizer(load_tokenizer(real_models["ME5_SMALL"]), max_input_length=64)
    words = ["Nadine", "Scholl", "wuchs", "in", "Bonn", "auf", "東京"]
    joined = encode_with_context(tokenizer, words, CONTEXT_WORDS)
    expected = tokenizer.tokenizer(words, CONTEXT_WORDS, is_split_into_words=True)
    assert joined.subword_ids == expected["input_ids"][1:-1]
    assert joined.word_ends == tokenizer.encode(words).word_ends


def test_no_context_encodes_exactly_as_before(subwords):
    plain = subwords.encode(SENTENCE)
    for nothing in (None, []):
        assert encode_with_context(subwords, SENTENCE, nothing) == plain
    many = subwords.encode_many([SENTENCE, ["x"]], contexts=[None, None])
    assert many == subwords.encode_many([SENTENCE, ["x"]])


def test_a_long_context_is_cut_to_the_window_and_never_the_sentence(subwords):
    long, longer = (encode_with_context(subwords, SENTENCE, context(n)) for n in (200, 2000))
    assert long == longer  # beyond the model's limit the context's length changes nothing
    assert len(long.subword_ids) <= subwords.window_length
    assert long.word_ends == subwords.encode(SENTENCE).word_ends
    assert len(long.subword_ids) > len(
        encode_with_context(subwords, SENTENCE, context(1)).subword_ids
    )
    # A sentence that fills a window alone gets no context and is windowed as always.
    huge = SENTENCE * 20
    assert encode_with_context(subwords, huge, context(50)) == subwords.encode(huge)


def test_context_with_sentence_pairs_is_refused(subwords):
    with pytest.raises(ConfigError, match="several columns"):
        subwords.encode_many([SENTENCE], segments=[[0, 3]], contexts=[context(2)])
    with pytest.raises(ValueError, match="1 contexts for 2 sentences"):
        subwords.encode_many([SENTENCE, SENTENCE], contexts=[context(2)])


@pytest.fixture(scope="module")
def predictor(tmp_path_factory, tiny_model) -> Predictor:
    folder = tmp_path_factory.mktemp("context")
    params = tiny_training_params(folder / "params.json", tiny_model, 1)
    arguments = ["train", "--dataset_configs", str(ROOT / "dataset_configs/demo.json")]
    arguments += ["--parameters_config", str(params), "--output_dir", str(folder / "logs")]
    assert main([*arguments, "--data_dir", str(ROOT), "--seed", "5"]) == 0
    (run,) = [p for p in (folder / "logs").glob("*/*") if p.is_dir()]
    return Predictor.load(run / "model", "cpu")


def test_predictions_stay_one_per_word_and_ignore_context_beyond_the_limit(predictor):
    sentences = [SENTENCE, ["x"], ["Bonn"] * 5]
    contexts = [context(500), None, context(4)]
    with_context = predictor.predict(sentences, contexts=contexts)
    assert [len(p["ner"]) for p in with_context] == [len(s) for s in sentences]
    assert predictor.predict(sentences, contexts=[context(5000), None, context(4)]) == with_context
    assert predictor.predict(sentences, contexts=[None] * 3) == predictor.predict(sentences)
    with pytest.raises(ConfigError, match="2 contexts for 3 sentences"):
        predictor.predict(sentences, contexts=[None, None])
    with pytest.raises(ConfigError, match="a list of words"):  # not split into characters
        predictor.predict(sentences, contexts=["Bonn is a city", None, None])


def test_sentences_carry_their_context_into_every_encoding(predictor):
    """Training, dev scoring, calibration and predict_file all encode through
    encode_sentences: a Sentence's context reaches the encoder there."""
    encoder = predictor.model.encoder
    with_context = Sentence(list(SENTENCE), context=context(3))
    (encoded,) = encode_sentences(encoder, [with_context])
    (plain,) = encode_sentences(encoder, [Sentence(list(SENTENCE))])
    assert encoded.word_starts == plain.word_starts
    assert len(encoded.subword_ids) > len(plain.subword_ids)
    assert encoded == encode_with_context(encoder.subwords, SENTENCE, context(3))
