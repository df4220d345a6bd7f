"""Maximum spanning trees over dependency arc scores (Chu-Liu-Edmonds).

Chu-Liu-Edmonds rather than Eisner because UD trees may be non-projective: it finds the best
tree among all of them in O(n^3) with this dense implementation, which is fast enough for
sentences of a few hundred words.

Node 0 is the artificial root; ``scores[h, d]`` is the score of the arc from head ``h`` to
dependent ``d``. With ``single_root`` (the default, as UD requires) the root gets exactly one
child: every arc leaving the root is lowered by a constant larger than any difference between
two trees' scores, so the best tree has as few root children as possible (one), and among the
trees with one root child the constant changes nothing, so the best of them wins.
"""

from __future__ import annotations

import numpy as np


def maximum_spanning_tree(scores, single_root: bool = True) -> list[int]:
    """The head of each word 1..n in the highest-scoring tree rooted at node 0.

    ``scores`` is an (n+1) x (n+1) array (or tensor) indexed ``[head, dependent]``; arcs into
    the root and self-loops are ignored, ``-inf`` marks any other forbidden arc (a tree of
    finite arcs must exist: arcs from the root should be finite). Returns ``heads`` with
    ``heads[d - 1]`` the head of word ``d``.
    """
    matrix = np.array(scores, dtype=np.float64, copy=True)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"expected a square score matrix, got shape {matrix.shape}")
    size = matrix.shape[0]
    if size <= 1:
        return []
    np.fill_diagonal(matrix, -np.inf)
    matrix[:, 0] = -np.inf
    if single_root and size > 2:
        finite = matrix[np.isfinite(matrix)]
        spread = float(finite.max() - finite.min()) if finite.size else 0.0
        matrix[0, 1:] -= (size - 1) * spread + 1.0
    parents = _chu_liu_edmonds(matrix)
    return [int(p) for p in parents[1:]]


def tree_score(scores, heads: list[int]) -> float:
    """The summed score of the arcs ``heads[d - 1] -> d``."""
    matrix = np.asarray(scores, dtype=np.float64)
    return float(sum(matrix[h, d] for d, h in enumerate(heads, start=1)))


def is_tree(heads: list[int], single_root: bool = False) -> bool:
    """True when ``heads`` (head of word d at ``d - 1``, 0 = root) forms a tree over 0..n."""
    n = len(heads)
    if any(not 0 <= h <= n for h in heads):
        return False
    if single_root and sum(h == 0 for h in heads) != 1:
        return False
    for start in range(1, n + 1):
        node, steps = start, 0
        while node != 0:
            node = heads[node - 1]
            steps += 1
            if steps > n:
                return False
    return True


def _chu_liu_edmonds(matrix: np.ndarray) -> np.ndarray:
    """Parents (``-1`` for the root) of the maximum spanning arborescence rooted at node 0.

    Each node takes its best incoming arc; a cycle among those choices is contracted into one
    node whose incoming arcs are scored by how much they gain over the cycle arc they break,
    the smaller graph is solved recursively, and the cycle is opened where the chosen arc
    enters it.
    """
    size = matrix.shape[0]
    parents = matrix.argmax(axis=0)
    parents[0] = -1
    cycle = _find_cycle(parents)
    if cycle is None:
        return parents
    members = np.array(cycle)
    inside = np.zeros(size, dtype=bool)
    inside[members] = True
    outside = np.flatnonzero(~inside)  # sorted, so the root stays node 0
    k = len(outside)
    contracted = np.full((k + 1, k + 1), -np.inf)
    contracted[:k, :k] = matrix[np.ix_(outside, outside)]
    # Entering the cycle at d replaces the cycle arc into d.
    gain = matrix[np.ix_(outside, members)] - matrix[parents[members], members]
    entry = gain.argmax(axis=1)
    contracted[:k, k] = gain[np.arange(k), entry]
    # Leaving the cycle towards d: from whichever cycle node scores best.
    leaving = matrix[np.ix_(members, outside)]
    exit_from = leaving.argmax(axis=0)
    contracted[k, :k] = leaving[exit_from, np.arange(k)]
    contracted[:, 0] = -np.inf
    sub = _chu_liu_edmonds(contracted)
    result = parents.copy()
    for j in range(1, k):
        head = sub[j]
        result[outside[j]] = members[exit_from[j]] if head == k else outside[head]
    head = sub[k]
    result[members[entry[head]]] = outside[head]
    result[0] = -1
    return result


def _find_cycle(parents: np.ndarray) -> list[int] | None:
    """The nodes of one cycle in a parent array (root 0 has parent -1), or None."""
    state = np.zeros(len(parents), dtype=np.int8)  # 0 new, 1 on the current walk, 2 done
    for start in range(1, len(parents)):
        walk = []
        node = start
        while node != 0 and state[node] == 0:
            state[node] = 1
            walk.append(node)
            node = int(parents[node])
        if node != 0 and state[node] == 1:
            return walk[walk.index(node) :]
        for visited in walk:
            state[visited] = 2
    return None
