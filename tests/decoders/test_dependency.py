"""``dependency``: biaffine arcs and relations, trees from Chu-Liu-Edmonds, LAS/UAS."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.nn import functional

from machamp_lite.data.readers import ColumnReader, ConlluReader
from machamp_lite.data.sentence import TaskColumn
from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.data.writers import write_in_place
from machamp_lite.decoders.dependency import BiaffineDependencyParser
from machamp_lite.metrics.attachment import AttachmentScore
from machamp_lite.modules.mst import is_tree, maximum_spanning_tree, tree_score
from machamp_lite.registry import decoders, load_plugins, metrics
from machamp_lite.testing import random_word_batch as batch

RELATIONS = LabelVocabulary(["det", "nsubj", "obj", "punct", "root"])
CODEC = BiaffineDependencyParser.codec


def brute_force(scores: np.ndarray, single_root: bool) -> float:
    n = scores.shape[0] - 1
    best = -np.inf
    for heads in itertools.product(range(n + 1), repeat=n):
        heads = list(heads)
        if all(h != d for d, h in enumerate(heads, start=1)) and is_tree(heads, single_root):
            best = max(best, tree_score(scores, heads))
    return best


@pytest.mark.parametrize("single_root", [True, False])
def test_mst_equals_brute_force_over_all_head_assignments(single_root):
    rng = np.random.default_rng(7)
    for trial in range(150):
        n = 1 + trial % 4
        scores = rng.normal(size=(n + 1, n + 1)) * (10.0 if trial % 5 == 0 else 1.0)
        if trial % 3 == 0:
            scores = np.round(scores)  # ties
        heads = maximum_spanning_tree(scores, single_root=single_root)
        assert len(heads) == n
        assert is_tree(heads, single_root=single_root)
        assert tree_score(scores, heads) == pytest.approx(brute_force(scores, single_root))


def test_mst_finds_a_non_projective_tree_and_breaks_cycles():
    # Greedy heads form the cycle 1 <-> 2; the best tree enters it from the root.
    scores = np.full((4, 4), -5.0)
    scores[2, 1] = scores[1, 2] = 10.0
    scores[0, 1] = 1.0
    scores[0, 2] = 0.0
    scores[1, 3] = 3.0
    assert maximum_spanning_tree(scores) == [0, 1, 1]
    # Crossing arcs 1 -> 3 and 2 -> 4 are allowed (UD trees may be non-projective).
    scores = np.full((5, 5), -5.0)
    scores[0, 1], scores[1, 3], scores[1, 2], scores[2, 4] = 5.0, 5.0, 5.0, 5.0
    assert maximum_spanning_tree(scores) == [0, 1, 1, 2]


def test_registered_with_las_and_reads_head_and_deprel():
    load_plugins()
    assert decoders.get("dependency") is BiaffineDependencyParser
    assert metrics.get(BiaffineDependencyParser.default_metric) is AttachmentScore
    assert CODEC.label_width == 2
    assert CODEC.vocabulary_items(["2\tdet", "0\troot"]) == ["det", "root"]


@pytest.mark.parametrize(
    "label, problem",
    [("2\tdet", None), ("0\troot", None), ("_\tdet", "word number"), ("x", "head and a relation")],
)
def test_label_check(label, problem):
    result = CODEC.validate(label)
    assert result is None if problem is None else problem in result


def test_gold_tensor_holds_heads_and_relation_indices():
    gold = CODEC.to_tensor(RELATIONS, [["2\tdet", "0\troot", "9\tobj"], ["0\tnew"]], 4)
    assert gold.shape == (2, 4, 2)
    assert gold[0, :, 0].tolist() == [2, 0, -100, -100]  # head 9 is outside the sentence
    assert gold[0, :, 1].tolist() == [0, 4, 2, -100]
    assert gold[1, :, 1].tolist() == [-100, -100, -100, -100]  # unseen relation


def test_loss_is_arc_plus_relation_cross_entropy_summed_over_words():
    decoder = BiaffineDependencyParser(8, RELATIONS, arc_dim=6, relation_dim=4).eval()
    vectors, mask = batch([3, 2])
    gold = CODEC.to_tensor(RELATIONS, [["2\tnsubj", "0\troot"]], 2)
    one = decoder.loss(vectors[1:, :2], mask[1:, :2], gold)
    # By hand: arc log-softmax over root + 2 words, relation at the gold head.
    arcs = decoder._arc_scores(vectors[1:, :2], mask[1:, :2])[0]
    assert torch.isinf(arcs[0, 1]) and torch.isinf(arcs[1, 2])  # no self-loops
    relations = decoder._relation_scores(vectors[1:, :2], torch.tensor([[2, 0]]))[0]
    expected = functional.cross_entropy(
        arcs, torch.tensor([2, 0]), reduction="sum"
    ) + functional.cross_entropy(relations, torch.tensor([1, 4]), reduction="sum")
    assert torch.allclose(one, expected, atol=1e-5)
    one.backward()
    assert decoder.root.grad is not None and decoder.arc_weight.grad.abs().sum() > 0


def test_decode_gives_one_tree_per_sentence():
    decoder = BiaffineDependencyParser(8, RELATIONS, arc_dim=6, relation_dim=4).eval()
    vectors, mask = batch([5, 1, 3], seed=3)
    with torch.no_grad():
        decoder.arc_weight.normal_(0, 3)
    for sentence in decoder.decode(vectors, mask):
        heads = [int(label.split("\t")[0]) for label in sentence]
        assert is_tree(heads, single_root=True)
        assert all(label.split("\t")[1] in RELATIONS for label in sentence)


def test_trained_on_one_sentence_it_recovers_the_tree():
    torch.manual_seed(0)
    decoder = BiaffineDependencyParser(8, RELATIONS, arc_dim=16, relation_dim=8)
    vectors, mask = batch([4], seed=1)
    labels = [["2\tdet", "3\tnsubj", "0\troot", "3\tpunct"]]
    gold = CODEC.to_tensor(RELATIONS, labels, 4)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=0.05)
    for _ in range(25):
        optimizer.zero_grad()
        decoder.loss(vectors, mask, gold).backward()
        optimizer.step()
    assert decoder.eval().decode(vectors, mask) == labels


def test_attachment_scores_by_hand():
    metric = AttachmentScore()
    gold = [["2\tdet", "3\tnsubj", "0\troot", "3\tpunct"], ["0\troot"]]
    predicted = [["2\tdet", "3\tobj", "0\troot", "1\tpunct"], ["0\troot"]]
    metric.update(gold, predicted)
    result = metric.compute()
    assert result["uas"] == pytest.approx(4 / 5)  # punctuation counts
    assert result["las"] == result["score"] == pytest.approx(3 / 5)
    assert result["total"] == 5


CONLLU = (
    "# sent_id = a\n"
    "# text = It cannot bark.\n"
    "1\tIt\tit\tPRON\tPRP\tCase=Nom|Number=Sing\t3\tnsubj\t_\t_\n"
    "2-3\tcannot\t_\t_\t_\t_\t_\t_\t_\t_\n"
    "2\tcan\tcan\tAUX\tMD\tVerbForm=Fin\t4\taux\t_\t_\n"
    "3\tnot\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_\n"
    "4\tbark\tbark\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\tSpaceAfter=No\n"
    "4.1\tbarks\tbark\tVERB\tVBZ\t_\t_\t_\t0:root\t_\n"
    "5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\t_\n"
    "\n"
)


def test_the_reader_joins_head_and_deprel_and_the_writer_splits_them(tmp_path):
    path = tmp_path / "a.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    task = TaskColumn("dep", 6, "token", CODEC.validate, CODEC.label_width)
    [sentence] = ConlluReader().read(str(path), [task])
    assert sentence.words == ["It", "can", "not", "bark", "."]
    assert sentence.labels["dep"] == ["3\tnsubj", "4\taux", "4\tadvmod", "0\troot", "4\tpunct"]
    out = tmp_path / "out.conllu"
    predicted = [["4\tnsubj", "4\taux", "4\tadvmod", "0\troot", "1\tpunct"]]
    write_in_place(str(path), str(out), [sentence], {"dep": predicted}, {"dep": 6}, "tab")
    lines = out.read_text(encoding="utf-8").split("\n")
    source = CONLLU.split("\n")
    assert len(lines) == len(source)
    assert lines[2] == source[2].replace("\t3\tnsubj", "\t4\tnsubj")
    assert lines[8] == source[8].replace("\t4\tpunct", "\t1\tpunct")
    assert lines[3] == source[3] and lines[7] == source[7]  # multiword token, empty node
    assert all(len(line.split("\t")) == 10 for line in lines if line[:1].isdigit())


def test_a_column_file_reads_the_two_label_columns_starting_at_column_idx(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text("dogs\tx\t2\tnsubj\nbark\tx\t0\troot\n\n", encoding="utf-8")
    task = TaskColumn("dep", -2, "token", CODEC.validate, CODEC.label_width)
    [sentence] = ColumnReader(separator="tab").read(str(path), [task])
    assert sentence.labels["dep"] == ["2\tnsubj", "0\troot"]
