"""Dataset embeddings: a learned vector per dataset, telling the network where a sentence
comes from (MaChAmp's ``dataset_embed_idx`` and ``dec_dataset_embed_idx``).

Datasets trained together differ in domain, language or annotation guidelines; a vector that
names the source lets one shared model keep their differences apart instead of averaging
them away (Ammar et al., 2016; Stymne et al., 2018; van der Goot and de Lhoneux, 2021). The
model gives each sentence the index of its dataset in its dataset table; only the datasets
whose config asks for an embedding own a learned row, and every other dataset reads a zero
vector, so it sees exactly what it would without the feature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class DatasetEmbedding(nn.Module):
    """A vector of size ``dim`` per embedded dataset; zeros for the others."""

    row_of: torch.Tensor

    def __init__(self, num_datasets: int, embedded: Sequence[int], dim: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"a dataset embedding needs a size of at least 1, got {dim}")
        embedded = sorted(set(embedded))
        if not embedded or embedded[0] < 0 or embedded[-1] >= num_datasets:
            raise ValueError(f"embedded datasets {embedded} out of range of {num_datasets}")
        self.dim = dim
        self.embedded = embedded
        zero_row = len(embedded)
        # Which row each dataset reads: its own, or the last one, which is zero and stays zero
        # (padding_idx gets no gradient). Not saved: the configs rebuild it.
        row_of = torch.full((num_datasets,), zero_row, dtype=torch.long)
        row_of[torch.tensor(embedded)] = torch.arange(len(embedded))
        self.register_buffer("row_of", row_of, persistent=False)
        self.table = nn.Embedding(len(embedded) + 1, dim, padding_idx=zero_row)
        with torch.no_grad():
            # Xavier-uniform as MaChAmp initialises its dataset embedder: the vectors start on
            # the scale of the inputs they join, not as large unit-variance noise.
            nn.init.xavier_uniform_(self.table.weight)
            self.table.weight[zero_row] = 0.0

    def forward(self, dataset_ids: torch.Tensor) -> torch.Tensor:
        """``[batch]`` dataset indices to ``[batch, dim]`` vectors."""
        return self.table(self.row_of[dataset_ids])
