"""``string2string``: words to strings (lemmas) through invertible edit scripts."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.codecs import apply_script, edit_script
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.decoders.string2string import StringTransducer
from machamp_lite.registry import decoders, load_plugins

PAIRS = [
    ("The", "the"),
    ("dogs", "dog"),
    ("were", "be"),
    ("running", "run"),
    ("Running", "run"),
    ("geese", "goose"),
    ("studies", "study"),
    ("Paris", "Paris"),
    ("I", "I"),
    ("NASA", "NASA"),
    ("cannot", "cannot"),
    ("n't", "not"),
    ("'s", "be"),
    ("İstanbul", "İstanbul"),
    ("Straße", "straße"),
    ("x", "+a+b"),
]


def test_registered_as_a_softmax_over_edit_scripts():
    load_plugins()
    assert decoders.get("string2string") is StringTransducer
    assert issubclass(StringTransducer, SoftmaxTagger)
    assert StringTransducer.default_metric == "accuracy"


def test_scripts_are_short_and_shared_between_words():
    assert edit_script("dogs", "dog") == edit_script("cats", "cat") == "K1+"
    assert edit_script("The", "the") == "L0+"
    assert edit_script("studies", "study") == "K3+y"
    assert edit_script("Paris", "Paris") == "K0+"
    assert edit_script("were", "be") == "K4+be"


def test_every_test_pair_round_trips():
    words = [w for w, _ in PAIRS]
    lemmas = [lemma for _, lemma in PAIRS]
    targets = StringTransducer.codec.gold_to_targets(words, lemmas)
    assert StringTransducer.codec.targets_to_labels(words, targets) == lemmas


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_any_pair_round_trips(word, target):
    assert apply_script(word, edit_script(word, target)) == target


def test_scripts_that_do_not_fit_fall_back_to_the_word():
    assert apply_script("ox", "K3+en") == "ox"  # cuts more than the word has
    assert apply_script("is", "K2+") == "is"  # would leave nothing
    assert apply_script("word", "not a script") == "word"
    assert apply_script("word", None) == "word"
    assert apply_script("Oxen", "L2+") == "ox"


def test_decode_gives_scripts_and_the_codec_applies_them():
    vocabulary = LabelVocabulary(["K0+", "K1+", "L0+"])
    decoder = StringTransducer(4, vocabulary).eval()
    with torch.no_grad():
        decoder.projection.weight.copy_(torch.eye(3, 4) * 5)
        decoder.projection.bias.zero_()
    vectors = torch.tensor([[[0.0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]]])
    mask = torch.tensor([[True, True, False]])
    scripts = decoder.decode(vectors, mask)
    assert scripts == [["L0+", "K1+"]]
    codec = StringTransducer.codec
    assert codec.targets_to_labels(["The", "dogs"], scripts[0]) == ["the", "dog"]
    gold = codec.to_tensor(vocabulary, [codec.gold_to_targets(["The"], ["the"])], 3)
    assert gold.tolist() == [[2, -100, -100]]
