"""What masked language modelling hides, and with what: BERT's recipe over flat token ids.

Kept apart from the tokenizer so that the random choice can be tested on plain tensors: which
ids may be hidden (never a special token: a mask, a separator, padding, the unknown token), how
many (15% of the others), and what replaces them (80% the mask token, 10% a random ordinary
token, 10% the token itself, so that the model cannot learn that only mask tokens need
predicting).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import ConfigError

# Loss functions skip this target: a position that was not hidden.
NOT_HIDDEN = -100
# BERT's rates (Devlin et al., 2019), which MaChAmp's mlm task uses as well.
HIDE_RATE = 0.15
AS_MASK = 0.8
AS_RANDOM = 0.1


@dataclass(frozen=True)
class MaskingVocabulary:
    """The token ids masking needs, read from the tokenizer once (training releases the
    tokenizer after encoding, and the batches are corrupted afterwards).

    ``size`` bounds the ids that may be hidden and drawn: the smaller of the tokenizer's and
    the model's vocabularies, so that no target falls outside the prediction head."""

    mask_id: int
    size: int
    special_ids: tuple[int, ...]
    ordinary: torch.Tensor = field(repr=False, compare=False)

    @classmethod
    def from_tokenizer(cls, tokenizer, model_vocab_size: int | None = None) -> MaskingVocabulary:
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise ConfigError(
                f"transformer_model {getattr(tokenizer, 'name_or_path', '?')!r}: its tokenizer "
                "has no mask token, which masked language modelling needs; use an encoder "
                "trained with one (BERT, RoBERTa, XLM-R, ...)"
            )
        size = len(tokenizer)
        if model_vocab_size:
            size = min(size, int(model_vocab_size))
        special = tuple(sorted({int(i) for i in tokenizer.all_special_ids}))
        keep = torch.ones(size, dtype=torch.bool)
        keep[[i for i in special if i < size]] = False
        ordinary = torch.arange(size, dtype=torch.long)[keep]
        if len(ordinary) == 0:
            raise ConfigError("the tokenizer has no ordinary tokens to predict")
        return cls(int(mask_id), size, special, ordinary)


def hide_tokens(
    ids: torch.Tensor, vocabulary: MaskingVocabulary, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(corrupted ids, targets) for a flat LongTensor of token ids: targets hold the original
    id where a token was hidden and ``NOT_HIDDEN`` elsewhere.

    The same number of random draws is made whatever the ids are, so a given generator state
    always leads to the same choice; ``generator`` None draws from torch's global generator
    (which checkpoints save, so a resumed run hides what the uninterrupted one did)."""
    count = ids.numel()
    chosen_draw = torch.rand(count, generator=generator)
    kind_draw = torch.rand(count, generator=generator)
    random_pick = torch.randint(len(vocabulary.ordinary), (count,), generator=generator)
    special = torch.tensor(vocabulary.special_ids, dtype=ids.dtype)
    eligible = ~torch.isin(ids, special) & (ids >= 0) & (ids < vocabulary.size)
    chosen = eligible & (chosen_draw < HIDE_RATE)
    corrupted = ids.clone()
    as_mask = chosen & (kind_draw < AS_MASK)
    as_random = chosen & (kind_draw >= AS_MASK) & (kind_draw < AS_MASK + AS_RANDOM)
    corrupted[as_mask] = vocabulary.mask_id
    corrupted[as_random] = vocabulary.ordinary[random_pick[as_random]]
    targets = torch.where(chosen, ids, torch.full_like(ids, NOT_HIDDEN))
    return corrupted, targets
