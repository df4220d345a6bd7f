"""Tests for the linear-chain CRF: likelihood, gradients and Viterbi against brute-force
enumeration of every tag sequence, BIO constraints, half precision and empty sentences."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.modules.crf import (
    CONSTRAINT_PENALTY,
    ConditionalRandomField,
    bio_transition_constraints,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_crf(num_tags, constraints=None, seed=0, scale=1.0):
    """A CRF with transition scores large enough that they matter."""
    torch.manual_seed(seed)
    crf = ConditionalRandomField(num_tags, constraints)
    with torch.no_grad():
        crf.transitions.normal_(0.0, scale)
        crf.start_transitions.normal_(0.0, scale)
        crf.end_transitions.normal_(0.0, scale)
    return crf


def left_mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


def penalised_scores(crf):
    """Transition, start and end scores as the CRF uses them, in float64."""

    def fill(score, allowed):
        score = score.detach().double()
        return score if allowed is None else score.masked_fill(~allowed, CONSTRAINT_PENALTY)

    return (
        fill(crf.transitions, crf.allowed_transitions),
        fill(crf.start_transitions, crf.allowed_start),
        fill(crf.end_transitions, crf.allowed_end),
    )


def all_paths(num_tags, length):
    return torch.tensor(list(itertools.product(range(num_tags), repeat=length)), dtype=torch.long)


def path_scores(em, paths, trans, start, end):
    """score(y) of every row of paths ([S, n]) for one sentence's emissions em ([n, K])."""
    n = paths.shape[1]
    score = em[torch.arange(n), paths].sum(1) + start[paths[:, 0]] + end[paths[:, -1]]
    if n > 1:
        score = score + trans[paths[:, :-1], paths[:, 1:]].sum(1)
    return score


def brute_log_likelihood(em, tags, lengths, trans, start, end):
    """log p(tags) per sentence by enumerating every path, in float64 (differentiable)."""
    out = []
    for b, n in enumerate(lengths):
        if n == 0:
            out.append(em.new_zeros(()))
            continue
        k = em.shape[-1]
        scores = path_scores(em[b, :n], all_paths(k, n), trans, start, end)
        gold = path_scores(em[b, :n], tags[b, :n].unsqueeze(0), trans, start, end)[0]
        out.append(gold - torch.logsumexp(scores, 0))
    return torch.stack(out)


CASES = [
    (3, [4, 1, 3, 2]),
    (4, [1, 4, 2, 4, 3]),
    (4, [2]),
    (3, [1]),
]


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("num_tags, lengths", CASES)
def test_log_likelihood_matches_enumeration(num_tags, lengths, constrained):
    labels = ["O", "B-X", "I-X", "B-Y"][:num_tags]
    constraints = bio_transition_constraints(labels) if constrained else None
    crf = make_crf(num_tags, constraints, seed=num_tags + len(lengths))
    steps = max(lengths)
    em = torch.randn(len(lengths), steps, num_tags) * 2
    # Gold tags drawn from valid paths when constrained, so that the values stay comparable.
    tags = torch.zeros(len(lengths), steps, dtype=torch.long)
    for b, n in enumerate(lengths):
        tags[b, :n] = torch.randint(num_tags, (n,))
        if constrained:
            tags[b, :n] = torch.tensor(crf.viterbi_decode(em[b : b + 1, :n], left_mask([n], n))[0])
    mask = left_mask(lengths, steps)
    ours = crf.log_likelihood(em, tags, mask)
    expected = brute_log_likelihood(em.double(), tags, lengths, *penalised_scores(crf))
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), expected, atol=1e-5, rtol=1e-6)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("num_tags, length", [(3, 1), (3, 4), (4, 3), (4, 4)])
def test_probabilities_of_all_paths_sum_to_one(num_tags, length, constrained):
    labels = ["O", "B-X", "I-X", "I-Y"][:num_tags]
    constraints = bio_transition_constraints(labels) if constrained else None
    crf = make_crf(num_tags, constraints, seed=length)
    paths = all_paths(num_tags, length)
    em = (torch.randn(1, length, num_tags) * 2).expand(len(paths), length, num_tags)
    mask = torch.ones(len(paths), length, dtype=torch.bool)
    log_p = crf.log_likelihood(em, paths, mask).double()
    assert torch.logsumexp(log_p, 0).item() == pytest.approx(0.0, abs=1e-5)
    # score(y) - log p(y) is the same log partition for every path: logsumexp of all scores.
    trans, start, end = penalised_scores(crf)
    scores = path_scores(em[0].double(), paths, trans, start, end)
    log_z = torch.logsumexp(scores, 0).expand(len(paths))
    bad = torch.zeros(len(paths), dtype=torch.bool)
    if constrained:
        bad = ~crf.allowed_start[paths[:, 0]]
        if length > 1:
            bad |= (~crf.allowed_transitions[paths[:, :-1], paths[:, 1:]]).any(1)
        assert bad.any() and torch.exp(log_p[bad]).max().item() == 0.0
        # float32 keeps about 1e-3 of a score near the -10000 penalty
        torch.testing.assert_close(scores[bad] - log_p[bad], log_z[bad], atol=5e-3, rtol=0)
    torch.testing.assert_close(scores[~bad] - log_p[~bad], log_z[~bad], atol=1e-4, rtol=0)


