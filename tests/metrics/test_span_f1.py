"""Tests for the span scorer: conlleval's chunk rules case by case, exact scores on a small corpus,
errors, and properties over random tag sequences."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from machamp_lite.errors import DataError
from machamp_lite.metrics.span_f1 import (
    InvalidTagError,
    SpanCounts,
    SpanF1,
    extract_chunks,
    span_f1,
)
from machamp_lite.registry import metrics

PROPERTY = settings(max_examples=100, deadline=None)


def counts_of(gold, predicted, scheme="iob"):
    counts = SpanCounts()
    for g, p in zip(gold, predicted):
        counts.add_sentence(g, p, scheme)
    return counts.result()["counts"]


# --- IOB chunking rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, expected",
    [
        # I-X after O: (O, I) is a chunk start; O after I ends it -> one PER chunk over 1..2.
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 3)]),
        # I-LOC after B-PER: types differ, so PER ends and LOC starts (type-change rule).
        (["B-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
        # I-LOC after I-PER: same type-change rule; the second I-LOC continues LOC.
        (["I-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
        # B-PER after I-PER: (I, B) ends the chunk and starts a new one, even with equal types.
        (["B-PER", "I-PER", "B-PER"], [("PER", 0, 2), ("PER", 2, 3)]),
        # O ends a chunk; the I-LOC after it starts a new chunk rather than continuing.
        (["B-LOC", "O", "I-LOC"], [("LOC", 0, 1), ("LOC", 2, 3)]),
        # IOB1 (CoNLL-2003): I- everywhere, B- only between adjacent same-type chunks. I-PER at
        # the start opens PER, B-PER splits it, O ends it, I-LOC after O opens LOC.
        (
            ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
            [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)],
        ),
        # Span-initial I- at the sentence start: the sentence start counts as O, so (O, I) starts.
        (["I-ORG", "I-ORG"], [("ORG", 0, 2)]),
        # A chunk still open at the sentence end ends there (the boundary counts as O).
        (["O", "B-PER", "I-PER"], [("PER", 1, 3)]),
        # Types may contain '-': split on the first '-' only; 'LOC-deriv' != 'LOC' changes type.
        (
            ["B-LOC-deriv", "I-LOC-deriv", "I-LOC"],
            [("LOC-deriv", 0, 2), ("LOC", 2, 3)],
        ),
        # '.' is exempt from the type-change test in conlleval, i.e. it is outside like O.
        (["B-PER", ".", "I-PER"], [("PER", 0, 1), ("PER", 2, 3)]),
        ([], []),
        (["O", "O"], []),
    ],
)
def test_iob_rules(tags, expected):
    assert extract_chunks(tags) == expected
    assert extract_chunks(tags, "iob2") == expected


def test_chunks_do_not_continue_across_sentences():
    # Each sentence starts as if after O: the I-PER of the second sentence opens its own chunk.
    result = span_f1([["O", "B-PER"], ["I-PER"]], [["O", "B-PER"], ["I-PER"]])
    assert result["counts"]["gold"] == 2
    assert result["counts"]["correct"] == 2


def test_boundary_mismatch_is_false_positive_and_false_negative():
    # Gold PER spans 0..1; predicted PER spans only 0. Same type and start, different end: the
    # predicted chunk is a false positive and the gold chunk a false negative -> 0 correct.
    assert counts_of([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]) == {
        "gold": 1,
        "predicted": 1,
        "correct": 0,
        "tokens": 3,
        "correct_tokens": 2,
    }
    # Shifted start (O B-PER I-PER vs B-PER I-PER O): again 1 gold, 1 predicted, 0 correct.
    result = span_f1([["O", "B-PER", "I-PER"]], [["B-PER", "I-PER", "O"]])
    assert result["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # Right span, wrong type: not correct either.
    assert counts_of([["B-PER"]], [["B-LOC"]])["correct"] == 0


def test_iob1_and_iob2_spellings_score_as_equal():
    # CoNLL-2003 IOB1 gold vs the same chunks predicted in IOB2: tags differ (accuracy < 1) but
    # every chunk matches.
    gold = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"]]
    predicted = [["B-PER", "I-PER", "B-PER", "O", "B-LOC"]]
    result = span_f1(gold, predicted)
    assert result["score"] == 1.0
    assert result["accuracy"] == pytest.approx(3 / 5)


# --- BIOES / BILOU rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, expected",
    [
        # S- always starts, and the token after S- always starts anew: two one-token chunks.
        (["S-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        # Well-formed B I E: E ends the chunk; O after it starts nothing.
        (["B-PER", "I-PER", "E-PER", "O"], [("PER", 0, 3)]),
        # E- ends its chunk; (E, I) starts a new one which the next E- ends.
        (["B-PER", "E-PER", "I-PER", "E-PER"], [("PER", 0, 2), ("PER", 2, 4)]),
        # Inconsistent: E- at the sentence start is (O, E), a start; (E, E) starts again.
        (["E-PER", "E-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        # Inconsistent: B I without E still forms one chunk ending at the sentence end.
        (["B-PER", "I-PER"], [("PER", 0, 2)]),
        # Inconsistent: I- after S- is (S, I), a start; E- continues it.
        (["S-PER", "I-PER", "E-PER"], [("PER", 0, 1), ("PER", 1, 3)]),
        # (B, S): B's chunk ends and S starts a new one.
        (["B-PER", "S-PER"], [("PER", 0, 1), ("PER", 1, 2)]),
        # Inconsistent: E-LOC after B-PER changes type: PER ends, LOC starts and ends.
        (["B-PER", "E-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
        # (O, E) starts a one-token chunk; B- after E- starts the next.
        (["O", "E-PER", "B-PER"], [("PER", 1, 2), ("PER", 2, 3)]),
        # Inconsistent: I- at the start opens; (I, B) splits; E- closes the B chunk.
        (["I-PER", "B-PER", "E-PER"], [("PER", 0, 1), ("PER", 1, 3)]),
        # Inconsistent: I- after E- of the same type is (E, I), a start, not a continuation.
        (["S-LOC", "B-PER", "E-PER", "I-PER", "O"], [("LOC", 0, 1), ("PER", 1, 3), ("PER", 3, 4)]),
    ],
)
def test_bioes_rules(tags, expected):
    assert extract_chunks(tags, "bioes") == expected
    bilou = [tag.replace("E-", "L-", 1).replace("S-", "U-", 1) for tag in tags]
    assert extract_chunks(bilou, "bilou") == expected


def test_bioes_scoring():
    # Gold: S-PER | B-LOC E-LOC. Predicted: S-PER | S-LOC S-LOC (LOC split in two).
    # gold {PER 0-1, LOC 1-3}; predicted {PER 0-1, LOC 1-2, LOC 2-3}: 1 correct of 2 and 3.
    result = span_f1([["S-PER", "B-LOC", "E-LOC"]], [["S-PER", "S-LOC", "S-LOC"]], "bioes")
    assert result["counts"]["correct"] == 1
    assert result["micro"]["precision"] == pytest.approx(1 / 3)
    assert result["micro"]["recall"] == pytest.approx(1 / 2)


# --- exact numbers ------------------------------------------------------------------------------


def test_exact_scores_on_a_small_corpus():
    gold = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["O", "B-ORG", "I-ORG", "O", "B-PER"],
        ["O", "O", "O"],
    ]
    predicted = [
        ["B-PER", "I-PER", "O", "B-ORG"],
        ["O", "B-ORG", "O", "O", "B-PER"],
        ["B-MISC", "O", "O"],
    ]
    # Sentence 1: gold PER 0-2, LOC 3-4; predicted PER 0-2, ORG 3-4 -> PER correct. Tokens 3/4.
    # Sentence 2: gold ORG 1-3, PER 4-5; predicted ORG 1-2, PER 4-5 -> PER correct. Tokens 4/5.
    # Sentence 3: no gold; predicted MISC 0-1 (false positive). Tokens 2/3.
    # Gold: PER 2, LOC 1, ORG 1 = 4. Predicted: PER 2, ORG 2, MISC 1 = 5. Correct: PER 2.
    # Micro: P 2/5, R 2/4, F1 2*2/(4+5) = 4/9. Per type: PER 1/1/1; LOC, ORG, MISC all 0.
    # Macro over the 4 types in gold or prediction: 1/4 each. Accuracy 9/12.
    result = span_f1(gold, predicted)
    assert result["micro"] == pytest.approx({"precision": 0.4, "recall": 0.5, "f1": 4 / 9})
    assert result["macro"] == pytest.approx({"precision": 0.25, "recall": 0.25, "f1": 0.25})
    assert result["score"] == pytest.approx(4 / 9)
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["counts"] == {
        "gold": 4,
        "predicted": 5,
        "correct": 2,
        "tokens": 12,
        "correct_tokens": 9,
    }
    assert list(result["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
    assert result["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert result["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert result["per_type"]["ORG"]["support"] == 1
    assert result["per_type"]["MISC"]["support"] == 0
    assert json.loads(json.dumps(result)) == result


def test_macro_f1_is_mean_of_per_type_f1():
    # A: gold 0-1 and 2-3, predicted 0-1 -> P 1, R 1/2, F1 2/3.
    # B: gold 4-5, predicted 4-5 and 6-7 -> P 1/2, R 1, F1 2/3.
    # Macro P = R = 3/4, but macro F1 = mean(2/3, 2/3) = 2/3, not F1(3/4, 3/4) = 3/4.
    gold = [["B-A", "O", "B-A", "O", "B-B", "O", "O"]]
    predicted = [["B-A", "O", "O", "O", "B-B", "O", "B-B"]]
    macro = span_f1(gold, predicted)["macro"]
    assert macro["precision"] == pytest.approx(0.75)
    assert macro["recall"] == pytest.approx(0.75)
    assert macro["f1"] == pytest.approx(2 / 3)


def test_empty_input_divides_by_zero_as_zero():
    result = span_f1([], [])
    assert result["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert result["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert result["accuracy"] == 0.0
    assert result["per_type"] == {}
    # Only outside tags: no chunks, perfect accuracy, F1 0 as in conlleval.
    result = span_f1([["O", "O"]], [["O", "O"]])
    assert result["score"] == 0.0
    assert result["accuracy"] == 1.0


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["PER", "B-", "Z-PER", "E-PER", "O-PER", "", "-PER"])
def test_invalid_tags_report_sentence_and_token(bad):
    gold = [["O", "B-PER"], ["O", "O", bad]]
    predicted = [["O", "B-PER"], ["O", "O", "O"]]
    with pytest.raises(InvalidTagError) as caught:
        span_f1(gold, predicted)
    error = caught.value
    assert (error.sentence_index, error.token_index, error.tag) == (1, 2, bad)
    assert "sentence 1, token 2" in str(error)
    assert isinstance(error, ValueError) and isinstance(error, DataError)


def test_invalid_tag_in_prediction_and_in_direct_extraction():
    with pytest.raises(InvalidTagError) as caught:
        span_f1([["O"]], [["PER"]])
    assert (caught.value.sentence_index, caught.value.token_index) == (0, 0)
    with pytest.raises(InvalidTagError) as caught:
        extract_chunks(["O", "B-PER", "B-"])
    assert (caught.value.sentence_index, caught.value.token_index) == (None, 2)
    # Prefixes belong to a scheme: L-/U- only under bilou, E-/S- only under bioes.
    with pytest.raises(InvalidTagError):
        extract_chunks(["L-PER"], "bioes")
    with pytest.raises(InvalidTagError):
        extract_chunks(["S-PER"], "bilou")


def test_invalid_tag_error_survives_pickling():
    error = InvalidTagError("B-", 3, 7, "iob")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.tag, copy.token_index, copy.sentence_index, str(copy)) == (
        "B-",
        3,
        7,
        str(error),
    )


def test_length_mismatches_raise_value_error():
    with pytest.raises(ValueError, match="3 gold tags but 2 predicted"):
        SpanCounts().add_sentence(["O", "O", "O"], ["O", "O"])
    with pytest.raises(ValueError, match="sentences"):
        span_f1([["O"]], [])
    with pytest.raises(ValueError, match="scheme"):
        extract_chunks(["O"], "ioe")


# --- the registered metric ----------------------------------------------------------------------


def test_registered_metric_accumulates_batches():
    assert "span_f1" in metrics
    gold = [["B-PER", "I-PER"], ["O", "B-LOC"], ["B-ORG"]]
    predicted = [["B-PER", "O"], ["O", "B-LOC"], ["B-ORG"]]
    metric = SpanF1()
    metric.update(gold[:2], predicted[:2])
    metric.update(gold[2:], predicted[2:])
    assert metric.compute() == span_f1(gold, predicted)
    metric.reset()
    assert metric.compute()["counts"]["tokens"] == 0
    with pytest.raises(ValueError):
        SpanF1(scheme="nonsense")
    bioes = SpanF1(scheme="bioes")
    bioes.update([["S-PER"]], [["S-PER"]])
    assert bioes.compute()["score"] == 1.0


# --- properties ---------------------------------------------------------------------------------

TYPES = ["PER", "LOC", "ORG-x"]
IOB_TAGS = ["O"] + [f"{p}-{t}" for p in "BI" for t in TYPES]
BIOES_TAGS = ["O", "."] + [f"{p}-{t}" for p in "BIES" for t in TYPES]

iob_sentence = st.lists(st.sampled_from(IOB_TAGS), max_size=12)
bioes_sentence = st.lists(st.sampled_from(BIOES_TAGS), max_size=12)
# A sentence as segments: None is one O token, (type, n) a chunk of n tokens.
segments = st.lists(
    st.one_of(st.none(), st.tuples(st.sampled_from(TYPES), st.integers(1, 4))), max_size=8
)


@st.composite
def sentence_pairs(draw, tags=IOB_TAGS):
    pairs = draw(st.lists(st.tuples(st.sampled_from(tags), st.sampled_from(tags)), max_size=10))
    return [g for g, _ in pairs], [p for _, p in pairs]


corpora = st.lists(sentence_pairs(), max_size=6)


def render(parts, scheme):
    """Tags and expected chunks for a list of segments."""
    tags, chunks = [], []
    for part in parts:
        if part is None:
            tags.append("O")
            continue
        chunk_type, n = part
        chunks.append((chunk_type, len(tags), len(tags) + n))
        if scheme == "iob2":
            tags += [f"B-{chunk_type}"] + [f"I-{chunk_type}"] * (n - 1)
        elif n == 1:
            tags.append(f"S-{chunk_type}")
        else:
            tags += [f"B-{chunk_type}"] + [f"I-{chunk_type}"] * (n - 2) + [f"E-{chunk_type}"]
    return tags, chunks


def iob2_to_iob1(tags):
    """B-X stays B-X only right after a token of the same type X; otherwise it becomes I-X."""
    out = []
    previous_type = None
    for tag in tags:
        if tag == "O":
            out.append(tag)
            previous_type = None
            continue
        prefix, chunk_type = tag.split("-", 1)
        if prefix == "B" and previous_type != chunk_type:
            tag = "I-" + chunk_type
        out.append(tag)
        previous_type = chunk_type
    return out


# A from-the-rules reference: conlleval's startOfChunk/endOfChunk (with the S/E extension) as
# literal rule tables, and its streaming correct-chunk count, to compare with the fast code.
END_PAIRS = {("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")}
START_PAIRS = {("E", "E"), ("E", "I"), ("S", "E"), ("S", "I"), ("O", "E"), ("O", "I")}


def split(tag):
    return (tag, "") if tag in ("O", ".") else tuple(tag.split("-", 1))


def ends(prev, tag, prev_type, type_):
    return (
        prev in ("E", "S")
        or (prev, tag) in END_PAIRS
        or (prev not in ("O", ".") and prev_type != type_)
    )


def starts(prev, tag, prev_type, type_):
    return (
        tag in ("B", "S")
        or (prev, tag) in START_PAIRS
        or (tag not in ("O", ".") and prev_type != type_)
    )


def reference_chunks(tags):
    chunks, start, prev, prev_type = [], None, "O", ""
    for i, (tag, type_) in enumerate([split(t) for t in tags] + [("O", "")]):
        if start is not None and ends(prev, tag, prev_type, type_):
            chunks.append((prev_type, start, i))
            start = None
        if starts(prev, tag, prev_type, type_):
            start = i
        prev, prev_type = tag, type_
    return chunks


def reference_correct(gold, predicted):
    correct, inside = 0, False
    pg, pgt, pp, ppt = "O", "", "O", ""
    for (g, gt), (p, pt) in zip(
        [split(t) for t in gold] + [("O", "")], [split(t) for t in predicted] + [("O", "")]
    ):
        if inside:
            gold_end, pred_end = ends(pg, g, pgt, gt), ends(pp, p, ppt, pt)
            if gold_end and pred_end and pgt == ppt:
                correct += 1
                inside = False
            elif gold_end != pred_end or gt != pt:
                inside = False
        if starts(pg, g, pgt, gt) and starts(pp, p, ppt, pt) and gt == pt:
            inside = True
        pg, pgt, pp, ppt = g, gt, p, pt
    return correct


@PROPERTY
@given(iob_sentence)
def test_prediction_equal_to_gold_is_perfect(tags):
    result = span_f1([tags], [list(tags)])
    if tags:
        assert result["accuracy"] == 1.0
    if result["counts"]["gold"]:
        assert result["score"] == 1.0
        assert result["macro"]["f1"] == 1.0


@PROPERTY
@given(corpora, corpora)
def test_counts_add_up_over_files(first, second):
    def counts(corpus):
        c = SpanCounts()
        for g, p in corpus:
            c.add_sentence(g, p)
        return c

    a, b, both = counts(first), counts(second), counts(first + second)
    assert a + b == both
    assert counts(first).merge(b) == both
    assert (a + b).result() == both.result()


@PROPERTY
@given(segments, segments)
def test_iob1_and_iob2_give_identical_chunks_and_scores(gold_parts, predicted_parts):
    gold, gold_chunks = render(gold_parts, "iob2")
    predicted, predicted_chunks = render(predicted_parts, "iob2")
    n = min(len(gold), len(predicted))
    gold, predicted = gold[:n], predicted[:n]
    gold1, predicted1 = iob2_to_iob1(gold), iob2_to_iob1(predicted)
    assert extract_chunks(gold1) == extract_chunks(gold)
    assert extract_chunks(predicted1) == extract_chunks(predicted)
    two, one = span_f1([gold], [predicted]), span_f1([gold1], [predicted1])
    # Token accuracy compares tag strings, which the conversion changes; every span score agrees.
    for result in (one, two):
        del result["accuracy"], result["counts"]["correct_tokens"]
    assert one == two


@PROPERTY
@given(segments)
def test_well_formed_encodings_give_their_chunks(parts):
    tags, expected = render(parts, "iob2")
    assert extract_chunks(tags) == expected
    assert extract_chunks(iob2_to_iob1(tags), "iob1") == expected
    tags, expected = render(parts, "bioes")
    assert extract_chunks(tags, "bioes") == expected


@PROPERTY
@given(
    st.one_of(iob_sentence.map(lambda t: (t, "iob")), bioes_sentence.map(lambda t: (t, "bioes")))
)
def test_chunks_are_sorted_disjoint_in_bounds_and_cover_every_inside_token(case):
    tags, scheme = case
    chunks = extract_chunks(tags, scheme)
    end = 0
    covered = set()
    for chunk_type, start, stop in chunks:
        assert end <= start < stop <= len(tags)
        end = stop
        for i in range(start, stop):
            assert tags[i].split("-", 1)[1] == chunk_type
            covered.add(i)
    assert covered == {i for i, tag in enumerate(tags) if tag not in ("O", ".")}
    assert chunks == reference_chunks(tags)


@PROPERTY
@given(sentence_pairs(BIOES_TAGS))
def test_correct_count_matches_conllevals_streaming_count(pair):
    gold, predicted = pair
    counts = SpanCounts()
    counts.add_sentence(gold, predicted, "bioes")
    assert counts.result()["counts"]["correct"] == reference_correct(gold, predicted)
