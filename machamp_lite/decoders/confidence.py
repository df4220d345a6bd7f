"""Probabilities of predictions: what ``predict --probabilities`` and ``--topn`` write and what
a fitted temperature calibrates, for the decoders that score labels with a softmax or a CRF.

Every function here takes the decoder's own scores (``Decoder.logits``) and a temperature T:
probabilities come from the scores divided by T (for a CRF, its transitions too), while the
predicted labels always come from the undivided scores, so that calibration can never change a
prediction (dividing by T > 0 keeps the argmax in exact arithmetic, but not always in floats).

A sentence's result is a dict that goes into the JSON-lines side file as it is
(docs/evaluation.md, "Confidence"):

- token level: ``labels`` (one per word), ``probabilities`` (each word's probability of its
  label), with ``topn`` the n most probable labels of each word as ``[label, p]`` pairs;
- ``seq_bio`` adds ``entities``: ``start`` (first word), ``end`` (one past the last word),
  ``type`` and ``probability``, the CRF's marginal probability that exactly this span is an
  entity of this type; its ``topn`` is the n best label sequences instead, each
  ``{"labels": [...], "probability": p}``;
- sentence level: ``label``, ``probability`` and, with ``topn``, ``[label, p]`` pairs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional

from ..modules.crf import ConditionalRandomField
from ..modules.crf_kbest import kbest_viterbi, topn_labels
from ..modules.crf_marginals import spans_from_paths

# Label a CRF tagger writes where --min_confidence drops an entity.
OUTSIDE = "O"


def check_temperature(temperature: float) -> float:
    """A temperature is a finite number above 0: 0 or less would flip or break the softmax."""
    value = float(temperature)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"temperature must be a finite number above 0, got {temperature!r}")
    return value


def softmax_nll(logits: Tensor, gold: Tensor, temperature: float) -> Tensor:
    """Per sentence, the summed cross-entropy of ``gold`` under ``logits / T`` in float64:
    logits [B, K] with gold [B] (sentence level) or [B, T, K] with gold [B, T]. Gold indices
    below 0 (padding, labels unseen in training) add nothing."""
    scaled = logits.detach().double() / check_temperature(temperature)
    flat_gold = gold.reshape(-1)
    flat = functional.cross_entropy(
        scaled.reshape(-1, scaled.shape[-1]),
        torch.where(flat_gold < 0, -100, flat_gold),
        ignore_index=-100,
        reduction="none",
    )
    if logits.dim() == 2:
        return flat
    return flat.view(gold.shape).sum(dim=1)


def token_softmax(
    logits: Tensor, mask: Tensor, labels: list[str], temperature: float, topn: int
) -> list[dict[str, Any]]:
    """Per sentence, a softmax tagger's labels, each word's probability of its label and,
    with ``topn`` above 1, each word's n most probable labels."""
    best = logits.argmax(dim=-1)
    probs = torch.softmax(logits.detach().float() / check_temperature(temperature), dim=-1)
    chosen = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1)
    lengths = mask.sum(dim=1).tolist()
    results: list[dict[str, Any]] = [
        {"labels": [labels[i] for i in ids[:n]], "probabilities": ps[:n]}
        for ids, ps, n in zip(best.tolist(), chosen.tolist(), lengths)
    ]
    if topn > 1:
        ranked: list[Any] = topn_labels(logits.detach().float() / temperature, mask, topn, labels)
        for result, words in zip(results, ranked):
            result["topn"] = [[[label, p] for label, p in word] for word in words]
    return results


def sentence_softmax(
    logits: Tensor, labels: list[str], temperature: float, topn: int
) -> list[dict[str, Any]]:
    """Per sentence, a classifier's label, its probability and, with ``topn`` above 1, the n
    most probable labels."""
    best = logits.argmax(dim=-1)
    probs = torch.softmax(logits.detach().float() / check_temperature(temperature), dim=-1)
    chosen = probs.gather(-1, best.unsqueeze(-1)).squeeze(-1)
    results: list[dict[str, Any]] = [
        {"label": labels[i], "probability": p} for i, p in zip(best.tolist(), chosen.tolist())
    ]
    if topn > 1:
        ranked: list[Any] = topn_labels(logits.detach().float() / temperature, None, topn, labels)
        for result, pairs in zip(results, ranked):
            result["topn"] = [[label, p] for label, p in pairs]
    return results


def tempered_crf(crf: ConditionalRandomField, temperature: float) -> ConditionalRandomField:
    """A copy of ``crf`` whose learned scores are divided by T, with the same constraints: fed
    emissions divided by T, its probabilities are those of the original at temperature T."""
    value = check_temperature(temperature)
    if value == 1.0:
        return crf
    allowed = crf.allowed_transitions
    constraints = None
    if allowed is not None:
        constraints = (allowed, crf.allowed_start, crf.allowed_end)
    copy = ConditionalRandomField(crf.num_tags, constraints)  # type: ignore[arg-type]
    with torch.no_grad():
        for name in ("transitions", "start_transitions", "end_transitions"):
            getattr(copy, name).copy_(getattr(crf, name).detach() / value)
    return copy.to(crf.transitions.device)


