"""Scoring a predicted CoNLL-U file against a gold one as the CoNLL 2018 shared task's scorer
(``conll18_ud_eval.py``) scores it: Tokens, Sentences, Words, UPOS, XPOS, UFeats, AllTags,
Lemmas, UAS, LAS and CLAS, each as precision, recall and F1 over words aligned by their
characters, so that a prediction from a tokeniser is scored against gold words it may have
split or merged differently. Two more, which users asked for, follow the same counts: ``Feats``
(every feature, language-specific ones too) and ``LAS-full`` (relations with their subtypes).

The definitions, as the scorer has them:

- The text of a file is its tokens' FORMs with space characters (Unicode category Zs) removed,
  concatenated; gold and prediction must have the same text. Words and tokens are character
  spans of it. A multiword token (``2-3 can't``) is one token; its words (``ca``, ``n't``) are
  words but add no characters, each spanning the whole token. Empty nodes (``5.1``) are left out.
- Tokens (and sentences) are correct when their span is a gold one. Words outside multiword
  tokens align when their spans are equal; inside a stretch of text covered by multiword tokens
  they align by the longest common subsequence of their lower-cased forms.
- For an attribute, P = correct / predicted words, R = correct / gold words, F1 =
  2 correct / (gold + predicted), where a word is correct when it is aligned and the attribute
  agrees; ``aligned_accuracy`` is correct / aligned words. With the same tokenisation on both
  sides every word aligns and F1 equals accuracy.
- UFeats compares the universal features only (order does not matter); AllTags is UPOS, XPOS
  and UFeats together. Lemmas: a gold lemma ``_`` accepts any predicted lemma. UAS: the
  predicted head is the word aligned to the gold head (or both are the root). LAS adds the
  relation without its subtype (``nmod:poss`` is ``nmod``); CLAS is LAS over the words whose
  gold (for P: predicted) relation is a content relation.

Unlike the scorer, a cycle or a second root in a prediction is scored as it is rather than
refused: the heads are compared word by word either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data.text import gc_paused
from .errors import DataError
from .evaluation_ud_files import ROOT, Treebank, Word
from .evaluation_ud_files import read_treebank as read_treebank

_UNALIGNED = -2  # the head of a predicted word whose head word has no aligned gold word

# The scorer's list of the relations that CLAS counts.
CONTENT_RELATIONS = frozenset(
    "nsubj obj iobj csubj ccomp xcomp obl vocative expl dislocated advcl advmod discourse nmod "
    "appos nummod acl amod conj fixed flat compound list parataxis orphan goeswith reparandum "
    "root dep".split()
)
# The metrics in the scorer's order, then the two it lacks.
METRICS = (
    "Tokens", "Sentences", "Words", "UPOS", "XPOS", "UFeats", "AllTags", "Lemmas", "UAS", "LAS",
    "CLAS", "Feats", "LAS-full",
)  # fmt: skip
MAIN_METRIC = "LAS"

# --- alignment ----------------------------------------------------------------------------------


def _token_at(bank: Treebank, index: int) -> tuple[str, int]:
    """The token (its text, spaces left out) that holds character ``index``, and its line;
    past the end of the text, the end of the file."""
    for (start, end), piece, line in zip(bank.tokens, bank.pieces, bank.token_lines):
        if start <= index < end:
            return piece, line
    return "", bank.token_lines[-1] if bank.token_lines else 1


def _check_same_text(gold: Treebank, pred: Treebank) -> None:
    """Gold and prediction spell the same text; else one error at the first difference."""
    gold_text, pred_text = "".join(gold.pieces), "".join(pred.pieces)
    if gold_text == pred_text:
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(gold_text, pred_text)) if a != b),
        min(len(gold_text), len(pred_text)),
    )
    pred_token, pred_line = _token_at(pred, index)
    gold_token, gold_line = _token_at(gold, index)
    here = f"token {pred_token!r}" if pred_token else "the end of the file"
    there = f"token {gold_token!r}" if gold_token else "the end of the file"
    raise DataError(
        f"the text differs from gold's: {here} here, {there} at line {gold_line} of "
        f"{gold.path} (the texts, spaces left out, part after {index} characters); gold and "
        "prediction must hold the same text, tokenised alike or not",
        pred.path,
        pred_line,
    )


def _multiword_stretch(
    gold: list[Word], pred: list[Word], g: int, p: int
) -> tuple[int, int, int, int]:
    """Where a stretch of text covered by multiword tokens starts and ends in each word list:
    (gold start, pred start, gold end, pred end), the ends one past the stretch's last word."""
    first = gold[g] if gold[g].in_multiword else pred[p]
    end = first.end
    # A plain word of the other side that starts before the multiword token is left unaligned.
    if first is gold[g] and not pred[p].in_multiword and pred[p].start < first.start:
        p += 1
    elif first is pred[p] and not gold[g].in_multiword and gold[g].start < first.start:
        g += 1
    g0, p0 = g, p

    def inside(words: list[Word], i: int) -> bool:
        if i >= len(words):
            return False
        word = words[i]
        return word.start < end if word.in_multiword else word.end <= end

    while inside(gold, g) or inside(pred, p):
        take_gold = g < len(gold) and (p >= len(pred) or gold[g].start <= pred[p].start)
        word = gold[g] if take_gold else pred[p]
        if word.in_multiword:
            end = max(end, word.end)
        if take_gold:
            g += 1
        else:
            p += 1
    return g0, p0, g, p


