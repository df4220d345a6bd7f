"""Tests for the CRF's confidences: token marginals and span probabilities against brute-force
enumeration of every label sequence (hard BIO constraints), masking, dtypes, extreme scores
(the log-space fallback) and the span rows' validation."""

from __future__ import annotations

import itertools

import pytest
import torch

from machamp_lite.modules.crf import ConditionalRandomField, bio_transition_constraints
from machamp_lite.modules.crf_marginals import spans_from_paths

LABEL_SETS = {
    3: ["O", "B-X", "I-X"],
    4: ["O", "B-X", "I-X", "B-Y"],
    5: ["O", "B-X", "I-X", "B-Y", "I-Y"],
    7: ["O", "B-X", "I-X", "B-Y", "I-Y", "B-Z", "I-Z"],
}

# (number of labels, sentence lengths in one padded batch)
CASES = [(3, [6, 2, 5]), (4, [5, 1, 3, 5]), (5, [5, 4, 2]), (7, [4, 1, 3])]


def make_crf(num_tags, constrained, seed, scale=1.0):
    labels = LABEL_SETS[num_tags]
    torch.manual_seed(seed)
    crf = ConditionalRandomField(
        num_tags, bio_transition_constraints(labels) if constrained else None
    )
    with torch.no_grad():
        for param in crf.parameters():
            param.normal_(0.0, scale)
    return crf


def left_mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


def path_log_probs(crf, em, n):
    """Every path of length n ([S, n]) and its log probability, by enumeration in float64,
    disallowed paths left out (probability 0)."""
    k = crf.num_tags
    paths = torch.tensor(list(itertools.product(range(k), repeat=n)), dtype=torch.long)
    trans = crf.transitions.detach().double()
    start = crf.start_transitions.detach().double()
    end = crf.end_transitions.detach().double()
    em = em[:n].double()
    score = em[torch.arange(n), paths].sum(1) + start[paths[:, 0]] + end[paths[:, -1]]
    if n > 1:
        score = score + trans[paths[:, :-1], paths[:, 1:]].sum(1)
    if crf.allowed_transitions is not None:
        ok = crf.allowed_start[paths[:, 0]] & crf.allowed_end[paths[:, -1]]
        if n > 1:
            ok &= crf.allowed_transitions[paths[:, :-1], paths[:, 1:]].all(1)
        score = score.masked_fill(~ok, float("-inf"))
    return paths, score - torch.logsumexp(score, 0)


def brute_marginals(crf, em, lengths):
    out = torch.zeros(em.shape, dtype=torch.float64)
    for b, n in enumerate(lengths):
        if n == 0:
            continue
        paths, log_p = path_log_probs(crf, em[b], n)
        p = log_p.exp()
        for t in range(n):
            out[b, t].index_add_(0, paths[:, t], p)
    return out


def span_holds(paths, s, e, begin, inside):
    """Which paths label exactly the span (the definition in crf_marginals.py)."""
    n = paths.shape[1]
    ok = paths[:, s] == begin
    for t in range(s + 1, e + 1):
        ok &= paths[:, t] == inside
    if e + 1 < n:
        ok &= paths[:, e + 1] != inside
    if begin == inside and s > 0:
        ok &= paths[:, s - 1] != inside
    return ok


def all_span_rows(lengths, labels):
    """Every span of every sentence with every (begin, inside) pair the label set has: B-X /
    I-X, the plain-label reading (X, X) of every label, and B-X without an inside label."""
    index = {label: i for i, label in enumerate(labels)}
    pairs = [(i, i) for i in range(len(labels))]
    for label, i in index.items():
        if label.startswith("B-"):
            pairs.append((i, index.get("I-" + label[2:], -1)))
            pairs.append((i, -1))
    rows = []
    for b, n in enumerate(lengths):
        for s in range(n):
            for e in range(s, n):
                for begin, inside in pairs:
                    if inside == -1 and e > s:
                        continue
                    rows.append([b, s, e, begin, inside])
    return torch.tensor(rows, dtype=torch.long)


def brute_spans(crf, em, lengths, rows):
    cache = {b: path_log_probs(crf, em[b], n) for b, n in enumerate(lengths) if n}
    out = []
    for b, s, e, begin, inside in rows.tolist():
        paths, log_p = cache[b]
        out.append(log_p.exp()[span_holds(paths, s, e, begin, inside)].sum())
    return torch.stack(out)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("num_tags, lengths", CASES)
