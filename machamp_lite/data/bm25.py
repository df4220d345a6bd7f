"""Okapi BM25 over a corpus of passages, in numpy alone, for built-in context retrieval
(issue 18): the option beside embedding retrieval that needs no model and builds in seconds.

Terms are the lower-cased word-character runs of a passage, and each CJK character is a term
of its own, since Chinese and Japanese text has no spaces to split on. The index holds, per term,
the passages it occurs in and its BM25 weight there (k1 = 1.2, b = 0.75, the usual values), so a
query's scores are one weighted ``bincount`` over the postings of its distinct terms.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_TERM = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+", re.UNICODE)


def terms(text: str) -> list[str]:
    """The BM25 terms of a text: lower-cased runs of letters and digits; CJK one by one."""
    return _TERM.findall(text.lower())


class BM25Index:
    """Postings of every term with their BM25 weights; ``scores`` ranks the whole corpus."""

    def __init__(self, passages: Sequence[str], k1: float = 1.2, b: float = 0.75):
        vocabulary: dict[str, int] = {}
        term_ids: list[int] = []
        doc_ids: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(len(passages), dtype=np.float64)
        for doc, passage in enumerate(passages):
            found = terms(passage)
            lengths[doc] = len(found)
            for term, count in Counter(found).items():
                term_ids.append(vocabulary.setdefault(term, len(vocabulary)))
                doc_ids.append(doc)
                counts.append(count)
        self.vocabulary = vocabulary
        self.size = len(passages)
        term_array = np.asarray(term_ids, dtype=np.int64)
        docs = np.asarray(doc_ids, dtype=np.int64)
        tf = np.asarray(counts, dtype=np.float64)
        frequency = np.bincount(term_array, minlength=len(vocabulary)).astype(np.float64)
        idf = np.log1p((self.size - frequency + 0.5) / (frequency + 0.5))
        average = lengths.mean() if self.size and lengths.mean() > 0 else 1.0
        norm = k1 * (1 - b + b * lengths[docs] / average)
        weights = idf[term_array] * tf * (k1 + 1) / (tf + norm)
        order = np.argsort(term_array, kind="stable")
        self._docs = docs[order]
        self._weights = weights[order]
        self._starts = np.concatenate([[0], np.cumsum(frequency.astype(np.int64))])

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every passage for ``query`` (each distinct term counted once)."""
        ids = sorted({self.vocabulary[t] for t in terms(query) if t in self.vocabulary})
        if not ids:
            return np.zeros(self.size)
        spans = [np.arange(self._starts[i], self._starts[i + 1]) for i in ids]
        picked = np.concatenate(spans)
        return np.bincount(self._docs[picked], weights=self._weights[picked], minlength=self.size)
