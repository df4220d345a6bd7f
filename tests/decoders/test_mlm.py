"""Masked language modelling's parts: what is hidden (BERT's rates, never a special token or
padding), the loss and perplexity against a hand computation, scores only at hidden positions,
and the head taken from the encoder with its projection tied to the input embeddings."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoTokenizer

from machamp_lite.data.masking import MaskingVocabulary, hide_tokens
from machamp_lite.data.tokenization import SubwordTokenizer, corrupt_sentences, subword_view
from machamp_lite.data.vocabulary import LabelVocabulary
from machamp_lite.decoders.mlm import HiddenTokenCodec, MaskedLanguageModel
from machamp_lite.errors import ConfigError
from machamp_lite.metrics.perplexity import Perplexity
from machamp_lite.modules.encoder import TransformerEncoder

SPECIAL = (0, 1, 2, 3, 4)  # pad, unk, cls, sep, mask in the tiny tokenizer's order


def vocabulary(size: int = 1000) -> MaskingVocabulary:
    ordinary = torch.tensor([i for i in range(size) if i not in SPECIAL])
    return MaskingVocabulary(mask_id=4, size=size, special_ids=SPECIAL, ordinary=ordinary)


def test_bert_rates_15_percent_hidden_of_which_80_mask_10_random_10_kept():
    ids = torch.randint(5, 1000, (200_000,), generator=torch.Generator().manual_seed(1))
    corrupted, targets = hide_tokens(ids, vocabulary(), torch.Generator().manual_seed(2))
    hidden = targets != -100
    assert hidden.float().mean().item() == pytest.approx(0.15, abs=0.003)
    assert torch.equal(targets[hidden], ids[hidden])  # the gold is the original id
    assert torch.equal(corrupted[~hidden], ids[~hidden])  # nothing else changes
    count = hidden.sum().item()
    as_mask = (corrupted[hidden] == 4).sum().item() / count
    kept = (corrupted[hidden] == ids[hidden]).sum().item() / count
    replaced = 1 - as_mask - kept
    assert as_mask == pytest.approx(0.8, abs=0.01)
    assert kept == pytest.approx(0.1, abs=0.01)  # (a random draw of the same id is rare)
    assert replaced == pytest.approx(0.1, abs=0.01)
    # A random replacement is an ordinary token, never a special one.
    random_ids = corrupted[hidden & (corrupted != 4) & (corrupted != ids)]
    assert not torch.isin(random_ids, torch.tensor(SPECIAL)).any()


def test_special_tokens_and_ids_outside_the_model_are_never_hidden():
    ids = torch.tensor(list(SPECIAL) * 2000 + [1000, 5000] * 1000)
    corrupted, targets = hide_tokens(ids, vocabulary(), torch.Generator().manual_seed(0))
    assert (targets == -100).all() and torch.equal(corrupted, ids)


def test_the_same_generator_state_hides_the_same_tokens_and_another_does_not():
    ids = torch.randint(5, 1000, (500,), generator=torch.Generator().manual_seed(0))
    first = hide_tokens(ids, vocabulary(), torch.Generator().manual_seed(3))
    again = hide_tokens(ids, vocabulary(), torch.Generator().manual_seed(3))
    other = hide_tokens(ids, vocabulary(), torch.Generator().manual_seed(4))
    assert torch.equal(first[1], again[1]) and torch.equal(first[0], again[0])
    assert not torch.equal(first[1], other[1])


@pytest.fixture(scope="module")
def subwords(tiny_model) -> SubwordTokenizer:
    return SubwordTokenizer(AutoTokenizer.from_pretrained(str(tiny_model)), 64)


def test_model_inputs_never_hide_the_special_tokens_or_padding(subwords):
    tokenizer = subwords.tokenizer
    texts = [["anna", "lives", "in", "berlin", "[MASK]", "[SEP]"], ["rome"]] * 50
    encoded = [subword_view(e) for e in subwords.encode_many(texts)]
    masking = MaskingVocabulary.from_tokenizer(tokenizer)
    assert masking.mask_id == tokenizer.mask_token_id and masking.size == len(tokenizer)
    assert not torch.isin(masking.ordinary, torch.tensor(tokenizer.all_special_ids)).any()
    assert len(masking.ordinary) == len(tokenizer) - len(tokenizer.all_special_ids)
    corrupted = corrupt_sentences(encoded, masking, torch.Generator().manual_seed(0))
    inputs = subwords.build_inputs(corrupted)
    targets, ids, index = inputs["masked_targets"], inputs["input_ids"], inputs["word_index"]
    assert (targets != -100).any()
    # Where a subword is read from, the gold is its original id; the rest of each row (the
    # special tokens around it and the padding) is exactly what the tokenizer would give.
    read = torch.zeros_like(ids, dtype=torch.bool)
    read.view(-1)[index[inputs["word_mask"]]] = True
    plain = subwords.build_inputs(encoded)["input_ids"]
    assert torch.equal(ids[~read], plain[~read])
    assert (targets[~inputs["word_mask"]] == -100).all()  # padding is never a target
    # Special tokens written in the text ("[MASK]", "[SEP]") are never hidden either.
    special = torch.tensor(tokenizer.all_special_ids)
    originals = plain.view(-1)[index[inputs["word_mask"]]]
    assert torch.isin(originals, special).any()
    assert (targets[inputs["word_mask"]][torch.isin(originals, special)] == -100).all()


def test_the_subword_view_makes_every_subword_a_word(subwords):
    [sentence] = subwords.encode_many([["unbelievably", "long", "words"]])
    view = subword_view(sentence)
    count = len(sentence.subword_ids)
    assert count > 3 and view.num_words == count
    assert view.word_starts == list(range(count)) and view.word_ends == list(range(1, count + 1))


def test_a_tokenizer_without_a_mask_token_is_one_clear_error(subwords):
    class NoMask:
        mask_token_id = None
        name_or_path = "gpt-like"

    with pytest.raises(ConfigError, match="no mask token"):
        MaskingVocabulary.from_tokenizer(NoMask())


def hand_decoder() -> MaskedLanguageModel:
    """A decoder over a 3-token vocabulary with a known projection."""
    decoder = MaskedLanguageModel(2, LabelVocabulary(["a", "b", "c"]))
    with torch.no_grad():
        decoder.head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        decoder.head.bias.zero_()
    return decoder


def nll(vector: list[float], gold: int) -> float:
    scores = [vector[0], vector[1], vector[0] + vector[1]]
    return math.log(sum(math.exp(s) for s in scores)) - scores[gold]


def test_loss_and_perplexity_match_a_hand_computation():
    decoder = hand_decoder()
    vectors = torch.tensor(
        [[[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], [[0.0, 1.0], [2.0, 2.0], [9, 9]]]
    )
    mask = torch.tensor([[True, True, True], [True, True, False]])
    # Sentence 1 hides positions 0 (gold c) and 2 (gold a); sentence 2 hides position 1 (b).
    gold = torch.tensor([[2, -100, 0], [-100, 1, 0]])  # the 0 in padding is ignored
    first = nll([1.0, 2.0], 2) + nll([3.0, 0.0], 0)
    second = nll([2.0, 2.0], 1)
    loss = decoder.loss(vectors, mask, gold)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-6)
    scores = decoder.decode(vectors, mask, masked_targets=gold)
    assert [len(s) for s in scores] == [2, 1]
    assert scores[0] == pytest.approx([nll([1.0, 2.0], 2), nll([3.0, 0.0], 0)], rel=1e-6)
    metric = Perplexity()
    metric.update([None, None], scores)
    result = metric.compute()
    mean = (first + second) / 3  # per hidden token, not per sentence
    assert result["perplexity"] == pytest.approx(math.exp(mean), rel=1e-6)
    assert result["score"] == pytest.approx(1 / math.exp(mean), rel=1e-6)
    assert result["hidden_tokens"] == 3


def test_scores_are_computed_only_at_hidden_positions():
    decoder = hand_decoder()
    seen = []
    decoder.head.register_forward_hook(lambda module, args, output: seen.append(args[0].shape))
    vectors = torch.randn(4, 30, 2)
    mask = torch.ones(4, 30, dtype=torch.bool)
    gold = torch.full((4, 30), -100)
    gold[0, 3], gold[2, 7], gold[2, 29] = 1, 0, 2
    decoder.loss(vectors, mask, gold)
    decoder.decode(vectors, mask, masked_targets=gold)
    assert seen == [torch.Size([3, 2]), torch.Size([3, 2])]


def test_a_batch_with_nothing_hidden_has_a_zero_loss_that_still_backpropagates():
    decoder = hand_decoder()
    vectors = torch.randn(2, 4, 2, requires_grad=True)
    loss = decoder.loss(vectors, torch.ones(2, 4, dtype=torch.bool), torch.full((2, 4), -100))
    assert loss.item() == 0.0
    loss.backward()  # no error: the step just changes nothing


def test_perplexity_of_nothing_and_its_direction():
    empty = Perplexity()
    empty.update([None], [[]])
    assert empty.compute() == {"perplexity": None, "score": 0.0, "hidden_tokens": 0}
    better, worse = Perplexity(), Perplexity()
    better.update([None], [[0.5, 1.0]])
    worse.update([None], [[2.0, 3.0]])
    assert better.compute()["perplexity"] < worse.compute()["perplexity"]
    assert better.compute()["score"] > worse.compute()["score"]  # higher is better in the sum
    with pytest.raises(ValueError, match="list of token losses"):
        Perplexity().update(["x"], ["positive"])


def test_the_codec_turns_hidden_ids_and_cloze_labels_into_targets():
    codec = HiddenTokenCodec()
    vocab = LabelVocabulary(["dog", "cat"])
    tensor = codec.to_tensor(vocab, [[7, -100, 3], codec.gold_to_targets([], "_ cat"), None], 4)
    assert tensor.tolist() == [[7, -100, 3, -100], [-100, 1, -100, -100], [-100] * 4]
    assert codec.targets_to_labels([], [None, "dog"]) == "_ dog"
    assert codec.targets_to_labels([], [0.5, 1.5]) == [0.5, 1.5]  # scores pass through
    assert codec.targets_to_labels([], []) == []  # a sentence with nothing hidden has none
    assert codec.vocabulary_items(None) == [] and codec.vocabulary_items([None, "dog"]) == ["dog"]


@pytest.mark.parametrize("pretrained", [True, False])
def test_the_head_comes_from_the_encoder_with_its_projection_tied(tiny_model, pretrained):
    encoder = TransformerEncoder(str(tiny_model), max_input_length=64, freeze_embeddings=True)
    decoder = MaskedLanguageModel(encoder.output_dim, LabelVocabulary([]))
    decoder.attach_encoder(encoder, pretrained)
    embeddings = encoder.transformer.get_input_embeddings().weight
    tied = [m for m in decoder.head.modules() if getattr(m, "weight", None) is embeddings]
    assert len(tied) == 1 and tied[0].weight.requires_grad is False  # frozen with embeddings
    # The tiny BERT was saved without a masked-LM head: the head is random, and says so.
    assert decoder.head_source.startswith("random") if pretrained else True
    scores = decoder.head(torch.randn(5, encoder.output_dim))
    assert scores.shape == (5, embeddings.shape[0])
    trainable = [p for p in decoder.head.parameters() if p.requires_grad]
    assert trainable  # the transform and the output bias still learn


def test_a_decoder_reading_more_than_the_encoder_vectors_is_refused(tiny_model):
    encoder = TransformerEncoder(str(tiny_model), max_input_length=64)
    decoder = MaskedLanguageModel(encoder.output_dim + 12, LabelVocabulary([]))
    with pytest.raises(ConfigError, match="dec_dataset_embed_idx"):
        decoder.attach_encoder(encoder, False)


def test_training_batches_hide_other_tokens_each_time_and_the_same_after_a_restore(subwords):
    """The batch builder corrupts afresh from torch's global generator (which checkpoints
    save): another draw hides other tokens, a restored state hides the same ones."""
    from types import SimpleNamespace

    from machamp_lite.training.batches import corrupted_rows

    texts = [["anna", "lives", "in", "berlin", "and", "rome"]] * 20
    split = SimpleNamespace(
        name="wiki",
        tasks=["m"],
        codecs={"m": HiddenTokenCodec()},
        encoded=[subword_view(e) for e in subwords.encode_many(texts)],
        masking=MaskingVocabulary.from_tokenizer(subwords.tokenizer),
    )
    parts = [(split, list(range(20)))]
    state = torch.get_rng_state()
    rows, hidden = corrupted_rows(parts)
    again, hidden_again = corrupted_rows(parts)
    assert hidden[(0, "m")] != hidden_again[(0, "m")]
    assert [r.masked_targets for r in rows] == hidden[(0, "m")]
    torch.set_rng_state(state)
    restored, hidden_restored = corrupted_rows(parts)
    assert hidden_restored == hidden
    assert [r.subword_ids for r in restored] == [r.subword_ids for r in rows]
