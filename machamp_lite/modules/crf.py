"""Linear-chain conditional random field for sequence labelling: exact log-likelihood (training
loss), Viterbi decoding, and exact token marginals and span probabilities (confidences),
vectorised over the batch, with optional BIO transition constraints. The forward and backward
recursions are shared with the confidences in crf_marginals.py."""

from __future__ import annotations

import torch
from torch import Tensor

from .crf_marginals import (
    CrfScores,
    ForwardBackward,
    check_spans,
    gather_last,
    log_partition,
    scaled_backward,
    scaled_forward,
    small_products_on_one_thread,
)

# Score given to a disallowed move. Large enough that no allowed path can lose to a path that uses
# it, small enough to stay finite and well inside float32 range when summed over a sentence.
CONSTRAINT_PENALTY = -10000.0

_REDUCTIONS = ("mean", "sum", "none")


def _bio_parts(label: str) -> tuple[str, str | None]:
    """('B', type), ('I', type) or ('O', None): anything that is not B-X or I-X acts like O."""
    if label.startswith("B-") or label.startswith("I-"):
        return label[0], label[2:]
    return "O", None


def bio_transition_constraints(labels: list[str]) -> tuple[Tensor, Tensor, Tensor]:
    """Boolean masks (allowed transitions [K, K] from->to, allowed start [K], allowed end [K])
    for IOB2/BIO labels: I-X may only follow B-X or I-X, and may not start a sequence.

    Any label that is not 'O' and does not start with 'B-'/'I-' is treated like 'O' (no
    constraint). Every label may end a sequence, since IOB2 spans close implicitly."""
    parts = [_bio_parts(label) for label in labels]
    k = len(labels)
    allowed = torch.ones(k, k, dtype=torch.bool)
    start = torch.ones(k, dtype=torch.bool)
    end = torch.ones(k, dtype=torch.bool)
    for j, (prefix_to, type_to) in enumerate(parts):
        if prefix_to != "I":
            continue
        start[j] = False
        for i, (prefix_from, type_from) in enumerate(parts):
            allowed[i, j] = prefix_from in ("B", "I") and type_from == type_to
    return allowed, start, end


def _lengths_and_check(mask: Tensor, batch: int, steps: int) -> Tensor:
    """Sentence lengths from a left-aligned mask. A mask with holes would silently mix up
    positions, so it is refused."""
    if mask.shape != (batch, steps):
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(batch, steps)}")
    lengths = mask.sum(1)
    positions = torch.arange(steps, device=mask.device)
    if not torch.equal(positions < lengths.unsqueeze(1), mask):
        raise ValueError("mask must be left-aligned: True for the first n positions of a row")
    return lengths


def _penalised(score: Tensor, allowed: Tensor | None) -> Tensor:
    """float32 scores with CONSTRAINT_PENALTY in place of every disallowed entry."""
    score = score.float()
    return score if allowed is None else score.masked_fill(~allowed, CONSTRAINT_PENALTY)


