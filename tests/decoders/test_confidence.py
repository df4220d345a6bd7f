"""The probabilities that decoders give (decoders/confidence.py), checked against brute-force
enumeration of every label sequence of small CRFs at several temperatures, and the promise
that a temperature never changes a predicted label."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.classification import SentenceClassifier
from machamp_lite.decoders.confidence import check_temperature, tempered_crf
from machamp_lite.decoders.crf_tagger import CrfTagger
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TEMPERATURES = [0.5, 1.0, 2.5]


def crf_tagger(seed: int = 0) -> CrfTagger:
    torch.manual_seed(seed)
    tagger = CrfTagger(6, LabelVocabulary(LABELS))
    with torch.no_grad():
        tagger.crf.transitions.normal_()
        tagger.crf.start_transitions.normal_()
        tagger.crf.end_transitions.normal_()
        tagger.projection.weight.normal_()
    return tagger.eval()


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    vectors = torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return vectors, mask


def allowed(sequence: tuple[int, ...]) -> bool:
    """IOB2: I-X only after B-X or I-X."""
    for position, tag in enumerate(sequence):
        label = LABELS[tag]
        if label.startswith("I-"):
            before = LABELS[sequence[position - 1]] if position else "O"
            if before[2:] != label[2:] or before == "O":
                return False
    return True


def brute_force(tagger: CrfTagger, emissions: torch.Tensor, temperature: float):
    """{sequence: probability} of one sentence (emissions [n, K]) at temperature T, over the
    allowed sequences, from the learned scores alone."""
    crf = tagger.crf
    scores = {}
    for sequence in itertools.product(range(len(LABELS)), repeat=emissions.shape[0]):
        if not allowed(sequence):
            continue
        score = crf.start_transitions[sequence[0]] + crf.end_transitions[sequence[-1]]
        score = score + sum(emissions[t, tag] for t, tag in enumerate(sequence))
        score = score + sum(crf.transitions[a, b] for a, b in itertools.pairwise(sequence))
        scores[sequence] = float(score.detach()) / temperature
    top = max(scores.values())
    total = sum(math.exp(s - top) for s in scores.values())
    return {seq: math.exp(s - top) / total for seq, s in scores.items()}


def span_is_exactly(sequence: tuple[int, ...], start: int, end: int, kind: str) -> bool:
    labels = [LABELS[t] for t in sequence]
    if labels[start] != f"B-{kind}":
        return False
    if any(label != f"I-{kind}" for label in labels[start + 1 : end]):
        return False
    return end == len(labels) or labels[end] != f"I-{kind}"


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_crf_word_and_entity_probabilities_match_brute_force(temperature):
    tagger = crf_tagger()
    vectors, mask = batch()
    logits = tagger.logits(vectors, mask)
    results = tagger.confidences(logits, mask, temperature)
    for b, result in enumerate(results):
        n = int(mask[b].sum())
        probs = brute_force(tagger, logits[b, :n].detach(), temperature)
        tags = [LABELS.index(label) for label in result["labels"]]
        for t, tag in enumerate(tags):
            expected = sum(p for seq, p in probs.items() if seq[t] == tag)
            assert result["probabilities"][t] == pytest.approx(expected, abs=1e-6)
        for entity in result["entities"]:
            expected = sum(
                p
                for seq, p in probs.items()
                if span_is_exactly(seq, entity["start"], entity["end"], entity["type"])
            )
            assert entity["probability"] == pytest.approx(expected, abs=1e-6)
        # The entities are exactly the spans of the written labels.
        spans = [(e["start"], e["end"], e["type"]) for e in result["entities"]]
        assert spans == spans_of(result["labels"])


def spans_of(labels: list[str]) -> list[tuple[int, int, str]]:
    spans, t = [], 0
    while t < len(labels):
        if labels[t].startswith("B-"):
            end = t + 1
            while end < len(labels) and labels[end] == "I-" + labels[t][2:]:
                end += 1
            spans.append((t, end, labels[t][2:]))
            t = end
        else:
            t += 1
    return spans


@pytest.mark.parametrize("seed", range(6))
def test_a_temperature_never_changes_the_predicted_labels(seed):
    tagger = crf_tagger(seed)
    vectors, mask = batch(seed + 10)
    logits = tagger.logits(vectors, mask)
    decoded = tagger.decode(vectors, mask)
    for temperature in (0.05, 0.7, 1.0, 3.0, 40.0):
        got = [r["labels"] for r in tagger.confidences(logits, mask, temperature, topn=3)]
        assert got == decoded
    softmax = SoftmaxTagger(6, LabelVocabulary(LABELS))
    classifier = SentenceClassifier(6, LabelVocabulary(LABELS))
    for temperature in (0.05, 1.0, 40.0):
        tokens = softmax.confidences(softmax.logits(vectors, mask), mask, temperature)
        assert [r["labels"] for r in tokens] == softmax.decode(vectors, mask)
        sentences = classifier.confidences(classifier.logits(vectors, mask), mask, temperature)
        assert [r["label"] for r in sentences] == classifier.decode(vectors, mask)


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_crf_topn_are_the_n_most_probable_sequences_with_their_probabilities(temperature):
    tagger = crf_tagger(3)
    vectors, mask = batch(4)
    logits = tagger.logits(vectors, mask)
    results = tagger.confidences(logits, mask, temperature, topn=4)
    for b, result in enumerate(results):
        n = int(mask[b].sum())
        probs = brute_force(tagger, logits[b, :n].detach(), temperature)
        ranked = sorted(probs.items(), key=lambda item: -item[1])[:4]
        assert [s["labels"] for s in result["topn"]] == [
            [LABELS[t] for t in seq] for seq, _ in ranked
        ]
        for got, (_, p) in zip(result["topn"], ranked):
            assert got["probability"] == pytest.approx(p, abs=1e-6)
        assert result["topn"][0]["labels"] == result["labels"]


def test_crf_nll_at_temperature_is_minus_log_of_the_brute_force_probability():
    tagger = crf_tagger(5)
    vectors, mask = batch(6)
    logits = tagger.logits(vectors, mask)
    gold = torch.tensor([[1, 2, 0, 3], [0, 3, 0, 0], [1, 0, 0, 0]])
    for temperature in TEMPERATURES:
        nll = tagger.nll_at_temperature(logits, mask, gold, temperature)
        for b in range(3):
            n = int(mask[b].sum())
            probs = brute_force(tagger, logits[b, :n].detach(), temperature)
            expected = -math.log(probs[tuple(gold[b, :n].tolist())])
            assert float(nll[b]) == pytest.approx(expected, rel=1e-6)
    unseen = gold.clone()
    unseen[1, 1] = -100  # a dev label the model never saw: that sentence adds nothing
    nll = tagger.nll_at_temperature(logits, mask, unseen, 1.0)
    assert float(nll[1]) == 0.0 and float(nll[0]) > 0


def test_min_confidence_writes_less_probable_entities_as_outside():
    tagger = crf_tagger(7)
    vectors, mask = batch(8)
    logits = tagger.logits(vectors, mask)
    plain = tagger.confidences(logits, mask, 1.0)
    probabilities = sorted(e["probability"] for r in plain for e in r["entities"])
    assert len(probabilities) >= 2, "the fixture must predict some entities"
    threshold = (probabilities[0] + probabilities[-1]) / 2
    marginals = tagger.crf.marginals(logits, mask)
    dropped = tagger.confidences(logits, mask, 1.0, min_confidence=threshold)
    for b, (before, after) in enumerate(zip(plain, dropped)):
        kept = [e for e in before["entities"] if e["probability"] >= threshold]
        assert after["entities"] == kept
        for entity in before["entities"]:
            if entity["probability"] >= threshold:
                continue
            for word in range(entity["start"], entity["end"]):
                assert after["labels"][word] == "O"
                assert after["probabilities"][word] == pytest.approx(float(marginals[b, word, 0]))
        others = [i for i, label in enumerate(after["labels"]) if label != "O"]
        assert all(after["labels"][i] == before["labels"][i] for i in others)
    everything = tagger.confidences(logits, mask, 1.0, min_confidence=0.0)
    assert [r["labels"] for r in everything] == [r["labels"] for r in plain]


@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_softmax_probabilities_and_topn(temperature):
    torch.manual_seed(2)
    tagger = SoftmaxTagger(6, LabelVocabulary(LABELS))
    vectors, mask = batch()
    logits = tagger.logits(vectors, mask)
    results = tagger.confidences(logits, mask, temperature, topn=2)
    expected = torch.softmax(logits.detach() / temperature, dim=-1)
    for b, result in enumerate(results):
        assert len(result["labels"]) == int(mask[b].sum()) == len(result["topn"])
        for t, (label, p) in enumerate(zip(result["labels"], result["probabilities"])):
            assert p == pytest.approx(float(expected[b, t, LABELS.index(label)]), abs=1e-6)
            assert result["topn"][t][0] == [label, pytest.approx(p, abs=1e-6)]
            assert result["topn"][t][1][1] <= p
    gold = torch.tensor([[0, 1, 2, 3], [4, 0, -100, -100], [1, -100, -100, -100]])
    nll = tagger.nll_at_temperature(logits, mask, gold, temperature)
    log_p = torch.log_softmax(logits.detach().double() / temperature, dim=-1)
    assert float(nll[1]) == pytest.approx(-float(log_p[1, 0, 4] + log_p[1, 1, 0]), rel=1e-9)


def test_temperature_must_be_a_finite_positive_number():
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            check_temperature(bad)
    tagger = crf_tagger()
    assert tempered_crf(tagger.crf, 1.0) is tagger.crf
    halved = tempered_crf(tagger.crf, 2.0)
    assert torch.allclose(halved.transitions, tagger.crf.transitions / 2)
    assert torch.equal(halved.allowed_transitions, tagger.crf.allowed_transitions)


def test_subclasses_with_their_own_labels_give_no_probabilities_unless_they_say_so():
    from machamp_lite.decoders.codecs import LabelCodec
    from machamp_lite.decoders.string2string import StringTransducer
    from machamp_lite.decoders.tok import Segmenter

    class Wider(SoftmaxTagger):  # same labels, same decoding: inherits them
        def __init__(self, input_dim, vocabulary):
            super().__init__(input_dim, vocabulary, dropout=0.5)

    class OwnCodec(SoftmaxTagger):
        codec = LabelCodec(level="sentence")

    class OwnDecode(CrfTagger):
        def decode(self, vectors, mask):
            return super().decode(vectors, mask)

    class Declared(CrfTagger):
        gives_probabilities = True
        drops_entities = True

        def decode(self, vectors, mask):
            return super().decode(vectors, mask)

    assert Wider.gives_probabilities and Declared.gives_probabilities and Declared.drops_entities
    for cls in (OwnCodec, OwnDecode, StringTransducer, Segmenter):
        assert not cls.gives_probabilities and not cls.drops_entities, cls
