"""Forward and backward recursions of the linear-chain CRF, and what they give besides the loss:
exact token marginals p(y_t = k | x) and exact probabilities of labelled spans (entities).

The scaled forward and backward recursions and the log partition function live here so that
the training loss (crf.py's `_LogLikelihood`) and the confidences share them; what differs is
the weights they are given (the loss: its own shift and the finite penalty; the confidences:
a shift by the largest allowed score and hard zeros). The scaled recursions are time-major
([T, B, K]), the log-space one batch-major ([B, T, K]), as their callers hold their tensors.

Fast path: the scaled forward-backward in probability space (float64), one small matrix
product per step. A sentence whose scores are so far apart that a whole step underflows (no
weight left, which the scaled recursion cannot recover from) is redone exactly in log space,
through the gradient of the log partition function. Constraints are hard here: a disallowed
move has weight exactly 0, so a disallowed label gets probability 0 whatever the emissions
(the loss and Viterbi use the finite CONSTRAINT_PENALTY instead, which differs only when
emissions are thousands apart).

Span semantics (rows of `spans`: sentence, start, end, begin label, inside label; end
inclusive):

- begin != inside (IOB2, e.g. B-PER / I-PER): p(y_s = begin, y_{s+1..e} = inside,
  y_{e+1} != inside), no condition after the last word. Nothing is needed before s: a begin
  label always opens a new span.
- begin == inside (a plain label X of an IO or untagged label set): the maximal run
  p(y_{s-1} != X, y_{s..e} = X, y_{e+1} != X).
- inside == -1 (a type with B-X but no I-X label): a one-word span, p(y_s = begin).
- IOB1 data: under the CRF's BIO constraints an I-X can neither start a sentence nor follow
  anything but B-X/I-X, so every predicted span starts with B-X and the IOB2 case applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

# Stand-in for log(0) in the log-space fallback: far below any real score, yet finite, so that
# sums and gradients stay free of inf - inf. A log partition below half of it means that no
# allowed label sequence exists.
_LOG_ZERO = -1e30


# Products of at most this many multiply-adds per step ([B, K] @ [K, K]) run on one CPU thread.
# MKL splits even a 32 x 13 x 13 float64 product over every thread: on the 2-core machine that
# took 24 us a step at 2 threads against 2.5 us at 1 (and 500 us with OMP_WAIT_POLICY=ACTIVE
# while another process used the other core), which made marginals 3x Viterbi at 2 threads.
_ONE_THREAD_SIZE = 1 << 16


@contextlib.contextmanager
def small_products_on_one_thread(device: torch.device, size: int) -> Iterator[None]:
    """Run the block on one intra-op thread when its products are too small to share out.
    torch's thread count is process-wide: other Python threads' torch calls made meanwhile
    also get one thread (the count is restored on exit, error or not)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1 or size > _ONE_THREAD_SIZE:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """[T, B] index that reverses each sentence in place (t -> n_b - 1 - t for t < n_b) and
    leaves padding where it is. It is its own inverse, and it makes every reversed sentence
    start at position 0, so the backward recursion needs no per-step masking."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(1)
    flipped = lengths.unsqueeze(0) - 1 - positions
    return torch.where(positions < lengths.unsqueeze(0), flipped, positions)


def gather_last(values: Tensor, last: Tensor) -> Tensor:
    """values [T, B, K] at each sentence's last position: [B, K]."""
    _, batch, k = values.shape
    return values.gather(0, last.view(1, batch, 1).expand(1, batch, k)).squeeze(0)