class _LogLikelihood(torch.autograd.Function):
    """log p(tags | emissions) per sentence, with a hand-written backward pass.

    The log partition function comes from the scaled forward algorithm in probability space,
    in float64: each step is one small matrix product instead of a logsumexp over [B, K, K],
    which is what makes the loss cheap. Scores are shifted by their maxima before being
    exponentiated and the forward vector is renormalised at every step, so a state is only lost
    when its weight falls below about e^-700 of the total (float32 log-space arithmetic already
    rounds away anything below e^-16 of a sum). Should that empty a whole step (scores that far
    apart, or no allowed path), the result is not finite and the caller redoes it in log space.
    The gradient is the exact difference between the gold path's indicator counts and the
    marginals, which come from the scaled backward algorithm; that is cheaper than replaying a
    per-step autograd graph.

    Inputs: emissions [B, T, K] (any float dtype), tags [B, T] (long, 0 on padding), mask
    [B, T] (bool, left-aligned), lengths [B], raw transition [K, K], start [K] and end [K]
    parameters and their allowed masks (or None). Returns float32 [B], 0 for empty sentences.
    """

    @staticmethod
    def forward(ctx, emissions, tags, mask, lengths, trans, start, end, ok_trans, ok_start, ok_end):
        f64 = torch.float64
        batch, steps, k = emissions.shape
        device = emissions.device
        mask_t = mask.t()
        tags_t = tags.t()
        # Time-major float64 copy; padding is zeroed so that whatever it held (even inf) stays
        # out of every sum.
        em = emissions.transpose(0, 1).to(f64).masked_fill(~mask_t.unsqueeze(-1), 0.0)
        trans64 = _penalised(trans, ok_trans).to(f64)
        start64 = _penalised(start, ok_start).to(f64)
        end64 = _penalised(end, ok_end).to(f64)
        has_words = lengths > 0
        last = (lengths - 1).clamp(min=0)
        last_tags = tags.gather(1, last.unsqueeze(1)).squeeze(1)
        valid = mask_t.to(f64)
        zero = torch.zeros((), dtype=f64, device=device)

        # Gold path score.
        pairs = tags_t[:-1] * k + tags_t[1:]  # [T-1, B] flat index of each transition
        gold = em.gather(2, tags_t.unsqueeze(-1)).squeeze(-1).sum(0)
        gold = gold + (trans64.reshape(-1)[pairs] * valid[1:]).sum(0)
        gold = gold + torch.where(has_words, start64[tags_t[0]] + end64[last_tags], zero)

        # Log partition function.
        em_max = em.amax(-1, keepdim=True)
        f = torch.exp(em - em_max)  # [T, B, K], largest entry 1 at every position
        t_max = trans64.max()
        e = torch.exp(trans64 - t_max)
        s_max = start64.max()
        n_max = end64.max()
        end_w = torch.exp(end64 - n_max)
        # alphas[t] is the normalised forward vector, norms[t] the factor divided out at t;
        # padding steps (emissions 0) are ignored below.
        alphas, norms = scaled_forward(torch.exp(start64 - s_max), f, e)
        log_z = (
            torch.where(mask_t, norms.squeeze(-1).log(), zero).sum(0)
            + em_max.squeeze(-1).mul(valid).sum(0)
            + last.to(f64) * t_max
            + s_max
            + n_max
            + (gather_last(alphas, last) @ end_w).log()
        )
        result = torch.where(has_words, gold - log_z, zero)

        ctx.save_for_backward(
            alphas,
            norms,
            f,
            e,
            end_w,
            mask_t,
            tags_t,
            lengths,
            last_tags,
            ok_trans,
            ok_start,
            ok_end,
        )
        ctx.dtypes = (emissions.dtype, trans.dtype, start.dtype, end.dtype)
        return result.float()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        # Called outside log_likelihood's one-thread block, for products as small.
        alphas = ctx.saved_tensors[0]
        with small_products_on_one_thread(alphas.device, alphas.shape[1] * alphas.shape[2] ** 2):
            return _LogLikelihood.gradients(ctx, grad)

    @staticmethod
    def gradients(ctx, grad):
        """The backward pass proper (see the class docstring)."""
        (alphas, norms, f, e, end_w, mask_t, tags_t, lengths, last_tags) = ctx.saved_tensors[:9]
        ok_trans, ok_start, ok_end = ctx.saved_tensors[9:]
        em_dtype, trans_dtype, start_dtype, end_dtype = ctx.dtypes
        steps, batch, k = alphas.shape
        f64 = alphas.dtype
        device = alphas.device
        zero = torch.zeros((), dtype=f64, device=device)
        grad = grad.to(f64)
        mask_col = mask_t.unsqueeze(-1)
        betas = scaled_backward(f, e, end_w, lengths)

        # Marginals, weighted by -grad (log Z enters with a minus sign). Padding steps may hold
        # anything, even 0/0 after a dead end, so they are zeroed out of every product.
        alphas = torch.where(mask_col, alphas, zero)
        node = alphas * torch.where(mask_col, betas, zero)
        weight = torch.where(mask_t, -grad.unsqueeze(0) / node.sum(-1), zero)  # [T, B]
        node = node * weight.unsqueeze(-1)  # -grad_b * P(y_t = k)

        # Gold path counts, weighted by grad.
        gold_w = grad.unsqueeze(0) * mask_t.to(f64)  # [T, B]
        ends_w = torch.where(lengths > 0, grad, zero)

        grad_em = None
        if ctx.needs_input_grad[0]:
            grad_em = node.scatter_add(2, tags_t.unsqueeze(-1), gold_w.unsqueeze(-1))
            grad_em = grad_em.transpose(0, 1).to(em_dtype)

        grad_trans = grad_start = grad_end = None
        if ctx.needs_input_grad[4]:
            grad_trans = torch.zeros(k * k, dtype=f64, device=device)
            if steps > 1:
                # P(y_{t-1}=i, y_t=j) = alpha[t-1, i] E[i, j] F[t, j] beta[t, j] / c_t with
                # c_t = norms[t] * node_sum[t], since (alpha[t-1] @ E) * F[t] = alpha[t] *
                # norms[t]; weight already holds -grad / node_sum.
                prev_a = alphas[:-1].reshape(-1, k)
                right = (f[1:] * betas[1:]).reshape(-1, k)
                scale = (weight[1:] / norms[1:].squeeze(-1)).reshape(-1, 1)
                grad_trans = (e * (prev_a.t() @ (right * scale))).reshape(-1)
                pairs = (tags_t[:-1] * k + tags_t[1:]).reshape(-1)
                grad_trans = grad_trans.index_add(0, pairs, gold_w[1:].reshape(-1))
            grad_trans = grad_trans.view(k, k)
            if ok_trans is not None:
                grad_trans = grad_trans.masked_fill(~ok_trans, 0.0)
            grad_trans = grad_trans.to(trans_dtype)
        if ctx.needs_input_grad[5]:
            grad_start = node[0].sum(0).index_add(0, tags_t[0], ends_w)
            if ok_start is not None:
                grad_start = grad_start.masked_fill(~ok_start, 0.0)
            grad_start = grad_start.to(start_dtype)
        if ctx.needs_input_grad[6]:
            last = (lengths - 1).clamp(min=0)
            grad_end = gather_last(node, last).sum(0).index_add(0, last_tags, ends_w)
            if ok_end is not None:
                grad_end = grad_end.masked_fill(~ok_end, 0.0)
            grad_end = grad_end.to(end_dtype)
        return grad_em, None, None, None, grad_trans, grad_start, grad_end, None, None, None