def test_marginals_match_enumeration(num_tags, lengths, constrained):
    crf = make_crf(num_tags, constrained, seed=num_tags)
    steps = max(lengths)
    em = torch.randn(len(lengths), steps, num_tags) * 2
    mask = left_mask(lengths, steps)
    ours = crf.marginals(em, mask)
    assert ours.shape == em.shape and ours.dtype == torch.float64
    torch.testing.assert_close(ours, brute_marginals(crf, em, lengths), atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.sum(-1), mask.double(), atol=1e-9, rtol=0)
    assert ours[~mask].abs().max().item() == 0.0


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("num_tags, lengths", CASES)
def test_span_probabilities_match_enumeration(num_tags, lengths, constrained):
    crf = make_crf(num_tags, constrained, seed=10 + num_tags)
    steps = max(lengths)
    em = torch.randn(len(lengths), steps, num_tags) * 2
    mask = left_mask(lengths, steps)
    rows = all_span_rows(lengths, LABEL_SETS[num_tags])
    ours = crf.span_probabilities(em, mask, rows)
    expected = brute_spans(crf, em, lengths, rows)
    assert expected.max() > 0.3  # some spans are likely, so the comparison says something
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)


def test_span_probability_is_not_a_product_of_token_marginals():
    crf = make_crf(5, True, seed=3, scale=2.0)
    em = torch.randn(1, 5, 5) * 2
    mask = torch.ones(1, 5, dtype=torch.bool)
    rows = torch.tensor([[0, 1, 3, 1, 2]])
    marg = crf.marginals(em, mask)[0]
    product = marg[1, 1] * marg[2, 2] * marg[3, 2] * (1 - marg[4, 2])
    exact = brute_spans(crf, em, [5], rows)
    assert abs(product - exact).item() > 1e-3
    torch.testing.assert_close(crf.span_probabilities(em, mask, rows), exact, atol=1e-6, rtol=0)


def test_disallowed_labels_get_zero_even_against_huge_emissions():
    labels = LABEL_SETS[5]
    crf = make_crf(5, True, seed=4)
    em = torch.zeros(2, 4, 5)
    em[:, 0, 2] = 50.0  # I-X wants to start the sentence
    em[:, 1, 0] = 100.0  # O at 1, surely ...
    em[:, 2, 4] = 50.0  # ... so I-Y at 2 cannot be, however much it is wanted
    em[1] *= 1000.0  # far beyond what the scaled recursion can hold: log-space fallback
    mask = torch.ones(2, 4, dtype=torch.bool)
    ours = crf.marginals(em, mask)
    starts_inside = [i for i, label in enumerate(labels) if label.startswith("I-")]
    assert ours[:, 0, starts_inside].max().item() < 1e-12
    assert ours[:, 1, 0].min().item() > 0.99
    assert ours[:, 2, 4].max().item() < 1e-12
    torch.testing.assert_close(ours.sum(-1), torch.ones(2, 4, dtype=torch.float64))


@pytest.mark.parametrize("constrained", [False, True])
def test_extreme_emissions_use_the_log_space_path_and_stay_exact(constrained):
    crf = make_crf(5, constrained, seed=5)
    lengths = [5, 3, 4]
    em = torch.randn(3, 5, 5) * 2
    em[1, 0, 2] = 5e4  # I-X, disallowed at the start: every allowed weight there underflows
    em[2] *= 1000.0
    mask = left_mask(lengths, 5)
    fb = crf._passes(em, mask, torch.tensor(lengths))
    # Only the extreme constrained sentence leaves the fast path; without constraints every
    # step keeps its best label's weight, so the scaled recursion holds.
    assert fb.bad.tolist() == ([1] if constrained else [])
    torch.testing.assert_close(
        crf.marginals(em, mask), brute_marginals(crf, em, lengths), atol=1e-5, rtol=0
    )
    rows = all_span_rows(lengths, LABEL_SETS[5])
    torch.testing.assert_close(
        crf.span_probabilities(em, mask, rows),
        brute_spans(crf, em, lengths, rows),
        atol=1e-5,
        rtol=0,
    )


