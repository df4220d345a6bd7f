"""The built-in softmax, CRF and classification decoders: what each computes. What every decoder
shares (loss reduction, one prediction per word, save/load) is in test_decoder_contract.py."""

from __future__ import annotations

import torch
from torch.nn import functional

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.base import LinearDecoder
from machamp_lite.decoders.classification import SentenceClassifier
from machamp_lite.decoders.crf_tagger import CrfTagger
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.registry import decoders, load_plugins
from machamp_lite.testing import random_word_batch as batch

BIO = LabelVocabulary(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])


def test_builtin_decoders_are_registered_by_task_type():
    load_plugins()
    assert decoders.get("seq_bio") is CrfTagger
    assert decoders.get("seq") is SoftmaxTagger
    assert decoders.get("classification") is SentenceClassifier
    assert CrfTagger.default_metric == "span_f1"
    assert SoftmaxTagger.default_metric == "accuracy"


def test_the_linear_decoders_share_one_head_and_its_weight_names():
    for decoder_class in (SoftmaxTagger, CrfTagger, SentenceClassifier):
        decoder = decoder_class(8, BIO, dropout=0.3)
        assert isinstance(decoder, LinearDecoder) and decoder.dropout.p == 0.3
        assert decoder.projection.in_features == 8 and decoder.projection.out_features == 5
        assert {"projection.weight", "projection.bias"} <= set(decoder.state_dict())


def test_crf_tagger_decodes_only_valid_bio_sequences():
    decoder = CrfTagger(8, BIO).eval()
    vectors, mask = batch([5, 1, 3])
    torch.manual_seed(1)
    with torch.no_grad():
        decoder.projection.weight.normal_(0, 3)  # strong, random emissions
    for labels in decoder.decode(vectors, mask):
        previous = "O"
        for label in labels:
            assert not (label.startswith("I-") and previous[2:] != label[2:])
            previous = label


def test_softmax_loss_is_the_cross_entropy_summed_over_words():
    vocabulary = LabelVocabulary(["NOUN", "VERB", "DET"])
    decoder = SoftmaxTagger(8, vocabulary).eval()
    vectors, mask = batch([3, 1])
    gold = decoder.codec.to_tensor(vocabulary, [["DET", "NOUN", "VERB"], ["NOUN"]], 3)
    logits = decoder.projection(vectors)
    token_losses = functional.cross_entropy(
        logits.reshape(-1, 3), gold.reshape(-1), ignore_index=-100, reduction="none"
    ).view(2, 3)
    expected = (token_losses[0].sum() + token_losses[1, :1].sum()) / 2
    assert torch.allclose(decoder.loss(vectors, mask, gold), expected, atol=1e-6)


def test_unseen_labels_are_ignored_by_the_loss():
    vocabulary = LabelVocabulary(["A", "B"])
    decoder = SoftmaxTagger(8, vocabulary).eval()
    vectors, mask = batch([2])
    gold = decoder.codec.to_tensor(vocabulary, [["A", "NEVER-SEEN"]], 2)
    assert gold.tolist() == [[0, -100]]
    assert torch.isfinite(decoder.loss(vectors, mask, gold))


def test_classification_predicts_from_the_first_position():
    decoder = SentenceClassifier(8, LabelVocabulary(["neg", "pos"])).eval()
    vectors, mask = batch([3, 2])
    predicted = decoder.decode(vectors, mask)
    assert set(predicted) <= {"neg", "pos"}
    changed = vectors.clone()
    changed[:, 1:] = 0  # only the first position matters
    assert decoder.decode(changed, mask) == predicted
