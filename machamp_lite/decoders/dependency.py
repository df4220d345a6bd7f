"""``dependency``: a biaffine graph-based parser (Dozat & Manning 2017) decoded into trees."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from ..config import POSITIVE_INT
from ..data.vocabulary import LabelVocabulary
from ..modules.mst import maximum_spanning_tree
from ..registry import decoders
from .base import Decoder
from .codecs import ArcCodec


def _mlp(input_dim: int, output_dim: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(input_dim, output_dim), nn.LeakyReLU(0.1), nn.Dropout(dropout))


@decoders.register("dependency")
class BiaffineDependencyParser(Decoder):
    """Head selection with biaffine arc scores, relations from a biaffine label scorer, and a
    maximum spanning tree at prediction so that every output is a well-formed tree.

    Data: the task's ``column_idx`` is the HEAD column (6 in CoNLL-U, as in MaChAmp's
    ``configs/ewt.json``) and the relation is read from the column after it (the codec's
    ``label_width`` is 2), so a label is ``"HEAD\\tDEPREL"`` and predictions are written back
    into both columns. A config that names the DEPREL column (7, machamp-lite's convention before
    MaChAmp's) is refused with the value to use. Multiword-token and empty-node lines are not
    words; heads count words from 1, 0 is the root.

    Model: each word gets a dependent and a head representation from two small MLPs; a learned
    ROOT vector stands in as position 0 so that "attach to root" is scored like any other head.
    ``score(d, h) = dep_d^T W head_h + u^T head_h`` (the second term is a prior for words that
    tend to be heads). Relations are scored from separate MLPs by a bilinear plus a linear term
    on (dependent, head). Separate MLPs for arcs and relations keep the two decisions from
    competing for one representation.

    Loss: cross-entropy of each word's head over all positions, plus cross-entropy of its
    relation given its GOLD head (teacher forcing), summed over the sentence's words, mean over
    sentences. Prediction: Chu-Liu-Edmonds over the arc log-probabilities (non-projective
    trees, as UD allows), then each word's best relation for its predicted head. With
    ``single_root`` (default) the root has exactly one child, as UD requires; set it to false
    for data whose sentences may have several root words.
    """

    argument_limits = {"arc_dim": POSITIVE_INT, "relation_dim": POSITIVE_INT}
    # MaChAmp's names of the two MLP widths, read as these (config_machamp).
    machamp_argument_names = {
        "arc_representation_dim": "arc_dim",
        "tag_representation_dim": "relation_dim",
    }

    codec = ArcCodec()
    default_metric = "las"

    def __init__(
        self,
        input_dim: int,
        vocabulary: LabelVocabulary,
        dropout: float = 0.0,
        arc_dim: int = 256,
        relation_dim: int = 128,
        single_root: bool = True,
    ):
        super().__init__(input_dim, vocabulary)
        self.single_root = single_root
        self.dropout = nn.Dropout(dropout)
        self.root = nn.Parameter(torch.randn(input_dim) * 0.02)
        self.arc_dependent = _mlp(input_dim, arc_dim, dropout)
        self.arc_head = _mlp(input_dim, arc_dim, dropout)
        self.arc_weight = nn.Parameter(torch.empty(arc_dim, arc_dim))
        self.arc_head_bias = nn.Parameter(torch.zeros(arc_dim))
        nn.init.xavier_uniform_(self.arc_weight)
        self.relation_dependent = _mlp(input_dim, relation_dim, dropout)
        self.relation_head = _mlp(input_dim, relation_dim, dropout)
        self.relation_bilinear = nn.Bilinear(relation_dim, relation_dim, len(vocabulary))
        self.relation_linear = nn.Linear(2 * relation_dim, len(vocabulary), bias=False)

    def _with_root(self, vectors: torch.Tensor) -> torch.Tensor:
        root = self.root.to(vectors.dtype).expand(vectors.shape[0], 1, -1)
        return torch.cat([root, vectors], dim=1)

    def _arc_scores(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(sentences, words, 1 + words): score of each position (0 = root) as head of each
        word; padding and self-loops get -inf."""
        dependents = self.arc_dependent(vectors).float()
        heads = self.arc_head(self._with_root(vectors)).float()
        scores = dependents @ self.arc_weight @ heads.transpose(1, 2)
        scores = scores + (heads @ self.arc_head_bias).unsqueeze(1)
        n = vectors.shape[1]
        head_mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        positions = torch.arange(n + 1, device=vectors.device)
        self_loop = positions[1:].unsqueeze(1) == positions.unsqueeze(0)  # word j is position j+1
        forbidden = ~head_mask.unsqueeze(1) | self_loop.unsqueeze(0)
        return scores.masked_fill(forbidden, float("-inf"))

    def _relation_scores(self, vectors: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
        """(sentences, words, relations) for each word attached to ``heads`` (positions with
        0 = root)."""
        dependents = self.relation_dependent(vectors)
        candidates = self.relation_head(self._with_root(vectors))
        index = heads.clamp(min=0).unsqueeze(-1).expand(-1, -1, candidates.shape[-1])
        chosen = candidates.gather(1, index)
        both = torch.cat([dependents, chosen], dim=-1)
        return (
            self.relation_bilinear(dependents.contiguous(), chosen.contiguous())
            + self.relation_linear(both)
        ).float()

    def loss(self, vectors: torch.Tensor, mask: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        vectors = self.dropout(vectors)
        gold_heads = gold[..., 0].masked_fill(~mask, -100)
        gold_relations = gold[..., 1].masked_fill(~mask | (gold_heads < 0), -100)
        arc_scores = self._arc_scores(vectors, mask)
        arc_loss = functional.cross_entropy(
            arc_scores.transpose(1, 2), gold_heads, ignore_index=-100, reduction="none"
        )
        relation_scores = self._relation_scores(vectors, gold_heads)
        relation_loss = functional.cross_entropy(
            relation_scores.transpose(1, 2), gold_relations, ignore_index=-100, reduction="none"
        )
        return (arc_loss + relation_loss).sum(dim=1).mean()

    @torch.no_grad()
    def decode(self, vectors: torch.Tensor, mask: torch.Tensor) -> list[list[str]]:
        """Per sentence, one ``"HEAD\\tDEPREL"`` string per word, forming a tree."""
        log_probs = self._arc_scores(vectors, mask).log_softmax(dim=-1)
        lengths = mask.sum(dim=1).tolist()
        matrices = log_probs.double().cpu().numpy()
        heads = torch.zeros(mask.shape, dtype=torch.long)
        for i, n in enumerate(lengths):
            # [head, dependent] over root + words, as the tree search expects; nothing enters
            # the root (column 0).
            matrix = np.full((n + 1, n + 1), -np.inf)
            matrix[:, 1:] = matrices[i, :n, : n + 1].T
            heads[i, :n] = torch.tensor(
                maximum_spanning_tree(matrix, single_root=self.single_root), dtype=torch.long
            )
        relations = self._relation_scores(vectors, heads.to(vectors.device)).argmax(-1).tolist()
        names = self.vocabulary.labels
        heads_list = heads.tolist()
        return [
            [f"{heads_list[i][j]}\t{names[relations[i][j]]}" for j in range(n)]
            for i, n in enumerate(lengths)
        ]
