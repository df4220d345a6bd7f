"""The n best label sequences of a CRF (k-best Viterbi) and the n most probable labels of a
softmax, each with its probability: what ``predict --topn`` writes (MaChAmp's ``label=prob``
pairs joined by ``|``), which MaChAmp itself offers for softmax tasks only."""

from __future__ import annotations

import torch
from torch import Tensor

from .crf import ConditionalRandomField

# The beam (scores and back-pointers, T x B x K x n entries) may take at most this much memory:
# a huge n then ends in a clear error instead of a failed allocation.
BEAM_BYTES = 2 * 2**30

# One candidate sequence: its tag ids and its probability p(sequence | x).
Scored = tuple[list[int], float]


def _check_n(n: int) -> int:
    """n must be a positive int: 0 or a negative count has no sensible answer, and a float
    (or bool) would only hide a caller's mistake."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return n


def _forbidden(score: Tensor, allowed: Tensor | None) -> Tensor:
    """float32 scores with -inf for every disallowed move. The CRF itself uses a finite
    penalty, which would let a disallowed sequence into the n best once the allowed ones run
    out; -inf keeps it out, and a beam entry that stays -inf is no sequence at all."""
    score = score.detach().float()
    return score if allowed is None else score.masked_fill(~allowed.bool(), float("-inf"))


def _lengths(crf: ConditionalRandomField, emissions: Tensor, mask: Tensor) -> Tensor:
    """Sentence lengths, after the checks that keep a wrong input from giving a wrong answer:
    shapes, a left-aligned mask and finite emissions where the mask is True."""
    k = crf.num_tags
    if emissions.dim() != 3 or emissions.shape[-1] != k:
        raise ValueError(f"emissions must be [batch, time, {k}], got {tuple(emissions.shape)}")
    batch, steps, _ = emissions.shape
    if tuple(mask.shape) != (batch, steps):
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(batch, steps)}")
    mask = mask.bool()
    lengths = mask.sum(1)
    if not torch.equal(torch.arange(steps, device=mask.device) < lengths.unsqueeze(1), mask):
        raise ValueError("mask must be left-aligned: True for the first n positions of a row")
    if not bool(torch.isfinite(emissions[mask]).all()):
        raise ValueError("emissions hold NaN or infinite values at unmasked positions")
    return lengths


def _beam(em: Tensor, trans: Tensor, start: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Forward pass of k-best Viterbi over time-major emissions em [T, B, K].

    scores[t, b, j, r] is the r-th best score of a path ending in tag j at t (-inf when fewer
    exist); pointers[t, b, j, r] the flat index i * n + r' of that path's entry at t - 1. Each
    step takes the top n of the K * n extensions of every tag, the same sums in the same order
    as viterbi_decode, so n = 1 gives its scores exactly."""
    steps, batch, k = em.shape
    scores = em.new_full((steps, batch, k, n), float("-inf"))
    pointers = torch.zeros(steps, batch, k, n, dtype=torch.long, device=em.device)
    scores[0, :, :, 0] = start + em[0]
    trans_to_from = trans.t().reshape(1, k, k, 1)
    # Preallocated buffers and out= calls: the loop then allocates nothing, which on the CPU
    # is a good part of each step's time at these small sizes.
    candidates = em.new_empty(batch, k, k, n)  # [B, to, from, rank]
    flat = candidates.view(batch, k, k * n)
    for t in range(1, steps):
        torch.add(scores[t - 1].unsqueeze(1), trans_to_from, out=candidates)
        torch.topk(flat, n, dim=-1, out=(scores[t], pointers[t]))
        scores[t].add_(em[t].unsqueeze(-1))
    return scores, pointers


