"""Shared fixtures: a tiny BERT built inside the tests (random weights, a WordPiece tokenizer
trained on the fly), small data files, and the paths to ../shared when it is present."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
DEMO = ROOT / "data" / "demo"

torch.set_num_threads(2)  # the CI machines have 2 cores; more threads only add contention
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_tiny_model(folder: Path, texts: list[str], vocab_size: int = 400, seed: int = 0) -> Path:
    """A real Hugging Face model folder: a WordPiece tokenizer trained on ``texts`` and a
    2-layer BERT with random weights, saved with save_pretrained."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    from tokenizers import processors

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
        model_max_length=64,
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def demo_texts() -> list[str]:
    texts = []
    for path in DEMO.glob("*"):
        if path.suffix in (".conll", ".tsv"):
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.startswith("# id"):
                    texts.append(line.split()[0])
    return [" ".join(texts[i : i + 20]) for i in range(0, len(texts), 20)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a tiny random BERT whose tokenizer was trained on the demo data."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"), demo_texts())


@pytest.fixture
def tiny_params(tmp_path, tiny_model) -> Path:
    """A parameter config for fast tests: tiny model, 2 epochs, small batches."""
    params = {
        "transformer_model": str(tiny_model),
        "encoder": {"max_input_length": 64},
        "batching": {"batch_size": 16, "max_tokens": 1024},
        "training": {"num_epochs": 2, "optimizer": {"lr": 0.001, "decoder_lr": 0.01}},
    }
    path = tmp_path / "params.json"
    path.write_text(json.dumps(params), encoding="utf-8")
    return path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


@pytest.fixture(scope="session")
def real_models() -> dict[str, str]:
    """Paths of the real offline encoders: $ME5_SMALL / $MINILM, else ../shared/tools/get-models."""
    found = {k: os.environ[k] for k in ("ME5_SMALL", "MINILM") if os.environ.get(k)}
    if len(found) == 2:
        return found
    script = SHARED / "tools" / "get-models"
    if not script.exists():
        pytest.skip(
            "../shared/tools/get-models is absent (no shared folder beside the checkout), "
            "and ME5_SMALL/MINILM are not set"
        )
    output = subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), value.strip())
    return found


def needs_shared_data():
    return pytest.mark.skipif(
        not SHARED_DATA.is_dir(),
        reason="../shared/data is absent: the real MultiCoNER/DaN+ files live there",
    )