def crf_nll(
    crf: ConditionalRandomField, emissions: Tensor, mask: Tensor, gold: Tensor, temperature: float
) -> Tensor:
    """Per sentence -log p(gold | x) at temperature T, float64; a sentence with a gold index
    below 0 at a real word (a label unseen in training) gives 0, since it has no sequence
    the CRF could score."""
    scaled = tempered_crf(crf, temperature)
    known = ~((gold < 0) & mask.bool()).any(dim=1)
    tags = gold.clamp(min=0)
    with torch.no_grad():
        nll = -scaled.log_likelihood(emissions.detach() / temperature, tags, mask).double()
    return torch.where(known, nll, 0.0)


def crf_confidences(
    crf: ConditionalRandomField,
    emissions: Tensor,
    mask: Tensor,
    labels: list[str],
    temperature: float,
    topn: int,
    min_confidence: float | None,
) -> list[dict[str, Any]]:
    """Per sentence, a CRF tagger's Viterbi labels, each word's marginal probability of its
    label, each predicted entity's probability and, with ``topn`` above 1, the n best label
    sequences with their probabilities. With ``min_confidence``, entities less probable than
    it become ``O`` (and their words' probabilities those of ``O``)."""
    emissions = emissions.detach()
    paths = crf.viterbi_decode(emissions, mask)
    scaled = tempered_crf(crf, temperature)
    scaled_emissions = emissions / temperature
    spans = spans_from_paths(paths, labels).to(emissions.device)
    marginals, span_probs = scaled.confidences(scaled_emissions, mask, spans)
    outside = labels.index(OUTSIDE) if OUTSIDE in labels else None
    if min_confidence is not None and outside is None:
        raise ValueError(f"min_confidence needs an {OUTSIDE!r} label to write for dropped entities")
    cells = marginals.cpu().tolist()
    results: list[dict[str, Any]] = []
    for path, rows in zip(paths, cells):
        results.append(
            {
                "labels": [labels[i] for i in path],
                "probabilities": [row[i] for row, i in zip(rows, path)],
                "entities": [],
            }
        )
    for (sentence, start, end, begin, _), p in zip(spans.tolist(), span_probs.tolist()):
        result = results[sentence]
        if min_confidence is not None and p < min_confidence:
            for word in range(start, end + 1):
                result["labels"][word] = OUTSIDE
                result["probabilities"][word] = cells[sentence][word][outside]
            continue
        kind = labels[begin]
        kind = kind[2:] if kind[:2] in ("B-", "I-") else kind
        result["entities"].append({"start": start, "end": end + 1, "type": kind, "probability": p})
    if topn > 1:
        ranked = crf_topn(crf, emissions, mask, topn, labels, temperature)
        for result, sequences in zip(results, ranked):
            result["topn"] = sequences
    return results


def crf_topn(
    crf: ConditionalRandomField,
    emissions: Tensor,
    mask: Tensor,
    n: int,
    labels: list[str],
    temperature: float,
) -> list[list[dict[str, Any]]]:
    """The n best label sequences of each sentence by k-best Viterbi on the undivided scores,
    each with its probability at temperature T (one batched likelihood for all of them)."""
    best = kbest_viterbi(crf, emissions, mask, n)
    if temperature == 1.0:
        return [
            [{"labels": [labels[i] for i in seq], "probability": p} for seq, p in sequences]
            for sequences in best
        ]
    scaled = tempered_crf(crf, temperature)
    batch, steps, _ = emissions.shape
    width = max((len(s) for s in best), default=0)
    if width == 0:
        return [[] for _ in best]
    # Every sentence gets `width` rows; a sentence with fewer sequences repeats its first.
    tags = torch.zeros(batch, width, steps, dtype=torch.long)
    for b, sequences in enumerate(best):
        for r in range(width):
            seq = sequences[r if r < len(sequences) else 0][0] if sequences else []
            tags[b, r, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    tags = tags.to(emissions.device).reshape(batch * width, steps)
    em = (emissions / temperature).unsqueeze(1).expand(batch, width, steps, emissions.shape[-1])
    rows_mask = mask.bool().unsqueeze(1).expand(batch, width, steps).reshape(batch * width, steps)
    with torch.no_grad():
        log_p = scaled.log_likelihood(em.reshape(batch * width, steps, -1), tags, rows_mask)
    probs = log_p.double().exp().view(batch, width).tolist()
    return [
        [
            {"labels": [labels[i] for i in seq], "probability": p}
            for (seq, _), p in zip(sequences, row)
        ]
        for sequences, row in zip(best, probs)
    ]
