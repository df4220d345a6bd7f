"""Linear-chain conditional random field for sequence labelling: exact log-likelihood (training
loss) and Viterbi decoding, vectorised over the batch, with optional BIO transition constraints."""

from __future__ import annotations

import torch
from torch import Tensor

# Score given to a disallowed move. Large enough that no allowed path can lose to a path that uses
# it, small enough to stay finite and well away from float32 overflow when summed over a sentence.
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
    """Sentence lengths from a left-aligned mask; a mask with holes would silently mix up
    positions, so it is refused."""
    if mask.shape != (batch, steps):
        raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {(batch, steps)}")
    mask = mask.bool()
    lengths = mask.sum(1)
    positions = torch.arange(steps, device=mask.device)
    if not torch.equal(positions.unsqueeze(0) < lengths.unsqueeze(1), mask):
        raise ValueError("mask must be left-aligned: True for the first n positions of a row")
    return lengths


def _reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """[T, B] index that reverses each sentence in place (t -> n_b - 1 - t for t < n_b) and
    leaves padding where it is. It is its own inverse, and it makes every reversed sentence
    start at position 0, so a backward recursion needs no per-step masking."""
    positions = torch.arange(steps, device=lengths.device).unsqueeze(1)
    flipped = lengths.unsqueeze(0) - 1 - positions
    return torch.where(positions < lengths.unsqueeze(0), flipped, positions)


class _LogPartition(torch.autograd.Function):
    """log Z per sentence by the scaled forward algorithm in probability space (float64).

    Each step is one small matrix product instead of a logsumexp over [B, K, K], which is what
    makes the loss cheap; scores are shifted by their maxima before exponentiating and the
    forward vector is renormalised every step, so only states whose weight falls below about
    e^-700 of the total are lost (float32 log-space arithmetic already rounds away anything
    below e^-17 of a sum). The backward pass computes the exact marginals with the scaled
    backward algorithm rather than replaying a per-step autograd graph.

    Inputs are float64: emissions [T, B, K] (time-major, zero on padding), mask [T, B]
    (left-aligned), lengths [B], transitions [K, K], start [K], end [K]. Returns log Z [B]
    (0 for empty sentences).
    """

    @staticmethod
    def forward(ctx, em, mask, lengths, trans, start, end):
        steps, batch, k = em.shape
        em_max = em.amax(-1, keepdim=True)
        f = torch.exp(em - em_max)  # [T, B, K], largest entry 1 at every position
        t_max = trans.max()
        e = torch.exp(trans - t_max)
        s_max = start.max()
        n_max = end.max()
        end_w = torch.exp(end - n_max)
        ones = torch.ones(k, 1, dtype=em.dtype, device=em.device)

        # alphas[t] is the normalised forward vector, norms[t] the factor divided out at t.
        # Padding steps run on like real ones (their emissions are 0) and are ignored below,
        # which is cheaper than freezing finished sentences at every step.
        alphas = torch.empty_like(f)
        norms = torch.empty(steps, batch, 1, dtype=em.dtype, device=em.device)
        alpha_steps = alphas.unbind(0)
        norm_steps = norms.unbind(0)
        f_steps = f.unbind(0)
        prev = alpha_steps[0]
        torch.mul(torch.exp(start - s_max), f_steps[0], out=prev)
        torch.mm(prev, ones, out=norm_steps[0])
        prev.div_(norm_steps[0])
        for alpha, norm, f_t in zip(alpha_steps[1:], norm_steps[1:], f_steps[1:]):
            torch.mm(prev, e, out=alpha)
            alpha.mul_(f_t)
            torch.mm(alpha, ones, out=norm)
            alpha.div_(norm)
            prev = alpha

        zero = torch.zeros((), dtype=em.dtype, device=em.device)
        last = (lengths - 1).clamp(min=0)
        final = alphas.gather(0, last.view(1, batch, 1).expand(1, batch, k)).squeeze(0)
        log_z = (
            torch.where(mask, norms.squeeze(-1).log(), zero).sum(0)
            + torch.where(mask, em_max.squeeze(-1), zero).sum(0)
            + last.to(em.dtype) * t_max
            + s_max
            + n_max
            + (final @ end_w).log()
        )
        log_z = torch.where(lengths > 0, log_z, zero)
        ctx.save_for_backward(alphas, norms, f, e, end_w, mask, lengths)
        return log_z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_z):
        alphas, norms, f, e, end_w, mask, lengths = ctx.saved_tensors
        steps, batch, k = alphas.shape
        ones = torch.ones(k, 1, dtype=alphas.dtype, device=alphas.device)
        e_t = e.t().contiguous()

        # Backward recursion on per-sentence reversed time, so that all sentences begin it at
        # once from the end scores: betas_rev[r] weighs the continuations after position
        # n_b - 1 - r.
        rev = _reverse_index(lengths, steps).unsqueeze(-1).expand(steps, batch, k)
        f_rev = f.gather(0, rev)
        betas_rev = torch.empty_like(alphas)
        beta_steps = betas_rev.unbind(0)
        f_rev_steps = f_rev.unbind(0)
        prev = beta_steps[0]
        prev.copy_((end_w / end_w.sum()).expand(batch, k))
        scratch = torch.empty(batch, k, dtype=alphas.dtype, device=alphas.device)
        norm = torch.empty(batch, 1, dtype=alphas.dtype, device=alphas.device)
        for beta, f_t in zip(beta_steps[1:], f_rev_steps[:-1]):
            torch.mul(f_t, prev, out=scratch)
            torch.mm(scratch, e_t, out=beta)
            torch.mm(beta, ones, out=norm)
            beta.div_(norm)
            prev = beta
        betas = betas_rev.gather(0, rev)

        # Padding steps may hold anything (even 0/0 after a dead end): zero them out of every
        # product below.
        zero = torch.zeros((), dtype=alphas.dtype, device=alphas.device)
        mask_col = mask.unsqueeze(-1)
        alphas = torch.where(mask_col, alphas, zero)
        node = alphas * torch.where(mask_col, betas, zero)
        node_sum = node.sum(-1)
        weight = torch.where(mask, grad_log_z.unsqueeze(0) / node_sum, zero)  # [T, B]
        node = node * weight.unsqueeze(-1)  # g_b * P(y_t = k)
        grad_em = node

        grad_start = node[0].sum(0)
        last = (lengths - 1).clamp(min=0)
        last_node = node.gather(0, last.view(1, batch, 1).expand(1, batch, k)).squeeze(0)
        grad_end = last_node.sum(0)  # empty sentences have zero weight already

        grad_trans = torch.zeros_like(e)
        if steps > 1:
            # P(y_{t-1}=i, y_t=j) = alpha[t-1, i] E[i, j] F[t, j] beta[t, j] / c_t, where
            # c_t = norms[t] * node_sum[t] since (alpha[t-1] @ E) * F[t] = alpha[t] * norms[t];
            # weight already holds grad / node_sum.
            prev_a = alphas[:-1].reshape(-1, k)
            right = (f[1:] * betas[1:]).reshape(-1, k)
            scale = torch.where(mask[1:], weight[1:] / norms[1:].squeeze(-1), zero).reshape(-1, 1)
            grad_trans = e * (prev_a.t() @ (right * scale))
        return grad_em, None, None, grad_trans, grad_start, grad_end