@pytest.mark.parametrize("constrained", [False, True])
def test_gradients_match_enumeration(constrained):
    constraints = bio_transition_constraints(["O", "B-X", "I-X", "I-Y"]) if constrained else None
    crf = make_crf(4, constraints, seed=3)
    lengths = [4, 1, 3, 0, 2]
    steps = 4
    em = torch.randn(len(lengths), steps, 4) * 2
    tags = torch.randint(4, (len(lengths), steps))
    tags[:, 1:] = torch.where(tags[:, 1:] > 1, 0, tags[:, 1:])  # O/B-X only: always valid
    tags[:, 0] = torch.where(tags[:, 0] > 1, 1, tags[:, 0])
    mask = left_mask(lengths, steps)

    em_ours = em.clone().requires_grad_()
    crf.log_likelihood(em_ours, tags, mask).sum().backward()

    em_ref = em.double().requires_grad_()
    params = [p.detach().double().requires_grad_() for p in crf.parameters()]
    trans, start, end = params
    if constrained:
        trans = trans.masked_fill(~crf.allowed_transitions, CONSTRAINT_PENALTY)
        start = start.masked_fill(~crf.allowed_start, CONSTRAINT_PENALTY)
        end = end.masked_fill(~crf.allowed_end, CONSTRAINT_PENALTY)
    brute_log_likelihood(em_ref, tags, lengths, trans, start, end).sum().backward()

    torch.testing.assert_close(em_ours.grad.double(), em_ref.grad, atol=1e-5, rtol=1e-5)
    for ours, ref in zip(crf.parameters(), params):
        torch.testing.assert_close(ours.grad.double(), ref.grad, atol=1e-5, rtol=1e-5)
    # Padding positions get no gradient; disallowed moves neither.
    assert em_ours.grad[~mask].abs().max().item() == 0.0
    if constrained:
        assert crf.transitions.grad[~crf.allowed_transitions].abs().max().item() == 0.0
        assert crf.start_transitions.grad[~crf.allowed_start].abs().max().item() == 0.0


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("num_tags, lengths", CASES)
def test_viterbi_matches_enumeration(num_tags, lengths, constrained):
    labels = ["O", "B-X", "I-X", "I-Y"][:num_tags]
    constraints = bio_transition_constraints(labels) if constrained else None
    crf = make_crf(num_tags, constraints, seed=7 * num_tags + len(lengths))
    steps = max(lengths)
    em = torch.randn(len(lengths), steps, num_tags) * 2
    em[:, :, -1] += 3.0  # push towards the constrained tag, so constraints have to bite
    paths = crf.viterbi_decode(em, left_mask(lengths, steps))
    trans, start, end = penalised_scores(crf)
    for b, n in enumerate(lengths):
        assert len(paths[b]) == n
        scores = path_scores(em[b, :n].double(), all_paths(num_tags, n), trans, start, end)
        best = all_paths(num_tags, n)[scores.argmax()].tolist()
        ours = path_scores(em[b, :n].double(), torch.tensor([paths[b]]), trans, start, end)
        assert ours.item() == pytest.approx(scores.max().item(), abs=1e-4)
        assert paths[b] == best