def scaled_forward(start_w: Tensor, f: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
    """Normalised forward vectors alphas [T, B, K] and the factors norms [T, B, 1] divided out
    at each step, from start weights [K], emission weights f [T, B, K] and transition weights
    e [K, K] (from -> to). Padding steps run on like real ones; callers ignore them, which is
    cheaper than freezing finished sentences at every step."""
    steps, batch, k = f.shape
    ones = torch.ones(k, 1, dtype=f.dtype, device=f.device)
    alphas = torch.empty_like(f)
    norms = torch.empty(steps, batch, 1, dtype=f.dtype, device=f.device)
    alpha_steps = alphas.unbind(0)
    norm_steps = norms.unbind(0)
    prev = alpha_steps[0]
    torch.mul(start_w, f[0], out=prev)
    torch.mm(prev, ones, out=norm_steps[0])
    prev.div_(norm_steps[0])
    for alpha, norm, f_t in zip(alpha_steps[1:], norm_steps[1:], f.unbind(0)[1:]):
        torch.mm(prev, e, out=alpha)
        alpha.mul_(f_t)
        torch.mm(alpha, ones, out=norm)
        alpha.div_(norm)
        prev = alpha
    return alphas, norms


def scaled_backward(f: Tensor, e: Tensor, end_w: Tensor, lengths: Tensor) -> Tensor:
    """Backward vectors betas [T, B, K], each normalised to sum 1, so that alphas * betas is
    proportional to the marginals at every real position. Runs on per-sentence reversed time,
    so that every sentence starts it at once from the end weights end_w [K]."""
    steps, batch, k = f.shape
    ones = torch.ones(k, 1, dtype=f.dtype, device=f.device)
    rev = reverse_index(lengths, steps).unsqueeze(-1).expand(steps, batch, k)
    f_rev = f.gather(0, rev)
    betas_rev = torch.empty_like(f)
    beta_steps = betas_rev.unbind(0)
    prev = beta_steps[0]
    prev.copy_((end_w / end_w.sum()).expand(batch, k))
    scratch = torch.empty(batch, k, dtype=f.dtype, device=f.device)
    norm = torch.empty(batch, 1, dtype=f.dtype, device=f.device)
    e_t = e.t().contiguous()
    for beta, f_t in zip(beta_steps[1:], f_rev.unbind(0)[:-1]):
        torch.mul(f_t, prev, out=scratch)
        torch.mm(scratch, e_t, out=beta)
        torch.mm(beta, ones, out=norm)
        beta.div_(norm)
        prev = beta
    return betas_rev.gather(0, rev)


def log_partition(em: Tensor, mask: Tensor, trans: Tensor, start: Tensor, end: Tensor) -> Tensor:
    """log Z per sentence [B] by the plain log-space forward algorithm, batch-major em
    [B, T, K] (padding zeroed): slow, but free of underflow, and differentiable."""
    alpha = start + em[:, 0]
    for t in range(1, em.shape[1]):
        nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + em[:, t]
        alpha = torch.where(mask[:, t : t + 1], nxt, alpha)
    return torch.logsumexp(alpha + end, dim=-1)


class CrfScores:
    """A CRF's scores as the confidences use them: float64 (float32 on MPS, which has no
    float64), detached, disallowed moves as hard zeros (weights) or _LOG_ZERO (log space)."""

    def __init__(
        self,
        raw: tuple[Tensor, Tensor, Tensor],
        allowed: tuple[Tensor | None, Tensor | None, Tensor | None],
        device: torch.device,
    ) -> None:
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        self.log = [
            score.detach().to(device, self.dtype)
            if ok is None
            else score.detach().to(device, self.dtype).masked_fill(~ok, _LOG_ZERO)
            for score, ok in zip(raw, allowed)
        ]
        # Shifted by the largest allowed score before exp, so weights are at most 1 and the
        # disallowed ones (at _LOG_ZERO) are exactly 0, even when nothing is allowed.
        self.trans_w, self.start_w, self.end_w = (
            torch.exp(score - torch.where(score.max() > _LOG_ZERO / 2, score.max(), 0.0))
            for score in self.log
        )


def _check_some_path(log_z: Tensor, mask: Tensor) -> None:
    """A log partition at _LOG_ZERO level means every labelling uses a disallowed move."""
    impossible = log_z < _LOG_ZERO / 2
    if bool(impossible.any()):
        length = int(mask[impossible].sum(-1)[0])
        raise ValueError(
            f"the CRF's constraints allow no label sequence of {length} words: every sequence "
            "uses a disallowed start, transition or end; loosen the constraints"
        )


def _log_space_marginals(scores: CrfScores, em: Tensor, mask: Tensor) -> Tensor:
    """Exact marginals [B, T, K] of batch-major em (padding zeroed) as d log Z / d emissions."""
    with torch.inference_mode(False), torch.enable_grad():
        # Copies made here are ordinary tensors even when the caller runs in inference mode,
        # whose tensors autograd refuses to save.
        trans, start, end = (score.clone() for score in scores.log)
        mask = mask.clone()
        em = em.detach().clone().requires_grad_()
        log_z = log_partition(em, mask, trans, start, end)
        _check_some_path(log_z, mask)
        (grad,) = torch.autograd.grad(log_z.sum(), em)
    return grad.detach().masked_fill(~mask.unsqueeze(-1), 0.0)


class ForwardBackward:
    """The scaled forward-backward of one batch, kept for marginals and span probabilities;
    `bad` marks the sentences (by index) that underflowed and need the log-space path."""

    def __init__(self, scores: CrfScores, emissions: Tensor, mask: Tensor, lengths: Tensor):
        self.scores = scores
        self.mask = mask
        self.lengths = lengths
        mask_t = mask.t()
        em = emissions.transpose(0, 1).to(scores.dtype).masked_fill(~mask_t.unsqueeze(-1), 0.0)
        if not bool(torch.isfinite(em).all()):
            t, b = (int(i) for i in (~torch.isfinite(em)).any(-1).nonzero()[0])
            raise ValueError(
                f"emissions hold NaN or inf at sentence {b}, position {t}: confidences need "
                "finite scores at every unmasked position"
            )
        self.em = em
        self.f = torch.exp(em - em.amax(-1, keepdim=True))
        size = em.shape[1] * em.shape[2] ** 2
        with small_products_on_one_thread(em.device, size):
            self.alphas, self.norms = scaled_forward(scores.start_w, self.f, scores.trans_w)
            self.betas = scaled_backward(self.f, scores.trans_w, scores.end_w, lengths)
        zero = torch.zeros((), dtype=scores.dtype, device=emissions.device)
        node = torch.where(mask_t.unsqueeze(-1), self.alphas * self.betas, zero)
        self.node_sum = node.sum(-1)  # [T, B]
        # A step left without weight divides 0 by 0, and the NaN reaches that step's node sum
        # (and every later one); the weights are at most 1, so nothing overflows. NaN fails
        # both comparisons.
        ok = (self.node_sum > 0) & (self.node_sum < float("inf"))
        self.bad = ((~ok) & mask_t).any(0).nonzero().squeeze(1)
        self.node = node

    def marginals(self) -> Tensor:
        """[B, T, K], float64 (float32 on MPS); padding rows 0."""
        zero = torch.zeros((), dtype=self.node.dtype, device=self.node.device)
        safe = torch.where(self.node_sum > 0, self.node_sum, 1.0).unsqueeze(-1)
        result = torch.where(self.mask.t().unsqueeze(-1), self.node / safe, zero)
        result = result.transpose(0, 1).contiguous()
        if self.bad.numel():
            rows = self.bad
            steps = int(self.lengths[rows].max())
            em = self.em.transpose(0, 1)[rows, :steps]
            result[rows, :steps] = _log_space_marginals(self.scores, em, self.mask[rows, :steps])
        return result

    def span_probabilities(self, spans: Tensor) -> Tensor:
        """Exact probability [S] of every span row (see the module docstring)."""
        spans = spans.to(self.em.device)
        if spans.numel() == 0:
            return torch.zeros(0, dtype=self.em.dtype, device=self.em.device)
        result = self._scaled_spans(spans)
        redo = torch.isin(spans[:, 0], self.bad) if self.bad.numel() else None
        if redo is not None and bool(redo.any()):
            result[redo] = self._log_space_spans(spans[redo])
        return result

    def _scaled_spans(self, spans: Tensor) -> Tensor:
        """Span weight over the total weight from the scaled vectors: the product of the weights
        along the span, each step divided by that step's norm, between the left and the right
        context, divided by the normaliser of the step after the span (or of the end).

        Lookups use flat indices (torch.take, index_select): multi-dimensional advanced
        indexing cost more than all the arithmetic here."""
        b, s, e, begin, inside = spans.unbind(1)
        inside_at = inside.clamp(min=0)  # -1 (no inside label) only on one-word spans
        w = self.scores.trans_w
        steps, batch, k = self.f.shape
        last = self.lengths[b] - 1
        labels = torch.arange(k, device=spans.device)
        others = labels != inside.unsqueeze(1)  # [S, K]: every label but the inside one

        def rows(values: Tensor, t: Tensor) -> Tensor:  # values [T, B, K] at (t, b): [S, K]
            return values.view(steps * batch, k).index_select(0, t * batch + b)

        def cells(values: Tensor, t: Tensor, bb: Tensor, label: Tensor) -> Tensor:
            return values.take((t * batch + bb) * k + label)

        # Logs of each factor, never of products: a product of small factors may underflow
        # where the span's probability does not.
        # Left: alpha at s for the begin label; for a plain label, only from y_{s-1} != label.
        log_p = cells(self.alphas, s, b, begin).log()
        plain = (begin == inside) & (s > 0)
        if bool(plain.any()):
            prev = rows(self.alphas, (s - 1).clamp(min=0)) * others
            into = (prev * w.t().index_select(0, begin)).sum(1) * cells(self.f, s, b, begin)
            log_p = torch.where(plain, into.log() - self.norms.take(s * batch + b).log(), log_p)
        # Inside: steps s+1..e, each with its transition, emission and norm.
        width = int((e - s).max())
        if width > 0:
            offsets = torch.arange(1, width + 1, device=spans.device)
            pos = (s.unsqueeze(1) + offsets).clamp(max=steps - 1)  # [S, W]
            to = inside_at.unsqueeze(1)
            from_label = torch.where(offsets == 1, begin.unsqueeze(1), to)
            term = (
                w.take(from_label * k + to).log()
                + cells(self.f, pos, b.unsqueeze(1), to).log()
                - self.norms.take(pos * batch + b.unsqueeze(1)).log()
            )
            inner = offsets <= (e - s).unsqueeze(1)
            log_p = log_p + torch.where(inner, term, 0.0).sum(1)
        # Right: into any label but inside at e+1, or the end weight after the last word.
        closing = torch.where(e == s, begin, inside_at)  # the span's last label
        nxt = (e + 1).clamp(max=steps - 1)
        onward = rows(self.f, nxt) * rows(self.betas, nxt) * others
        flat = nxt * batch + b
        right = (
            (w.index_select(0, closing) * onward).sum(1).log()
            - self.norms.take(flat).log()
            - self.node_sum.take(flat).log()
        )
        end_w = self.scores.end_w
        final = end_w[closing].log() - (rows(self.alphas, last) * end_w).sum(1).log()
        log_p = log_p + torch.where(e >= last, final, right)
        return log_p.exp()

    def _log_space_spans(self, spans: Tensor) -> Tensor:
        """Span probabilities as a ratio of log partition functions: the sentence's, and that of
        a copy whose emissions rule out every labelling other than the span's."""
        b, s, e, begin, inside = spans.unbind(1)
        trans, start, end = self.scores.log
        em = self.em.transpose(0, 1)[b].clone()  # [S, T, K]
        mask = self.mask[b]
        steps, k = em.shape[1], em.shape[2]
        pos = torch.arange(steps, device=em.device).unsqueeze(0)
        labels = torch.arange(k, device=em.device)
        is_begin = labels == begin.unsqueeze(1)  # [S, K]
        is_inside = labels == inside.unsqueeze(1)
        at = (pos == s.unsqueeze(1)).unsqueeze(-1)
        within = ((pos > s.unsqueeze(1)) & (pos <= e.unsqueeze(1))).unsqueeze(-1)
        after = (pos == (e + 1).unsqueeze(1)).unsqueeze(-1) & mask.unsqueeze(-1)
        before = ((pos == (s - 1).unsqueeze(1)) & (begin == inside).unsqueeze(1)).unsqueeze(-1)
        forbidden = at & ~is_begin.unsqueeze(1)
        forbidden |= within & ~is_inside.unsqueeze(1)
        forbidden |= (after | before) & is_inside.unsqueeze(1)
        em = em.masked_fill(forbidden, _LOG_ZERO)
        log_z = log_partition(self.em.transpose(0, 1)[b], mask, trans, start, end)
        _check_some_path(log_z, mask)
        return (log_partition(em, mask, trans, start, end) - log_z).exp()


def check_spans(spans: Tensor, lengths: Tensor, num_tags: int) -> Tensor:
    """Span rows as a long [S, 5] tensor, refused with a ValueError naming the first bad row
    when a sentence, position or label is out of range or a span ends before it starts."""
    given = torch.as_tensor(spans)
    not_integer = given.is_floating_point() or given.is_complex() or given.dtype == torch.bool
    if given.numel() and not_integer:  # ([] comes as float32: nothing to refuse)
        raise ValueError(f"spans must hold integers (label and word indices), got {given.dtype}")
    spans = given.to(lengths.device, torch.long)
    if spans.numel() == 0:
        return spans.reshape(0, 5)
    if spans.dim() != 2 or spans.shape[1] != 5:
        raise ValueError(
            f"spans must be [S, 5] rows (sentence, start, end, begin label, inside label), "
            f"got shape {tuple(spans.shape)}"
        )
    b, s, e, begin, inside = spans.unbind(1)
    ok = (b >= 0) & (b < lengths.numel())
    n = lengths[b.clamp(0, lengths.numel() - 1)]
    ok &= (s >= 0) & (s <= e) & (e < n)
    ok &= (begin >= 0) & (begin < num_tags) & (inside < num_tags)
    ok &= (inside >= 0) | ((inside == -1) & (s == e))
    if not bool(ok.all()):
        row = int((~ok).nonzero()[0, 0])
        raise ValueError(
            f"span row {row} {spans[row].tolist()} is out of range: need 0 <= sentence < "
            f"{lengths.numel()}, 0 <= start <= end < that sentence's length, 0 <= labels < "
            f"{num_tags} (inside may be -1, no inside label, on a one-word span)"
        )
    return spans


def spans_from_paths(paths: list[list[int]], labels: list[str]) -> Tensor:
    """Span rows [S, 5] of label-index paths (e.g. Viterbi's), for `span_probabilities`.

    B-X opens a span of type X continued by I-X (IOB2); a stray I-X (only possible without
    constraints) opens one too, reported with begin = inside = I-X. A label other than O
    without a B-/I- prefix is a plain type: each maximal run of it is one span. Rows are in
    sentence order, then start order."""
    index = {label: i for i, label in enumerate(labels)}
    rows: list[list[int]] = []
    for sentence, path in enumerate(paths):
        t = 0
        while t < len(path):
            label = labels[path[t]]
            if label == "O":
                t += 1
                continue
            if label.startswith("B-"):
                inside = index.get("I-" + label[2:], -1)
            elif label.startswith("I-"):
                inside = path[t]
            else:
                inside = path[t]
            end = t
            while end + 1 < len(path) and path[end + 1] == inside:
                end += 1
            rows.append([sentence, t, end, path[t], inside])
            t = end + 1
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 5)