class ConditionalRandomField(torch.nn.Module):
    """Linear-chain CRF over K tags with learnable transition, start and end scores.

    score(y) = start[y_0] + sum_t emission[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_last].
    With constraints, disallowed moves score CONSTRAINT_PENALTY in both the likelihood and
    Viterbi, so decoding never produces a disallowed sequence.
    """

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
        if constraints is None:
            self.register_buffer("allowed_transitions", None)
            self.register_buffer("allowed_start", None)
            self.register_buffer("allowed_end", None)
        else:
            allowed, start, end = (c.detach().clone().bool() for c in constraints)
            if allowed.shape != (num_tags, num_tags) or start.shape != (num_tags,):
                raise ValueError("constraints do not match num_tags")
            if end.shape != (num_tags,):
                raise ValueError("constraints do not match num_tags")
            self.register_buffer("allowed_transitions", allowed)
            self.register_buffer("allowed_start", start)
            self.register_buffer("allowed_end", end)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={self.allowed_transitions is not None}"

    def _scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """Transition, start and end scores in float32 with the constraint penalty in place.

        The penalty replaces the learned score, so disallowed entries get no gradient."""
        trans = self.transitions.float()
        start = self.start_transitions.float()
        end = self.end_transitions.float()
        if self.allowed_transitions is not None:
            trans = trans.masked_fill(~self.allowed_transitions, CONSTRAINT_PENALTY)
            start = start.masked_fill(~self.allowed_start, CONSTRAINT_PENALTY)
            end = end.masked_fill(~self.allowed_end, CONSTRAINT_PENALTY)
        return trans, start, end

    def _check(self, emissions: Tensor) -> None:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"emissions must be [batch, time, {self.num_tags}], got {tuple(emissions.shape)}"
            )

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """Per-sentence log p(tags | emissions): shape [B]. emissions [B, T, K], tags [B, T],
        mask [B, T].

        Masks are left-aligned (True for the first n_b positions). Sentences of length 0 give 0.
        Computed in float32 or better whatever the emission dtype, because half-precision sums
        over a sentence lose the digits that the loss differences live in. Tags under False
        mask positions are ignored (any padding value works)."""
        self._check(emissions)
        batch, steps, k = emissions.shape
        lengths = _lengths_and_check(mask, batch, steps)
        result_dtype = torch.float32
        if batch == 0 or steps == 0:
            return emissions.float().sum((1, 2)) * 0.0
        mask = mask.bool()
        trans, start, end = self._scores()
        tags = tags.masked_fill(~mask, 0)

        use_float64 = emissions.device.type != "mps"
        work = torch.float64 if use_float64 else torch.float32
        # Zeroing the padding keeps whatever the caller put there (even inf) out of every sum.
        em = emissions.to(work).masked_fill(~mask.unsqueeze(-1), 0.0)
        trans_w, start_w, end_w = trans.to(work), start.to(work), end.to(work)

        # Gold path score, fully vectorised.
        maskf = mask.to(work)
        gold = (em.gather(2, tags.unsqueeze(-1)).squeeze(-1) * maskf).sum(1)
        gold = gold + (trans_w[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
        has_words = lengths > 0
        last = (lengths - 1).clamp(min=0)
        last_tags = tags.gather(1, last.unsqueeze(1)).squeeze(1)
        gold = gold + torch.where(has_words, start_w[tags[:, 0]] + end_w[last_tags], 0.0)

        log_z = None
        if use_float64:
            log_z = _LogPartition.apply(
                em.transpose(0, 1).contiguous(), mask.t(), lengths, trans_w, start_w, end_w
            )
            if not bool(torch.isfinite(log_z).all()):
                log_z = None  # extreme scores underflowed: redo it in log space
        if log_z is None:
            log_z = self._log_partition_log_space(em, mask, lengths, trans_w, start_w, end_w)
        return (gold - log_z).to(result_dtype)

    @staticmethod
    def _log_partition_log_space(
        em: Tensor, mask: Tensor, lengths: Tensor, trans: Tensor, start: Tensor, end: Tensor
    ) -> Tensor:
        """Plain log-space forward algorithm: slower, but free of any underflow. Used where the
        fast path cannot be trusted (float64 unavailable, or scores spanning > ~700 nats)."""
        steps = em.shape[1]
        alpha = start + em[:, 0]
        mask_col = mask.unsqueeze(-1)
        trans_b = trans.unsqueeze(0)
        for t in range(1, steps):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans_b, dim=1) + em[:, t]
            alpha = torch.where(mask_col[:, t], nxt, alpha)
        log_z = torch.logsumexp(alpha + end, dim=-1)
        return torch.where(lengths > 0, log_z, torch.zeros_like(log_z))

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

    @torch.inference_mode()
    def viterbi_decode(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """Best tag path per sentence, each list exactly as long as that sentence's mask count.

        One loop over time on the device (max over [B, K, K] per step, back-pointers kept as
        int tensors), then a gather loop for the backtrace and a single transfer to Python."""
        self._check(emissions)
        batch, steps, k = emissions.shape
        lengths = _lengths_and_check(mask, batch, steps)
        if batch == 0:
            return []
        if steps == 0:
            return [[] for _ in range(batch)]
        trans, start, end = self._scores()
        em = emissions.float().transpose(0, 1).contiguous()  # [T, B, K]
        trans_to_from = trans.t().contiguous()

        # scores[t] is the best score of any path ending in each tag at t; pointers[t] the tag at
        # t - 1 on that path. Padding steps run on like real ones and are dealt with afterwards,
        # which costs less than freezing finished sentences at every step.
        scores = torch.empty_like(em)
        pointers = torch.empty(steps, batch, k, dtype=torch.long, device=em.device)
        score_steps = scores.unbind(0)
        pointer_steps = pointers.unbind(0)
        em_steps = em.unbind(0)
        prev = score_steps[0]
        torch.add(start, em_steps[0], out=prev)
        candidates = torch.empty(batch, k, k, dtype=em.dtype, device=em.device)
        for score, pointer, em_t in zip(score_steps[1:], pointer_steps[1:], em_steps[1:]):
            torch.add(prev.unsqueeze(1), trans_to_from, out=candidates)  # [B, to, from]
            torch.max(candidates, -1, out=(score, pointer))
            score.add_(em_t)
            prev = score

        last = (lengths - 1).clamp(min=0)
        final = scores.gather(0, last.view(1, batch, 1).expand(1, batch, k)).squeeze(0)
        current = (final + end).argmax(-1, keepdim=True)  # tag at each sentence's last word
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