@pytest.mark.parametrize("constrained", [False, True])
def test_batching_does_not_change_any_sentence(constrained):
    # Padding must neither leak into a sentence's likelihood nor into its best path.
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    crf = make_crf(5, bio_transition_constraints(labels) if constrained else None, seed=11)
    lengths = [10, 1, 0, 7, 3, 10, 2, 5]
    em = torch.randn(len(lengths), 10, 5) * 3
    tags = torch.randint(5, (len(lengths), 10))
    batched_ll = crf.log_likelihood(em, tags, left_mask(lengths, 10))
    batched_paths = crf.viterbi_decode(em, left_mask(lengths, 10))
    for b, n in enumerate(lengths):
        one_mask = left_mask([n], n)
        alone = crf.log_likelihood(em[b : b + 1, :n], tags[b : b + 1, :n], one_mask)
        torch.testing.assert_close(batched_ll[b : b + 1], alone, atol=1e-4, rtol=1e-6)
        assert batched_paths[b] == crf.viterbi_decode(em[b : b + 1, :n], one_mask)[0]


def is_valid_bio(labels):
    previous = "O"
    for label in labels:
        if label.startswith("I-") and previous[2:] != label[2:]:
            return False
        previous = label
    return True


BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "X"]


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    lengths=st.lists(st.integers(0, 12), min_size=1, max_size=6),
    scale=st.sampled_from([0.1, 1.0, 10.0, 100.0]),
)
def test_constrained_viterbi_never_gives_invalid_bio(seed, lengths, scale):
    k = len(BIO_LABELS)
    crf = ConditionalRandomField(k, bio_transition_constraints(BIO_LABELS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # Learned scores that favour the invalid moves: the constraints must still win.
        crf.transitions.copy_(torch.randn(k, k, generator=generator) * scale)
        crf.transitions.masked_fill_(~crf.allowed_transitions, 5.0 * scale)
        crf.start_transitions.copy_(torch.randn(k, generator=generator) * scale)
    steps = max(lengths)
    em = torch.randn(len(lengths), steps, k, generator=generator) * scale
    em[:, :, [2, 4, 6]] += scale  # I- tags look attractive everywhere
    paths = crf.viterbi_decode(em, left_mask(lengths, steps))
    assert [len(p) for p in paths] == lengths
    for path in paths:
        assert is_valid_bio([BIO_LABELS[i] for i in path])


def test_is_valid_bio_helper():
    assert is_valid_bio(["O", "B-PER", "I-PER", "X", "B-LOC"])
    assert not is_valid_bio(["I-PER"])
    assert not is_valid_bio(["B-PER", "I-LOC"])
    assert not is_valid_bio(["B-PER", "O", "I-PER"])


def test_bf16_emissions_give_close_loss_and_gradients():
    crf = make_crf(5, seed=1)
    lengths = [6, 3, 1]
    em32 = torch.randn(3, 6, 5) * 3
    em16 = em32.to(torch.bfloat16).requires_grad_()
    tags = torch.randint(5, (3, 6))
    mask = left_mask(lengths, 6)
    loss16 = crf.negative_log_likelihood(em16, tags, mask)
    loss32 = crf.negative_log_likelihood(em32, tags, mask)
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert loss16.item() == pytest.approx(loss32.item(), rel=2e-2)
    # Same values as the bf16 input read in float32: the computation itself is not in bf16.
    exact = crf.negative_log_likelihood(em16.detach().float(), tags, mask)
    assert loss16.item() == pytest.approx(exact.item(), abs=1e-5)
    loss16.backward()
    assert em16.grad is not None and em16.grad.dtype == torch.bfloat16
    assert torch.isfinite(em16.grad.float()).all() and em16.grad.float().abs().sum() > 0
    for param in crf.parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all()
        assert param.grad.abs().sum() > 0


def test_half_parameters_are_computed_in_float32():
    crf = make_crf(5, bio_transition_constraints(LABELS), seed=2).half()
    em = torch.randn(2, 4, 5, dtype=torch.float16)
    mask = left_mask([4, 2], 4)
    loss = crf.negative_log_likelihood(em, torch.zeros(2, 4, dtype=torch.long), mask)
    assert torch.isfinite(loss)
    loss.backward()
    assert crf.transitions.grad.dtype == torch.float16
    assert all(is_valid_bio([LABELS[i] for i in p]) for p in crf.viterbi_decode(em, mask))


def test_empty_sentences_change_nothing():
    crf = make_crf(4, bio_transition_constraints(["O", "B-A", "I-A", "B-B"]), seed=5)
    em = torch.randn(3, 5, 4)
    tags = torch.tensor([[0, 1, 2, 0, 3], [3, 3, 3, 3, 3], [1, 2, 0, 0, 0]])
    with_empty = crf.log_likelihood(
        torch.stack([em[0], em[1], em[2]]), tags, left_mask([5, 0, 3], 5)
    )
    without = crf.log_likelihood(em[[0, 2]], tags[[0, 2]], left_mask([5, 3], 5))
    assert with_empty[1].item() == 0.0
    torch.testing.assert_close(with_empty[[0, 2]], without)
    paths = crf.viterbi_decode(em, left_mask([5, 0, 3], 5))
    assert paths[1] == []
    assert [paths[0], paths[2]] == crf.viterbi_decode(em[[0, 2]], left_mask([5, 3], 5))
    # Gradients stay finite and the empty sentence's emissions get none.
    em_grad = em.clone().requires_grad_()
    crf.negative_log_likelihood(em_grad, tags, left_mask([5, 0, 3], 5)).backward()
    assert torch.isfinite(em_grad.grad).all() and em_grad.grad[1].abs().max().item() == 0.0


def test_all_empty_and_zero_size_batches():
    crf = make_crf(3)
    for shape in [(2, 0, 3), (0, 4, 3)]:
        em = torch.randn(*shape, requires_grad=True)
        mask = torch.zeros(shape[:2], dtype=torch.bool)
        tags = torch.zeros(shape[:2], dtype=torch.long)
        ll = crf.log_likelihood(em, tags, mask)
        assert ll.shape == (shape[0],) and (ll == 0).all()
        crf.negative_log_likelihood(em, tags, mask, reduction="sum").backward()
        assert crf.viterbi_decode(em, mask) == [[] for _ in range(shape[0])]
    em = torch.randn(2, 3, 3)
    mask = torch.zeros(2, 3, dtype=torch.bool)
    assert (crf.log_likelihood(em, torch.zeros(2, 3, dtype=torch.long), mask) == 0).all()
    assert crf.viterbi_decode(em, mask) == [[], []]


def test_extreme_scores_fall_back_to_log_space():
    # The fast path's probabilities underflow here (a 750-nat gap that later wins); the result
    # must still be exact.
    crf = ConditionalRandomField(2)
    with torch.no_grad():
        crf.transitions.copy_(torch.tensor([[0.0, -800.0], [-800.0, 0.0]]))
        crf.start_transitions.zero_()
        crf.end_transitions.zero_()
    em = torch.tensor([[[0.0, -750.0], [-2000.0, 0.0]]])
    tags = torch.tensor([[1, 1]])
    mask = torch.ones(1, 2, dtype=torch.bool)
    ll = crf.log_likelihood(em, tags, mask)
    expected = brute_log_likelihood(em.double(), tags, [2], *penalised_scores(crf))
    torch.testing.assert_close(ll.double(), expected, atol=1e-4, rtol=0)


def test_fast_path_agrees_with_log_space_path():
    crf = make_crf(6, bio_transition_constraints(["O", "B-A", "I-A", "B-B", "I-B", "Z"]), seed=9)
    lengths = [9, 1, 5, 0, 7]
    em = torch.randn(5, 9, 6) * 4
    tags = torch.randint(6, (5, 9))
    mask = left_mask(lengths, 9)
    fast = crf.log_likelihood(em, tags, mask)
    slow = crf._log_likelihood_log_space(em, tags.masked_fill(~mask, 0), mask, mask.sum(1))
    torch.testing.assert_close(fast, slow, atol=1e-3, rtol=1e-5)


def test_padding_tags_and_values_are_ignored():
    crf = make_crf(3, seed=4)
    em = torch.randn(2, 4, 3)
    tags = torch.tensor([[0, 1, 2, 1], [2, 0, -100, -100]])
    mask = left_mask([4, 2], 4)
    noisy = em.clone()
    noisy[1, 2:] = float("inf")
    ll = crf.log_likelihood(noisy, tags, mask)
    clean = crf.log_likelihood(em, tags.clamp(min=0), mask)
    torch.testing.assert_close(ll, clean)
    assert crf.viterbi_decode(noisy, mask) == crf.viterbi_decode(em, mask)


def test_reductions_and_errors():
    crf = make_crf(3, seed=6)
    em = torch.randn(3, 4, 3)
    tags = torch.randint(3, (3, 4))
    mask = left_mask([4, 2, 3], 4)
    per_sentence = crf.negative_log_likelihood(em, tags, mask, reduction="none")
    assert per_sentence.shape == (3,)
    torch.testing.assert_close(per_sentence, -crf.log_likelihood(em, tags, mask))
    torch.testing.assert_close(crf.negative_log_likelihood(em, tags, mask), per_sentence.mean())
    torch.testing.assert_close(crf(em, tags, mask), per_sentence.mean())
    torch.testing.assert_close(
        crf.negative_log_likelihood(em, tags, mask, reduction="sum"), per_sentence.sum()
    )
    with pytest.raises(ValueError, match="reduction"):
        crf.negative_log_likelihood(em, tags, mask, reduction="batchmean")
    with pytest.raises(ValueError, match="left-aligned"):
        crf.log_likelihood(em, tags, torch.tensor([[True, False, True, False]] * 3))
    with pytest.raises(ValueError, match="emissions"):
        crf.viterbi_decode(torch.randn(3, 4, 5), mask)
    with pytest.raises(ValueError, match="constraints"):
        ConditionalRandomField(4, bio_transition_constraints(LABELS))


def test_viterbi_runs_without_building_a_graph():
    crf = make_crf(4, seed=8)
    em = torch.randn(2, 5, 4, requires_grad=True)
    paths = crf.viterbi_decode(em, left_mask([5, 3], 5))
    assert [len(p) for p in paths] == [5, 3]
    assert all(isinstance(tag, int) for path in paths for tag in path)
    assert em.grad is None


def test_constraints_are_buffers_not_parameters():
    crf = ConditionalRandomField(5, bio_transition_constraints(LABELS))
    names = {name for name, _ in crf.named_parameters()}
    assert names == {"transitions", "start_transitions", "end_transitions"}
    state = crf.state_dict()
    assert state["allowed_transitions"].dtype == torch.bool
    assert "allowed_start" in state and "allowed_end" in state
    assert "allowed_transitions" not in ConditionalRandomField(5).state_dict()


def test_bio_transition_constraints():
    allowed, start, end = bio_transition_constraints(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    expected = torch.tensor(
        [
            # to: O, B-PER, I-PER, B-LOC, I-LOC
            [1, 1, 0, 1, 0],  # from O
            [1, 1, 1, 1, 0],  # from B-PER
            [1, 1, 1, 1, 0],  # from I-PER
            [1, 1, 0, 1, 1],  # from B-LOC
            [1, 1, 0, 1, 1],  # from I-LOC
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed, expected)
    assert start.tolist() == [True, True, False, True, False]
    assert end.tolist() == [True] * 5


def test_bio_constraints_treat_other_labels_like_o():
    allowed, start, _ = bio_transition_constraints(["I-A", "<pad>", "B-A", "I-B", "E-A"])
    assert start.tolist() == [False, True, True, False, True]
    assert allowed[:, 0].tolist() == [True, False, True, False, False]  # into I-A
    assert allowed[:, 3].tolist() == [False, False, False, True, False]  # into I-B
    assert allowed[:, [1, 2, 4]].all()


def test_small_crf_products_run_on_one_thread_with_the_same_results_and_restore_the_count():
    """The loss, its gradients and Viterbi switch to one intra-op thread for their small
    products (MKL splitting them costs more than it gains); results must not change with the
    thread count, and the caller's thread count must be back afterwards, also after backward
    (which the autograd engine runs outside log_likelihood)."""
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    crf = make_crf(len(labels), bio_transition_constraints(labels), seed=3)
    torch.manual_seed(4)
    emissions = torch.randn(6, 9, len(labels)) * 3
    tags = torch.randint(len(labels), (6, 9))
    mask = torch.arange(9)[None, :] < torch.tensor([9, 7, 5, 3, 1, 8])[:, None]
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            crf.zero_grad()
            em = emissions.clone().requires_grad_(True)
            loss = crf.negative_log_likelihood(em, tags, mask)
            assert torch.get_num_threads() == threads
            loss.backward()
            assert torch.get_num_threads() == threads
            paths = crf.viterbi_decode(emissions, mask)
            assert torch.get_num_threads() == threads
            results.append((loss.detach(), em.grad, crf.transitions.grad.clone(), paths))
    finally:
        torch.set_num_threads(before)
    (loss2, em2, trans2, paths2), (loss1, em1, trans1, paths1) = results
    assert torch.equal(loss2, loss1) and torch.equal(em2, em1) and torch.equal(trans2, trans1)
    assert paths2 == paths1
