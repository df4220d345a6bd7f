"""Tiny real models for tests and benchmarks: a WordPiece tokenizer trained on the fly and a
small BERT with random weights, saved as a Hugging Face folder. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent


TINY_SIZES = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}
# xlm-roberta-large's sizes (560M parameters, 256M of them in the embedding matrix). Built as a
# BERT: the layers compute the same; RoBERTa differs only in how it numbers positions.
XLMR_LARGE_SIZES = {
    "vocab_size": 250002,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
}


def build_tiny_model(folder: Path, texts: list[str], vocab_size: int = 400, seed: int = 0) -> Path:
    """A real Hugging Face model folder: a WordPiece tokenizer trained on ``texts`` and a
    2-layer BERT with random weights, saved with save_pretrained."""
    return build_random_model(folder, texts, vocab_size, TINY_SIZES, seed)


def build_random_model(
    folder: Path,
    texts: list[str],
    tokenizer_vocab_size: int,
    sizes: dict[str, int],
    seed: int = 0,
) -> Path:
    """A Hugging Face folder with a WordPiece tokenizer trained on ``texts`` and a BERT of the
    given ``sizes`` with random weights. Speed and memory do not depend on the weights, so a
    model of a large encoder's sizes measures that encoder without downloading it. Without
    ``vocab_size`` in ``sizes`` the embedding matrix has the tokenizer's rows."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=tokenizer_vocab_size,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[
            ("[CLS]", tokenizer.token_to_id("[CLS]")),
            ("[SEP]", tokenizer.token_to_id("[SEP]")),
        ],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=sizes["max_position_embeddings"],
    )
    torch.manual_seed(seed)
    settings: dict[str, Any] = {"vocab_size": tokenizer.get_vocab_size(), **sizes}
    config = BertConfig(**settings, pad_token_id=tokenizer.token_to_id("[PAD]"))
    model = BertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def demo_texts() -> list[str]:
    """Text of the demo data in data/demo (in a source checkout), to train a tokenizer on."""
    texts = []
    for path in (ROOT / "data" / "demo").glob("*"):
        if path.suffix in (".conll", ".tsv"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.startswith("# id"):
                    texts.append(line.split()[0])
    return [" ".join(texts[i : i + 20]) for i in range(0, len(texts), 20)]


def random_word_batch(
    lengths: list[int], dim: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random word vectors ``[batch, words, dim]`` and the left-aligned mask of ``lengths``:
    what a decoder receives from the encoder, for decoder unit tests."""
    torch.manual_seed(seed)
    vectors = torch.randn(len(lengths), max(lengths), dim)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    return vectors, mask