@torch.inference_mode()
def kbest_viterbi(
    crf: ConditionalRandomField, emissions: Tensor, mask: Tensor, n: int
) -> list[list[Scored]]:
    """Per sentence, its n highest-scoring allowed tag sequences, best first, each with its
    probability p(sequence | x) under the CRF (exp of ``crf.log_likelihood``).

    emissions [B, T, K], mask [B, T] left-aligned. A sentence has fewer than n entries when
    fewer allowed sequences exist (none at all when its constraints allow none); a sequence
    that uses a disallowed start, move or end is never returned. An empty sentence has one
    sequence, the empty one, with probability 1. The first entry is viterbi_decode's path
    (ties aside). Memory grows as T * B * K * n. Raises ValueError for n < 1, bad shapes, a
    mask with holes, non-finite emissions at real positions, or a beam over BEAM_BYTES."""
    _check_n(n)
    lengths = _lengths(crf, emissions, mask)
    batch, steps, k = emissions.shape
    if batch == 0:
        return []
    if steps == 0:
        return [[([], 1.0)] for _ in range(batch)]
    # No sentence has more than K^T sequences: a larger n would only cost memory, which the
    # beam takes in proportion to T * B * K * n.
    n = min(n, k**steps)
    needed = steps * batch * k * n * 12  # float32 scores and int64 pointers
    if needed > BEAM_BYTES:
        raise ValueError(
            f"{n} best sequences of a batch of {batch} x {steps} words would take "
            f"{needed / 2**30:.1f} GiB (limit {BEAM_BYTES / 2**30:.0f} GiB): ask for fewer "
            "sequences or decode smaller batches"
        )
    trans = _forbidden(crf.transitions, crf.allowed_transitions)
    start = _forbidden(crf.start_transitions, crf.allowed_start)
    end = _forbidden(crf.end_transitions, crf.allowed_end)
    em = emissions.detach().transpose(0, 1).to(torch.float32)
    scores, pointers = _beam(em, trans, start, n)

    # The n best over every tag and rank at each sentence's last word.
    last = (lengths - 1).clamp(min=0)
    at_last = scores.gather(0, last.view(1, batch, 1, 1).expand(1, batch, k, n)).squeeze(0)
    final, state = (at_last + end.view(1, k, 1)).reshape(batch, k * n).topk(n, dim=-1)

    # Backtrace; past a sentence's end its pointers hand each entry back unchanged.
    identity = torch.arange(k * n, device=em.device).view(1, k, n).expand(batch, k, n)
    valid = (torch.arange(steps, device=em.device).unsqueeze(1) < lengths).view(steps, batch, 1, 1)
    back = torch.where(valid, pointers, identity).reshape(steps, batch, k * n)
    path = [state // n]
    for t in range(steps - 1, 0, -1):
        state = back[t].gather(1, state)
        path.append(state // n)
    path.reverse()
    tags = torch.stack(path, dim=2)  # [B, n, T]
    found = torch.isfinite(final)

    # p = exp(score - log Z). log Z comes once per sentence from the CRF's own likelihood of
    # the best path; the other paths differ from it by an exact float64 score difference.
    exact = _path_scores(crf, emissions, tags, lengths)  # [B, n] float64
    best_tags = tags[:, 0].masked_fill(~mask.bool(), 0)
    has_best = found[:, 0] & (lengths > 0)
    log_p_best = crf.log_likelihood(emissions.detach(), best_tags, mask).double()
    log_p = log_p_best.unsqueeze(1) + exact - exact[:, :1]
    probs = torch.where(found & has_best.unsqueeze(1), log_p.exp(), 0.0)

    result: list[list[Scored]] = []
    for row_tags, row_found, row_probs, length in zip(
        tags.tolist(), found.tolist(), probs.tolist(), lengths.tolist()
    ):
        if length == 0:
            result.append([([], 1.0)])
            continue
        result.append(
            [(seq[:length], p) for seq, ok, p in zip(row_tags, row_found, row_probs) if ok]
        )
    return result


def _path_scores(
    crf: ConditionalRandomField, emissions: Tensor, tags: Tensor, lengths: Tensor
) -> Tensor:
    """score(y) in float64 of every path tags [B, n, T] (only the first length_b tags count),
    with the learned scores: it is used for allowed paths only."""
    batch, count, steps = tags.shape
    em = emissions.detach().double()
    valid = (torch.arange(steps, device=em.device) < lengths.unsqueeze(1)).unsqueeze(1)
    expanded = em.unsqueeze(1).expand(batch, count, steps, em.shape[-1])
    word = expanded.gather(3, tags.unsqueeze(-1)).squeeze(-1)
    total = torch.where(valid, word, 0.0).sum(-1)
    trans = crf.transitions.detach().double()
    if steps > 1:
        moves = trans[tags[..., :-1], tags[..., 1:]]
        total = total + torch.where(valid[..., 1:], moves, 0.0).sum(-1)
    last = (lengths - 1).clamp(min=0).view(batch, 1, 1).expand(batch, count, 1)
    first_tag = tags[..., 0]
    last_tag = tags.gather(2, last).squeeze(-1)
    total = total + crf.start_transitions.detach().double()[first_tag]
    return total + crf.end_transitions.detach().double()[last_tag]


@torch.inference_mode()
def topn_labels(
    logits: Tensor, mask: Tensor | None, n: int, labels: list[str]
) -> list[list[tuple[str, float]]] | list[list[list[tuple[str, float]]]]:
    """The n most probable labels with their softmax probabilities, most probable first.

    Sentence-level logits [B, K] (mask None or [B]: rows whose mask is False give []) give one
    list of (label, probability) pairs per sentence; token-level logits [B, T, K] with a mask
    [B, T] give, per sentence, one such list per True mask position, in order, so the output
    stays aligned with the words. n larger than K gives all K labels. The softmax runs over
    every label in float32, as the decoders' argmax does, so the first label is theirs."""
    _check_n(n)
    if logits.dim() not in (2, 3):
        raise ValueError(
            f"logits must be [batch, labels] or [batch, time, labels], got {tuple(logits.shape)}"
        )
    k = logits.shape[-1]
    if len(labels) != k:
        raise ValueError(f"{len(labels)} label names for {k} logits per item")
    if k == 0:
        raise ValueError("logits have no labels (last dimension 0)")
    expected = tuple(logits.shape[:-1])
    if mask is None:
        if logits.dim() == 3:
            raise ValueError("token-level logits [batch, time, labels] need a mask [batch, time]")
        mask = torch.ones(expected, dtype=torch.bool, device=logits.device)
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {expected}")
    mask = mask.bool()
    values = logits.detach().float()
    if not bool(torch.isfinite(values[mask]).all()):
        raise ValueError("logits hold NaN or infinite values at unmasked positions")
    probs, index = values.softmax(-1).topk(min(n, k), dim=-1)

    def pairs(ids: list[int], ps: list[float]) -> list[tuple[str, float]]:
        return [(labels[i], p) for i, p in zip(ids, ps)]

    if logits.dim() == 2:
        return [
            pairs(ids, ps) if keep else []
            for ids, ps, keep in zip(index.tolist(), probs.tolist(), mask.tolist())
        ]
    return [
        [pairs(ids, ps) for ids, ps, keep in zip(row_ids, row_ps, row_keep) if keep]
        for row_ids, row_ps, row_keep in zip(index.tolist(), probs.tolist(), mask.tolist())
    ]


def format_topn(pairs: list[tuple[str, float]], conn: str = "=", sep: str = "|") -> str:
    """MaChAmp's top-n cell: ``B-PER=0.912|O=0.0812``, probabilities to 6 significant digits
    (as probdistr predictions are written), so that the cell reads back as numbers."""
    return sep.join(f"{label}{conn}{prob:.6g}" for label, prob in pairs)