def test_padding_does_not_change_a_sentences_marginals():
    crf = make_crf(7, True, seed=6)
    em = torch.randn(3, 9, 7) * 3
    lengths = [4, 9, 6]
    mask = left_mask(lengths, 9)
    padded = em.clone()
    padded[~mask] = torch.randn(int((~mask).sum()), 7) * 1e6  # whatever padding holds
    padded[0, 5] = float("inf")  # stays out
    padded[2, 7] = float("nan")
    batch = crf.marginals(padded, mask)
    rows = torch.tensor([[b, 0, 1, 1, 2] for b in range(3)])
    batch_spans = crf.span_probabilities(padded, mask, rows)
    for b, n in enumerate(lengths):
        alone = crf.marginals(em[b : b + 1, :n], torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(batch[b, :n], alone[0], atol=1e-12, rtol=0)
        single = torch.tensor([[0, 0, 1, 1, 2]])
        alone_span = crf.span_probabilities(
            em[b : b + 1, :n], torch.ones(1, n, dtype=torch.bool), single
        )
        torch.testing.assert_close(batch_spans[b : b + 1], alone_span, atol=1e-12, rtol=0)


def test_float64_and_float32_inputs_agree_and_long_sentences_stay_normalised():
    labels = ["O"] + [f"{p}-{t}" for t in "ABCDEF" for p in "BI"]
    torch.manual_seed(7)
    crf = ConditionalRandomField(13, bio_transition_constraints(labels))
    em = torch.randn(2, 800, 13, dtype=torch.float64) * 8
    mask = left_mask([800, 517], 800)
    m64 = crf.marginals(em, mask)
    m32 = crf.marginals(em.float(), mask)
    torch.testing.assert_close(m64, m32, atol=1e-5, rtol=0)
    torch.testing.assert_close(m64.sum(-1), mask.double(), atol=1e-9, rtol=0)
    assert torch.isfinite(m64).all()


def test_empty_batches_and_no_spans():
    crf = make_crf(3, True, seed=8)
    assert crf.marginals(torch.zeros(0, 4, 3), torch.zeros(0, 4, dtype=torch.bool)).shape == (
        0,
        4,
        3,
    )
    assert crf.marginals(torch.zeros(2, 0, 3), torch.zeros(2, 0, dtype=torch.bool)).shape == (
        2,
        0,
        3,
    )
    em = torch.randn(2, 3, 3)
    mask = left_mask([3, 0], 3)
    assert crf.marginals(em, mask)[1].abs().max().item() == 0.0
    assert crf.span_probabilities(em, mask, torch.zeros(0, 5, dtype=torch.long)).numel() == 0


@pytest.mark.parametrize(
    "row",
    [
        [2, 0, 0, 1, 2],  # no sentence 2
        [-1, 0, 0, 1, 2],
        [0, 2, 1, 1, 2],  # ends before it starts
        [0, 0, 3, 1, 2],  # past the sentence's end
        [1, 1, 1, 1, 2],  # sentence 1 has one word
        [0, -1, 0, 1, 2],
        [0, 0, 0, 3, 2],  # no label 3
        [0, 0, 1, 1, -1],  # no inside label on a longer span
    ],
)
def test_bad_span_rows_are_refused(row):
    crf = make_crf(3, True, seed=9)
    em = torch.randn(2, 3, 3)
    mask = left_mask([3, 1], 3)
    with pytest.raises(ValueError, match="span row 0"):
        crf.span_probabilities(em, mask, torch.tensor([row]))
    with pytest.raises(ValueError, match=r"\[S, 5\]"):
        crf.span_probabilities(em, mask, torch.tensor([[0, 0, 0, 1]]))


def test_spans_from_paths_reads_iob2_plain_and_b_only_labels():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "MISC", "I-ORG"]
    paths = [[1, 2, 2, 0, 3, 3, 4, 4, 0, 1], [5, 5, 0, 1, 1, 2], []]
    rows = spans_from_paths(paths, labels).tolist()
    assert rows == [
        [0, 0, 2, 1, 2],  # B-PER I-PER I-PER
        [0, 4, 4, 3, -1],  # B-LOC (no I-LOC label): one word each
        [0, 5, 5, 3, -1],
        [0, 6, 7, 4, 4],  # a run of the plain label MISC
        [0, 9, 9, 1, 2],
        [1, 0, 1, 5, 5],  # stray I-ORG opens a span
        [1, 3, 3, 1, 2],
        [1, 4, 5, 1, 2],
    ]
    assert spans_from_paths([[0, 0]], labels).shape == (0, 5)


def test_viterbi_spans_get_their_exact_probability():
    labels = LABEL_SETS[7]
    crf = make_crf(7, True, seed=11)
    lengths = [5, 3, 4, 5]
    em = torch.randn(4, 5, 7) * 3
    mask = left_mask(lengths, 5)
    rows = spans_from_paths(crf.viterbi_decode(em, mask), labels)
    assert rows.shape[0] > 0
    torch.testing.assert_close(
        crf.span_probabilities(em, mask, rows),
        brute_spans(crf, em, lengths, rows),
        atol=1e-5,
        rtol=0,
    )