def _align_by_forms(gold: list[Word], pred: list[Word]) -> list[tuple[int, int]]:
    """Pairs (i, j) of a longest common subsequence of the lower-cased forms, the earliest
    gold word skipped first when several subsequences are as long."""
    a = [w.form.lower() for w in gold]
    b = [w.form.lower() for w in pred]
    n, m = len(a), len(b)
    longest = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            if a[i] == b[j]:
                longest[i][j] = longest[i + 1][j + 1] + 1
            else:
                longest[i][j] = max(longest[i + 1][j], longest[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif longest[i][j] == longest[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def align_words(gold: Treebank, pred: Treebank) -> dict[int, int]:
    """Predicted word index -> gold word index, for the words that align."""
    _check_same_text(gold, pred)
    aligned: dict[int, int] = {}
    gw, pw = gold.words, pred.words
    g = p = 0
    while g < len(gw) and p < len(pw):
        if gw[g].in_multiword or pw[p].in_multiword:
            g0, p0, g, p = _multiword_stretch(gw, pw, g, p)
            for i, j in _align_by_forms(gw[g0:g], pw[p0:p]):
                aligned[p0 + j] = g0 + i
        elif (gw[g].start, gw[g].end) == (pw[p].start, pw[p].end):
            aligned[p] = g
            g, p = g + 1, p + 1
        elif gw[g].start <= pw[p].start:
            g += 1
        else:
            p += 1
    return aligned


# --- scores -------------------------------------------------------------------------------------


@dataclass
class Counts:
    """One metric's counts; additive over files, so several file pairs pool exactly."""

    gold: int = 0
    predicted: int = 0
    correct: int = 0
    aligned: int | None = None

    def add(self, other: Counts) -> None:
        self.gold += other.gold
        self.predicted += other.predicted
        self.correct += other.correct
        if other.aligned is not None:
            self.aligned = (self.aligned or 0) + other.aligned

    def result(self) -> dict[str, Any]:
        total = self.gold + self.predicted
        result: dict[str, Any] = {
            "precision": self.correct / self.predicted if self.predicted else 0.0,
            "recall": self.correct / self.gold if self.gold else 0.0,
            "f1": 2 * self.correct / total if total else 0.0,
        }
        if self.aligned is not None:
            result["aligned_accuracy"] = self.correct / self.aligned if self.aligned else 0.0
        result.update(gold=self.gold, predicted=self.predicted, correct=self.correct)
        if self.aligned is not None:
            result["aligned"] = self.aligned
        return result


def _span_counts(gold: Sequence[tuple[int, int]], pred: Sequence[tuple[int, int]]) -> Counts:
    """Predicted spans that are gold spans (both lists in text order)."""
    gold_spans = set(gold)
    return Counts(len(gold), len(pred), sum(span in gold_spans for span in pred))


# Per aligned word pair, whether each attribute agrees (the syntax ones need heads).
_ATTRIBUTES = ("UPOS", "XPOS", "UFeats", "AllTags", "Lemmas", "Feats")
_SYNTAX = ("UAS", "LAS", "LAS-full")


def count_pair(gold: Treebank, pred: Treebank) -> dict[str, Counts]:
    """Every metric's counts for one file pair (the syntax metrics only when both files have
    a HEAD on every word). A predicted head counts as the gold word aligned to it, so heads
    are compared as gold words."""
    aligned = align_words(gold, pred)
    with_heads = gold.headless_line is None and pred.headless_line is None
    right = dict.fromkeys(_ATTRIBUTES + _SYNTAX + ("CLAS",), 0)
    content_aligned = 0
    with gc_paused():
        for p, g in aligned.items():
            gw, pw = gold.words[g], pred.words[p]
            tags = gw.upos == pw.upos, gw.xpos == pw.xpos, gw.ufeats == pw.ufeats
            right["UPOS"] += tags[0]
            right["XPOS"] += tags[1]
            right["UFeats"] += tags[2]
            right["AllTags"] += all(tags)
            right["Lemmas"] += gw.lemma == "_" or gw.lemma == pw.lemma
            right["Feats"] += gw.feats == pw.feats
            if not with_heads:
                continue
            head = pw.head
            if head is not None and head != ROOT:
                head = aligned.get(head, _UNALIGNED)
            if head == gw.head:
                right["UAS"] += 1
                right["LAS"] += gw.relation == pw.relation
                right["LAS-full"] += gw.deprel == pw.deprel
            if gw.relation in CONTENT_RELATIONS:
                content_aligned += 1
                right["CLAS"] += head == gw.head and gw.relation == pw.relation
    n_gold, n_pred, n_aligned = len(gold.words), len(pred.words), len(aligned)
    counts = {
        "Tokens": _span_counts(gold.tokens, pred.tokens),
        "Sentences": _span_counts(gold.sentences, pred.sentences),
        "Words": Counts(n_gold, n_pred, n_aligned),
    }
    for name in _ATTRIBUTES + (_SYNTAX if with_heads else ()):
        counts[name] = Counts(n_gold, n_pred, right[name], n_aligned)
    if with_heads:
        counts["CLAS"] = Counts(
            sum(w.relation in CONTENT_RELATIONS for w in gold.words),
            sum(w.relation in CONTENT_RELATIONS for w in pred.words),
            right["CLAS"],
            content_aligned,
        )
    return {name: counts[name] for name in METRICS if name in counts}


def _notes(gold: Treebank, pred: Treebank) -> list[str]:
    notes = []
    for bank in (gold, pred):
        if bank.headless_line is not None:
            notes.append(
                f"{bank.path}, line {bank.headless_line}: HEAD is '_', so UAS, LAS, CLAS and "
                "LAS-full are left out"
            )
    return notes


def _row(name: str, gold: str, pred: str, counts: dict[str, Counts], notes: list[str]) -> dict:
    scores = {metric: c.result() for metric, c in counts.items()}
    main = scores.get(MAIN_METRIC, scores["Words"])
    return {
        "name": name,
        "gold": str(Path(gold)),
        "prediction": str(Path(pred)),
        "scores": scores,
        "score": main["f1"],
        "notes": notes,
    }


def evaluate_ud(
    pairs: Sequence[tuple[str, str]],
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    mode: str = "pairs",
) -> dict[str, Any]:
    """The scorer's metrics for each (gold, prediction) pair of CoNLL-U files: one row each
    under ``pairs`` (``scores`` by metric, fractions between 0 and 1; ``score`` is LAS F1, or
    Words F1 without heads), and for several pairs their ``average`` (unweighted mean of each
    F1) and ``pooled`` scores (all files' counts added). One pair's ``scores`` are also at the
    top level. ``mode`` "compare" marks the pairs as one gold file's alternative predictions
    (no average or pooled row)."""
    from .evaluation_languages import short_name, stem, unique_names

    if not pairs:
        raise ValueError("no file pairs to evaluate")
    if names is None:
        if mode == "compare":
            names = unique_names([stem(p) for _, p in pairs], [str(p) for _, p in pairs])
        else:
            names = unique_names(
                [short_name(g) for g, _ in pairs], [f"{short_name(g)}:{stem(p)}" for g, p in pairs]
            )
    rows: list[dict[str, Any]] = []
    pooled: dict[str, Counts] = {}
    banks: dict[str, Treebank] = {}
    for name, (gold_path, pred_path) in zip(names, pairs):
        gold = banks.get(str(gold_path)) or read_treebank(gold_path, encoding)
        banks = {str(gold_path): gold}  # --compare reads its gold file once
        pred = read_treebank(pred_path, encoding, topn=True)
        counts = count_pair(gold, pred)
        rows.append(_row(name, gold_path, pred_path, counts, _notes(gold, pred)))
        for metric, c in counts.items():
            pooled.setdefault(metric, Counts(aligned=None)).add(c)
    report: dict[str, Any] = {"mode": "ud" if mode == "pairs" else "ud_compare", "pairs": rows}
    if len(rows) > 1 and mode == "pairs":
        shared = [m for m in METRICS if all(m in row["scores"] for row in rows)]
        report["average"] = {
            "scores": {
                m: {"f1": sum(row["scores"][m]["f1"] for row in rows) / len(rows)} for m in shared
            },
            "count": len(rows),
        }
        # Metrics that some pair could not score (no heads) are left out of the pooled row too.
        report["pooled"] = {"scores": {m: pooled[m].result() for m in shared}}
    if len(rows) == 1:
        for key in ("scores", "score", "notes", "gold", "prediction"):
            report[key] = rows[0][key]
    return report
