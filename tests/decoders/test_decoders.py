"""Decoders own their loss (one reduction: per-sentence sum, mean over sentences), their
predictions (one per word) and their default metric."""

from __future__ import annotations

import torch
from torch.nn import functional

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.classification import SentenceClassifier
from machamp_lite.decoders.crf_tagger import CrfTagger, bio_label_problem
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


def test_bio_label_check_names_what_is_expected():
    for good in ("O", "B-PER", "I-LOC-deriv"):
        assert bio_label_problem(good) is None
    for bad in ("PER", "B-", "X-Y", "E-PER", ""):
        assert "BIO" in bio_label_problem(bad)


def test_crf_tagger_decodes_valid_bio_one_label_per_word():
    decoder = CrfTagger(8, BIO).eval()
    vectors, mask = batch([5, 1, 3])
    torch.manual_seed(1)
    with torch.no_grad():
        decoder.projection.weight.normal_(0, 3)  # strong, random emissions
    predicted = decoder.decode(vectors, mask)
    assert [len(p) for p in predicted] == [5, 1, 3]
    for labels in predicted:
        previous = "O"
        for label in labels:
            assert not (label.startswith("I-") and previous[2:] != label[2:])
            previous = label


def test_crf_loss_is_the_mean_over_sentences_of_each_sentences_nll():
    decoder = CrfTagger(8, BIO).eval()
    vectors, mask = batch([4, 2])
    gold = decoder.labels_to_tensor([["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]], 4)
    both = decoder.loss(vectors, mask, gold)
    first = decoder.loss(vectors[:1, :4], mask[:1, :4], gold[:1, :4])
    second = decoder.loss(vectors[1:, :2], mask[1:, :2], gold[1:, :2])
    assert torch.allclose(both, (first + second) / 2, atol=1e-5)


def test_softmax_loss_sums_tokens_and_averages_sentences():
    vocabulary = LabelVocabulary(["NOUN", "VERB", "DET"])
    decoder = SoftmaxTagger(8, vocabulary).eval()
    vectors, mask = batch([3, 1])
    gold = decoder.labels_to_tensor([["DET", "NOUN", "VERB"], ["NOUN"]], 3)
    logits = decoder.projection(vectors)
    token_losses = functional.cross_entropy(
        logits.reshape(-1, 3), gold.reshape(-1), ignore_index=-100, reduction="none"
    ).view(2, 3)
    expected = (token_losses[0].sum() + token_losses[1, :1].sum()) / 2
    assert torch.allclose(decoder.loss(vectors, mask, gold), expected, atol=1e-6)
    assert [len(p) for p in decoder.decode(vectors, mask)] == [3, 1]


def test_unseen_labels_are_ignored_by_the_loss():
    decoder = SoftmaxTagger(8, LabelVocabulary(["A", "B"])).eval()
    vectors, mask = batch([2])
    gold = decoder.labels_to_tensor([["A", "NEVER-SEEN"]], 2)
    assert gold.tolist() == [[0, -100]]
    assert torch.isfinite(decoder.loss(vectors, mask, gold))


def test_classification_predicts_one_label_per_sentence_from_the_first_position():
    decoder = SentenceClassifier(8, LabelVocabulary(["neg", "pos"])).eval()
    vectors, mask = batch([3, 2])
    predicted = decoder.decode(vectors, mask)
    assert len(predicted) == 2 and set(predicted) <= {"neg", "pos"}
    changed = vectors.clone()
    changed[:, 1:] = 0  # only the first position matters
    assert decoder.decode(changed, mask) == predicted
    gold = decoder.labels_to_tensor(["pos", "neg"], 3)
    assert gold.tolist() == [1, 0]
    assert decoder.loss(vectors, mask, gold).ndim == 0