def test_confidences_give_marginals_and_span_probabilities_from_one_pass():
    labels = LABEL_SETS[5]
    crf = make_crf(5, True, seed=12)
    em = torch.randn(3, 6, 5) * 2
    em[2, 0, 2] = 5e4  # one sentence through the log-space path
    mask = left_mask([6, 2, 5], 6)
    rows = spans_from_paths(crf.viterbi_decode(em, mask), labels)
    marginals, spans = crf.confidences(em, mask, rows)
    assert torch.equal(marginals, crf.marginals(em, mask))
    assert torch.equal(spans, crf.span_probabilities(em, mask, rows))
    empty, none = crf.confidences(
        torch.zeros(0, 6, 5), torch.zeros(0, 6, dtype=torch.bool), rows[:0]
    )
    assert empty.shape == (0, 6, 5) and none.shape == (0,)


def test_the_log_space_path_works_under_inference_mode():
    crf = make_crf(3, True, seed=13)
    em = torch.randn(2, 4, 3)
    em[0, 0, 2] = 5e4
    mask = left_mask([4, 2], 4)
    expected = brute_marginals(crf, em, [4, 2])
    with torch.inference_mode():
        ours = crf.marginals(em, mask)
        spans = crf.span_probabilities(em, mask, torch.tensor([[0, 1, 2, 1, 2]]))
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    rows = torch.tensor([[0, 1, 2, 1, 2]])
    torch.testing.assert_close(spans, brute_spans(crf, em, [4, 2], rows), atol=1e-5, rtol=0)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_emissions_are_refused_where_they_count(value):
    crf = make_crf(3, True, seed=14)
    em = torch.randn(2, 4, 3)
    mask = left_mask([4, 2], 4)
    em[1, 3, 0] = value  # padding: ignored
    assert torch.isfinite(crf.marginals(em, mask)).all()
    em[1, 1, 0] = value
    with pytest.raises(ValueError, match="sentence 1, position 1"):
        crf.marginals(em, mask)
    with pytest.raises(ValueError, match="sentence 1, position 1"):
        crf.span_probabilities(em, mask, torch.tensor([[0, 0, 0, 1, 2]]))


def test_non_integer_span_rows_are_refused():
    crf = make_crf(3, True, seed=15)
    em = torch.randn(1, 3, 3)
    mask = left_mask([3], 3)
    for rows in ([[0, 0, 0, 1.5, 2]], torch.ones(1, 5, dtype=torch.bool)):
        with pytest.raises(ValueError, match="integers"):
            crf.span_probabilities(em, mask, rows)
    assert crf.span_probabilities(em, mask, []).shape == (0,)


def test_constraints_that_allow_nothing_are_reported():
    nothing_follows = torch.zeros(3, 3, dtype=torch.bool)
    crf = ConditionalRandomField(
        3, (nothing_follows, torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool))
    )
    em = torch.randn(2, 3, 3)
    mask = left_mask([1, 3], 3)
    with pytest.raises(ValueError, match="no label sequence of 3 words"):
        crf.marginals(em, mask)
    one_word = crf.marginals(em[:1, :1], mask[:1, :1])  # one word needs no transition
    start, end = crf.start_transitions.detach(), crf.end_transitions.detach()
    expected = (em[0, 0] + start + end).double().softmax(-1)
    torch.testing.assert_close(one_word[0, 0], expected, atol=1e-6, rtol=0)


def test_benchmark_reports_every_ratio():
    """The benchmark's code path (one repeat, one batch); says nothing about speed."""
    from benchmarks import bench_crf_marginals

    result = bench_crf_marginals.run(repeats=1, batch_count=1)
    for threads in (1, 2):
        timings = result[f"threads_{threads}"]
        assert set(timings["ms"]) == {
            "viterbi",
            "marginals",
            "span_probabilities",
            "marginals_and_spans",
            "loss_forward_backward",
        }
        assert timings["over_viterbi"]["viterbi"] == 1.0
    assert result["target_met"] == (result["marginals_over_viterbi"] <= 2.0)
    assert result["viterbi_entities_per_batch"] > 0


def test_small_batches_run_on_one_thread_and_the_thread_count_comes_back(monkeypatch):
    crf = make_crf(5, True, seed=16)
    em = torch.randn(4, 6, 5)
    mask = left_mask([6, 3, 5, 1], 6)
    seen = []
    real_mm = torch.mm

    def spying_mm(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_mm(*args, **kwargs)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(torch, "mm", spying_mm)
        crf.marginals(em, mask)
        monkeypatch.undo()
        assert seen and set(seen) == {1}  # every product of the recursions on one thread
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
