"""Tests for k-best Viterbi and softmax top-n: the n best sequences and their probabilities
against brute-force enumeration of every tag sequence (with and without BIO constraints, on
padded batches), n = 1 against viterbi_decode, and the edge cases (fewer allowed sequences than
n, none at all, empty sentences, bad n, masks with holes, non-finite emissions)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.modules.crf import (
    CONSTRAINT_PENALTY,
    ConditionalRandomField,
    bio_transition_constraints,
)
from machamp_lite.modules.crf_kbest import format_topn, kbest_viterbi, topn_labels

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIO7 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def make_crf(num_tags, labels=None, seed=0, scale=1.0):
    torch.manual_seed(seed)
    constraints = bio_transition_constraints(labels) if labels else None
    crf = ConditionalRandomField(num_tags, constraints)
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_(0.0, scale)
    return crf


def left_mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


def enumerate_sentence(crf, em):
    """Every tag sequence of one sentence's emissions em [L, K]: float64 scores (with the CRF's
    penalty for disallowed moves), whether each is allowed, and log Z over all of them."""
    length, k = em.shape
    paths = torch.tensor(list(itertools.product(range(k), repeat=length)), dtype=torch.long)
    trans = crf.transitions.detach().double()
    start = crf.start_transitions.detach().double()
    end = crf.end_transitions.detach().double()
    allowed = torch.ones(len(paths), dtype=torch.bool)
    if crf.allowed_transitions is not None:
        allowed &= crf.allowed_start[paths[:, 0]] & crf.allowed_end[paths[:, -1]]
        if length > 1:
            allowed &= crf.allowed_transitions[paths[:, :-1], paths[:, 1:]].all(1)
        trans = trans.masked_fill(~crf.allowed_transitions, CONSTRAINT_PENALTY)
        start = start.masked_fill(~crf.allowed_start, CONSTRAINT_PENALTY)
        end = end.masked_fill(~crf.allowed_end, CONSTRAINT_PENALTY)
    scores = em.double()[torch.arange(length), paths].sum(1) + start[paths[:, 0]]
    scores = scores + end[paths[:, -1]]
    if length > 1:
        scores = scores + trans[paths[:, :-1], paths[:, 1:]].sum(1)
    return paths, scores, allowed, torch.logsumexp(scores, 0).item()


def check_against_enumeration(crf, em, lengths, n):
    """kbest_viterbi on the padded batch gives, per sentence, the top n allowed sequences of
    the enumeration: same scores in the same order and the same probabilities (1e-5)."""
    steps = em.shape[1]
    result = kbest_viterbi(crf, em, left_mask(lengths, steps), n)
    assert len(result) == len(lengths)
    for b, length in enumerate(lengths):
        got = result[b]
        if length == 0:
            assert got == [([], 1.0)]
            continue
        paths, scores, allowed, log_z = enumerate_sentence(crf, em[b, :length])
        index = {tuple(p): i for i, p in enumerate(paths.tolist())}
        expected = scores[allowed].sort(descending=True).values[:n]
        assert len(got) == len(expected)
        rows = [index[tuple(seq)] for seq, _ in got]
        assert len(set(rows)) == len(rows), "a sequence came back twice"
        assert all(allowed[rows].tolist()), "a disallowed sequence came back"
        assert all(len(seq) == length for seq, _ in got)
        torch.testing.assert_close(scores[rows], expected, atol=1e-5, rtol=0)
        probs = torch.tensor([p for _, p in got], dtype=torch.float64)
        torch.testing.assert_close(probs, (scores[rows] - log_z).exp(), atol=1e-5, rtol=1e-5)
    return result


@pytest.mark.parametrize(
    "num_tags, lengths, n",
    [(3, [6, 1, 4, 0, 5], 4), (4, [5, 3, 2], 7), (5, [4, 5, 1], 3), (7, [3, 4, 2], 10)],
)
def test_unconstrained_kbest_matches_enumeration(num_tags, lengths, n):
    crf = make_crf(num_tags, seed=num_tags)
    em = torch.randn(len(lengths), max(lengths), num_tags) * 2
    check_against_enumeration(crf, em, lengths, n)


@pytest.mark.parametrize("labels, lengths, n", [(BIO, [5, 2, 4, 1], 6), (BIO7, [4, 3, 1], 8)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bio_constrained_kbest_matches_enumeration(labels, lengths, n, seed):
    crf = make_crf(len(labels), labels, seed=seed)
    # Emissions that favour I- tags, so that the unconstrained best would be disallowed.
    em = torch.randn(len(lengths), max(lengths), len(labels)) * 2
    em[..., [i for i, label in enumerate(labels) if label.startswith("I-")]] += 3.0
    check_against_enumeration(crf, em, lengths, n)


@settings(max_examples=30, deadline=None)
@given(
    num_tags=st.integers(1, 4),
    lengths=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    n=st.integers(1, 12),
    constrained=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_cases_match_enumeration(num_tags, lengths, n, constrained, seed):
    labels = ["O", "I-X", "B-X", "I-Y"][:num_tags] if constrained else None
    crf = make_crf(num_tags, labels, seed=seed, scale=2.0)
    em = torch.randn(len(lengths), max(lengths), num_tags) * 2
    check_against_enumeration(crf, em, lengths, n)


@pytest.mark.parametrize("labels", [None, BIO])
def test_n_equal_one_is_viterbi_decode(labels):
    crf = make_crf(5, labels, seed=4)
    lengths = [12, 1, 7, 0, 30, 3]
    em = torch.randn(len(lengths), 30, 5) * 3
    mask = left_mask(lengths, 30)
    best = kbest_viterbi(crf, em, mask, 1)
    assert [entries[0][0] for entries in best] == crf.viterbi_decode(em, mask)
    assert all(len(entries) == 1 for entries in best)
    # The best path's probability is exp of the CRF's own log-likelihood of it.
    tags = torch.zeros(len(lengths), 30, dtype=torch.long)
    for b, entries in enumerate(best):
        tags[b, : lengths[b]] = torch.tensor(entries[0][0], dtype=torch.long)
    expected = crf.log_likelihood(em, tags, mask).double().exp()
    torch.testing.assert_close(torch.tensor([e[0][1] for e in best]).double(), expected)


def test_more_requested_than_allowed_gives_every_allowed_sequence_once():
    labels = ["O", "B-X", "I-X"]
    crf = make_crf(3, labels, seed=5)
    em = torch.randn(2, 3, 3)
    result = check_against_enumeration(crf, em, [3, 2], 100)
    # O/B-X/I-X: 5 allowed sequences of length 2, 13 of length 3 (I-X only after B-X or I-X).
    assert [len(r) for r in result] == [13, 5]
    for entries in result:
        assert sum(p for _, p in entries) == pytest.approx(1.0, abs=1e-5)
        probs = [p for _, p in entries]
        assert probs == sorted(probs, reverse=True)
    # An absurd n costs no more than K^T: the beam is not allocated n wide.
    huge = kbest_viterbi(crf, em, left_mask([3, 2], 3), 10**9)
    assert [[seq for seq, _ in r] for r in huge] == [[seq for seq, _ in r] for r in result]


def test_unconstrained_more_requested_than_exist():
    crf = make_crf(2, seed=6)
    result = kbest_viterbi(crf, torch.randn(1, 3, 2), torch.ones(1, 3, dtype=torch.bool), 50)
    assert sorted(tuple(seq) for seq, _ in result[0]) == list(itertools.product(range(2), repeat=3))
    assert sum(p for _, p in result[0]) == pytest.approx(1.0, abs=1e-5)


def test_no_allowed_sequence_gives_an_empty_list():
    # A label set of I- tags only: no sequence may start, so none is allowed.
    crf = make_crf(2, ["I-X", "I-Y"], seed=7)
    em = torch.randn(2, 2, 2)
    assert kbest_viterbi(crf, em, left_mask([2, 1], 2), 3) == [[], []]


def test_ties_give_distinct_sequences_with_equal_probabilities():
    crf = make_crf(3, seed=8)
    with torch.no_grad():
        for param in crf.parameters():
            param.zero_()
    result = kbest_viterbi(crf, torch.zeros(1, 3, 3), torch.ones(1, 3, dtype=torch.bool), 5)
    assert len({tuple(seq) for seq, _ in result[0]}) == 5
    for _, prob in result[0]:
        assert prob == pytest.approx(1 / 27, abs=1e-6)


def test_padding_changes_nothing_and_may_hold_anything():
    crf = make_crf(5, BIO, seed=9)
    lengths = [4, 2, 5]
    em = torch.randn(3, 5, 5)
    mask = left_mask(lengths, 5)
    batched = kbest_viterbi(crf, em.masked_fill(~mask.unsqueeze(-1), float("nan")), mask, 4)
    for b, length in enumerate(lengths):
        alone = kbest_viterbi(crf, em[b : b + 1, :length], left_mask([length], length), 4)[0]
        assert [seq for seq, _ in batched[b]] == [seq for seq, _ in alone]
        assert [p for _, p in batched[b]] == pytest.approx([p for _, p in alone], abs=1e-6)


def test_empty_inputs():
    crf = make_crf(3, seed=10)
    assert kbest_viterbi(crf, torch.zeros(0, 4, 3), torch.zeros(0, 4, dtype=torch.bool), 2) == []
    empty = kbest_viterbi(crf, torch.zeros(2, 0, 3), torch.zeros(2, 0, dtype=torch.bool), 2)
    assert empty == [[([], 1.0)], [([], 1.0)]]


@pytest.mark.parametrize("n", [0, -1, 1.5, True, None])
def test_bad_n_is_refused(n):
    crf = make_crf(3, seed=11)
    with pytest.raises(ValueError, match="n must be"):
        kbest_viterbi(crf, torch.zeros(1, 2, 3), torch.ones(1, 2, dtype=torch.bool), n)


def test_bad_inputs_are_refused():
    crf = make_crf(3, seed=12)
    em = torch.randn(2, 3, 3)
    with pytest.raises(ValueError, match="left-aligned"):
        kbest_viterbi(crf, em, torch.tensor([[True, False, True], [True, True, True]]), 2)
    with pytest.raises(ValueError, match="mask has shape"):
        kbest_viterbi(crf, em, torch.ones(2, 4, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="emissions must be"):
        kbest_viterbi(crf, torch.randn(2, 3, 4), torch.ones(2, 3, dtype=torch.bool), 2)
    bad = em.clone()
    bad[1, 2, 0] = float("inf")
    with pytest.raises(ValueError, match="NaN or infinite"):
        kbest_viterbi(crf, bad, torch.ones(2, 3, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="GiB"):
        kbest_viterbi(crf, torch.randn(4, 30, 3), torch.ones(4, 30, dtype=torch.bool), 10**8)


def softmax_reference(logits, n):
    probs = torch.softmax(logits.double(), -1).tolist()
    return sorted(enumerate(probs), key=lambda item: -item[1])[:n]


def test_topn_token_level_follows_the_mask_and_the_softmax():
    labels = ["O", "B-X", "I-X", "B-Y"]
    logits = torch.randn(3, 4, 4) * 2
    lengths = [4, 0, 2]
    result = topn_labels(logits, left_mask(lengths, 4), 3, labels)
    assert [len(sentence) for sentence in result] == lengths
    for b, sentence in enumerate(result):
        for t, pairs in enumerate(sentence):
            probs = torch.softmax(logits[b, t].double(), -1)
            order = probs.argsort(descending=True)[:3].tolist()
            assert [label for label, _ in pairs] == [labels[i] for i in order]
            assert [p for _, p in pairs] == pytest.approx(probs[order].tolist(), abs=1e-6)
    # n = 1 is the argmax the softmax tagger writes.
    firsts = topn_labels(logits, left_mask(lengths, 4), 1, labels)
    best = logits.argmax(-1).tolist()
    assert [[p[0][0] for p in s] for s in firsts] == [
        [labels[i] for i in best[b][:n]] for b, n in enumerate(lengths)
    ]


def test_topn_sentence_level_and_n_above_the_label_count():
    labels = ["pos", "neg", "neu"]
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 5.0]])
    result = topn_labels(logits, None, 10, labels)
    assert [[label for label, _ in row] for row in result] == [
        ["pos", "neu", "neg"],
        ["neu", "pos", "neg"],
    ]
    assert all(sum(p for _, p in row) == pytest.approx(1.0, abs=1e-6) for row in result)
    assert result[0][0][1] == pytest.approx(math.exp(2) / (math.exp(2) + 1 + math.exp(1)))
    masked = topn_labels(logits, torch.tensor([True, False]), 2, labels)
    assert masked[1] == [] and len(masked[0]) == 2


def test_format_topn_reads_back():
    cell = format_topn([("B-PER", 0.91234567), ("O", 1.5e-8)])
    assert cell == "B-PER=0.912346|O=1.5e-08"
    assert [(k, float(v)) for k, v in (p.split("=") for p in cell.split("|"))] == [
        ("B-PER", 0.912346),
        ("O", 1.5e-8),
    ]


def test_topn_bad_inputs_are_refused():
    labels = ["a", "b"]
    with pytest.raises(ValueError, match="n must be"):
        topn_labels(torch.zeros(1, 2), None, 0, labels)
    with pytest.raises(ValueError, match="label names"):
        topn_labels(torch.zeros(1, 3), None, 1, labels)
    with pytest.raises(ValueError, match="need a mask"):
        topn_labels(torch.zeros(1, 2, 2), None, 1, labels)
    with pytest.raises(ValueError, match="mask has shape"):
        topn_labels(torch.zeros(1, 2, 2), torch.ones(1, 3, dtype=torch.bool), 1, labels)
    with pytest.raises(ValueError, match="NaN or infinite"):
        topn_labels(torch.tensor([[0.0, float("nan")]]), None, 1, labels)
    with pytest.raises(ValueError, match="logits must be"):
        topn_labels(torch.zeros(2), None, 1, labels)


def test_speed_benchmark_runs_and_reports_what_it_promises():
    from benchmarks import bench_crf_kbest

    result = bench_crf_kbest.run(repeats=1)
    assert result["num_tags"] == 13 and result["batch"] == 32
    assert set(result["median_ms"]) == {"viterbi_decode", "kbest_n1", "kbest_n3", "kbest_n10"}
    assert result["kbest_n1_same_paths_as_viterbi"] is True
    assert 0.0 < result["mean_probability_mass_of_3_best"] <= 1.0