def _float(emissions: Tensor) -> torch.dtype:
    """The dtype of the confidences: float64, or float32 on MPS, which has no float64."""
    return torch.float32 if emissions.device.type == "mps" else torch.float64


class ConditionalRandomField(torch.nn.Module):
    """Linear-chain CRF over K tags with learnable transition, start and end scores.

    score(y) = start[y_0] + sum_t emission[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_last].
    With constraints, disallowed moves score CONSTRAINT_PENALTY (in place of the learned score)
    in both the likelihood and Viterbi, so decoding never produces a disallowed sequence.
    """

    # Buffers (registered in __init__): the BIO masks, or None without constraints.
    allowed_transitions: Tensor | None
    allowed_start: Tensor | None
    allowed_end: Tensor | None

    def __init__(
        self, num_tags: int, constraints: tuple[Tensor, Tensor, Tensor] | None = None
    ) -> None:
        super().__init__()
        if num_tags <= 0:
            raise ValueError(f"num_tags must be positive, got {num_tags}")
        self.num_tags = num_tags
        # Small random scores break the symmetry between tags without favouring any of them.
        self.transitions = torch.nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start_transitions = torch.nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = torch.nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        masks: tuple[Tensor | None, ...] = (None, None, None)
        if constraints is not None:
            given = tuple(c.detach().clone().bool() for c in constraints)
            shapes = [tuple(m.shape) for m in given]
            if shapes != [(num_tags, num_tags), (num_tags,), (num_tags,)]:
                raise ValueError(f"constraints have shapes {shapes}, expected K={num_tags}")
            masks = given
        self.register_buffer("allowed_transitions", masks[0])
        self.register_buffer("allowed_start", masks[1])
        self.register_buffer("allowed_end", masks[2])

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={self.allowed_transitions is not None}"

    def _check(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Shape checks; returns the sentence lengths."""
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"emissions must be [batch, time, {self.num_tags}], got {tuple(emissions.shape)}"
            )
        return _lengths_and_check(mask.bool(), emissions.shape[0], emissions.shape[1])

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Per-sentence log p(tags | emissions): shape [B]. emissions [B, T, K], tags [B, T],
        mask [B, T].

        Masks are left-aligned (True for the first n_b positions). Sentences of length 0 give 0.
        The result is float32 and is computed in float64 (float32 on MPS) whatever the emission
        dtype, because half-precision sums over a sentence lose the digits that the loss lives
        in. Tags under False mask positions are ignored, so any padding value works."""
        lengths = self._check(emissions, mask)
        batch, steps, _ = emissions.shape
        if tags.shape != (batch, steps):
            raise ValueError(f"tags have shape {tuple(tags.shape)}, expected {(batch, steps)}")
        if batch == 0 or steps == 0:
            return emissions.float().sum((1, 2)) * 0.0
        mask = mask.bool()
        tags = tags.long().masked_fill(~mask, 0)
        params = (
            self.transitions,
            self.start_transitions,
            self.end_transitions,
            self.allowed_transitions,
            self.allowed_start,
            self.allowed_end,
        )
        if emissions.device.type != "mps":  # MPS has no float64
            # One thread for the [B, K] x [K, K] steps, which MKL splits at a cost (same bits).
            with small_products_on_one_thread(emissions.device, batch * self.num_tags**2):
                result = _LogLikelihood.apply(emissions, tags, mask, lengths, *params)
            if bool(torch.isfinite(result).all()):
                return result
        # Scores so extreme that the fast path underflowed (or no float64): exact log space.
        return self._log_likelihood_log_space(emissions, tags, mask, lengths)

    def _log_likelihood_log_space(
        self, emissions: Tensor, tags: Tensor, mask: Tensor, lengths: Tensor
    ) -> Tensor:
        """Plain log-space forward algorithm under autograd: slower, but free of underflow."""
        trans = _penalised(self.transitions, self.allowed_transitions)
        start = _penalised(self.start_transitions, self.allowed_start)
        end = _penalised(self.end_transitions, self.allowed_end)
        em = emissions.float().masked_fill(~mask.unsqueeze(-1), 0.0)
        maskf = mask.float()
        has_words = lengths > 0
        last_tags = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        gold = em.gather(2, tags.unsqueeze(-1)).squeeze(-1).sum(1)
        gold = gold + (trans[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
        gold = gold + torch.where(has_words, start[tags[:, 0]] + end[last_tags], 0.0)

        log_z = log_partition(em, mask, trans, start, end)
        return torch.where(has_words, gold - log_z, 0.0)

    def negative_log_likelihood(
        self, emissions: Tensor, tags: Tensor, mask: Tensor, reduction: str = "mean"
    ) -> Tensor:
        """Training loss: -log p(tags | emissions). 'mean' (over sentences, the project's single
        loss reduction), 'sum' or 'none' (shape [B])."""
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        nll = -self.log_likelihood(emissions, tags, mask)
        if reduction == "mean":
            return nll.mean() if nll.numel() else nll.sum()
        if reduction == "sum":
            return nll.sum()
        return nll

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Same as negative_log_likelihood with reduction='mean'."""
        return self.negative_log_likelihood(emissions, tags, mask)

    @torch.no_grad()
    def marginals(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Exact posterior p(y_t = k | x) of every tag at every position: [B, T, K], float64
        (float32 on MPS), rows of real positions summing to 1, padding rows 0.

        The same forward-backward as the loss, with constraints as hard zeros (a disallowed tag
        gets probability 0); sentences whose scores underflow it are redone in log space."""
        lengths = self._check(emissions, mask)
        passes = self._passes(emissions, mask, lengths)
        if passes is None:
            return torch.zeros(emissions.shape, dtype=_float(emissions), device=emissions.device)
        return passes.marginals()

    @torch.no_grad()
    def span_probabilities(self, emissions: Tensor, mask: Tensor, spans: Tensor) -> Tensor:
        """Exact probability [S] that each span row (sentence, start, end, begin tag, inside
        tag; end inclusive) is labelled exactly as that span, e.g. p(y_s = B-PER,
        y_{s+1..e} = I-PER, y_{e+1} != I-PER); crf_marginals.py defines the plain-label case.
        Rows come from crf_marginals.spans_from_paths(viterbi paths, labels) or anywhere else;
        one forward-backward serves them all. Out-of-range rows raise ValueError."""
        lengths = self._check(emissions, mask)
        spans = check_spans(spans, lengths, self.num_tags)
        passes = self._passes(emissions, mask, lengths) if spans.shape[0] else None
        if passes is None:
            return torch.zeros(0, dtype=_float(emissions), device=emissions.device)
        return passes.span_probabilities(spans)

    @torch.no_grad()
    def confidences(self, emissions: Tensor, mask: Tensor, spans: Tensor) -> tuple[Tensor, Tensor]:
        """(marginals, span probabilities) from one forward-backward instead of two."""
        lengths = self._check(emissions, mask)
        spans = check_spans(spans, lengths, self.num_tags)
        passes = self._passes(emissions, mask, lengths)
        if passes is None:  # no positions, hence no spans
            empty = torch.zeros(emissions.shape, dtype=_float(emissions), device=emissions.device)
            return empty, empty.new_zeros(0)
        return passes.marginals(), passes.span_probabilities(spans)

    def _passes(self, emissions: Tensor, mask: Tensor, lengths: Tensor) -> ForwardBackward | None:
        """The forward-backward of a checked batch; None when it has no positions."""
        if emissions.shape[0] == 0 or emissions.shape[1] == 0:
            return None
        raw = (self.transitions, self.start_transitions, self.end_transitions)
        allowed = (self.allowed_transitions, self.allowed_start, self.allowed_end)
        scores = CrfScores(raw, allowed, emissions.device)
        return ForwardBackward(scores, emissions, mask.bool(), lengths)

    @torch.inference_mode()
    def viterbi_decode(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """Best tag path per sentence, each list exactly as long as that sentence's mask count.

        One loop over time on the device (max over [B, K, K] per step, back-pointers kept as
        int tensors), then a gather loop for the backtrace and a single transfer to Python.
        Steps this small run on one CPU thread, as the likelihood's do."""
        size = emissions.shape[0] * self.num_tags**2 if emissions.dim() == 3 else 0
        with small_products_on_one_thread(emissions.device, size):
            return self._viterbi(emissions, mask)

    def _viterbi(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        lengths = self._check(emissions, mask)
        batch, steps, k = emissions.shape
        if batch == 0:
            return []
        if steps == 0:
            return [[] for _ in range(batch)]
        trans = _penalised(self.transitions, self.allowed_transitions)
        start = _penalised(self.start_transitions, self.allowed_start)
        end = _penalised(self.end_transitions, self.allowed_end)
        em = emissions.transpose(0, 1).to(torch.float32, memory_format=torch.contiguous_format)
        trans_to_from = trans.t().contiguous()

        # scores[t] is the best score of any path ending in each tag at t; pointers[t] the tag at
        # t - 1 on that path. Padding steps run on like real ones and are dealt with afterwards,
        # which costs less than freezing finished sentences at every step.
        scores = torch.empty_like(em)
        pointers = torch.empty(steps, batch, k, dtype=torch.long, device=em.device)
        # The same memory seen as [B, K, 1] (written by max) and [B, 1, K] (read by the next
        # step's broadcast), so that the loop creates no views.
        score_cols = scores.view(steps, batch, k, 1).unbind(0)
        score_rows = scores.view(steps, batch, 1, k).unbind(0)
        pointer_cols = pointers.view(steps, batch, k, 1).unbind(0)
        em_cols = em.view(steps, batch, k, 1).unbind(0)
        torch.add(start, em[0], out=scores[0])
        candidates = torch.empty(batch, k, k, dtype=em.dtype, device=em.device)
        for prev, score, pointer, em_t in zip(
            score_rows[:-1], score_cols[1:], pointer_cols[1:], em_cols[1:]
        ):
            torch.add(prev, trans_to_from, out=candidates)  # [B, to, from]
            torch.max(candidates, -1, keepdim=True, out=(score, pointer))
            score.add_(em_t)

        last = (lengths - 1).clamp(min=0)
        current = (gather_last(scores, last) + end).argmax(-1, keepdim=True)  # last word's tag
        path = [current]
        if steps > 1:
            # Past a sentence's end its pointers must hand the last tag back unchanged.
            identity = torch.arange(k, device=em.device).expand(batch, k)
            valid = mask.bool().t().unsqueeze(-1)
            back = torch.where(valid[1:], pointers[1:], identity)
            for pointer in reversed(back.unbind(0)):
                current = pointer.gather(1, current)
                path.append(current)
        path.reverse()
        rows = torch.cat(path, dim=1).tolist()
        return [row[:n] for row, n in zip(rows, lengths.tolist())]
