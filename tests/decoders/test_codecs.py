"""Label codecs: plain and BIO labels, the lookup by task type, and the seam itself: a decoder's
codec is all the reader needs, so a plugin decoder that declares a built-in codec gets the
built-in behaviour. The codecs of the other task types are tested with their decoders."""

from __future__ import annotations

from collections import Counter

import pytest

from machamp_lite.data.dataset import read_dataset_file, task_columns
from machamp_lite.decoders.base import Decoder
from machamp_lite.decoders.codecs import BioCodec, LabelCodec, codec_for, split_arc
from machamp_lite.decoders.crf_tagger import CrfTagger
from machamp_lite.decoders.softmax_tagger import SoftmaxTagger
from machamp_lite.errors import RegistryError
from machamp_lite.registry import decoders, load_plugins

BIO = BioCodec()


@pytest.fixture
def registry(monkeypatch):
    """The decoder registry with the built-ins; what a test registers is undone afterwards."""
    load_plugins()
    monkeypatch.setattr(decoders, "_entries", dict(decoders._entries))
    return decoders


def test_codec_for_gives_the_decoders_codec_and_names_the_place_of_an_unknown_type(registry):
    assert codec_for("seq_bio") is CrfTagger.codec
    assert codec_for("seq").level == "token"
    assert codec_for("classification").level == "sentence"
    with pytest.raises(RegistryError, match=r"unknown decoder 'nope' \(in a.json, task 'x'\)"):
        codec_for("nope", where="a.json, task 'x'")
    registry.register("no_codec")(lambda input_dim, vocabulary: None)
    with pytest.raises(RegistryError, match="declares no label codec"):
        codec_for("no_codec")


def test_a_codec_has_a_known_level_and_width():
    with pytest.raises(ValueError, match="'token' or 'sentence'"):
        LabelCodec(level="word")
    with pytest.raises(ValueError, match="1 or more"):
        LabelCodec(label_width=0)


def test_plain_labels_are_indices_padded_and_unseen_ones_are_ignored():
    codec = LabelCodec()
    vocabulary = codec.build_vocabulary(Counter(["VERB", "DET", "NOUN", "DET"]))
    assert vocabulary.labels == ["DET", "NOUN", "VERB"]  # sorted, the same on every run
    assert codec.validate("") == "the label is empty" and codec.validate("X") is None
    tensor = codec.to_tensor(vocabulary, [["NOUN", "NEW"], ["VERB"]], 3)
    assert tensor.tolist() == [[1, -100, -100], [2, -100, -100]]
    sentences = LabelCodec(level="sentence")
    assert sentences.to_tensor(vocabulary, ["VERB", "NEW"], 5).tolist() == [2, -100]
    assert sentences.vocabulary_items("VERB") == ["VERB"]


def test_bio_labels_are_checked_with_a_message_naming_the_scheme():
    for good in ("O", "B-PER", "I-LOC-deriv"):
        assert BIO.validate(good) is None
    for bad in ("PER", "B-", "X-Y", "E-PER", ""):
        assert "BIO" in BIO.validate(bad)


def test_bio_normalisation_turns_iob1_into_iob2_and_counts_the_changes():
    labels = ["I-X", "I-X", "B-X", "I-Y", "O", "I-Y"]
    assert BIO.normalise(labels) == (["B-X", "I-X", "B-X", "B-Y", "O", "B-Y"], 3)
    assert BIO.normalise(["B-X", "I-X", "O"]) == (["B-X", "I-X", "O"], 0)
    assert LabelCodec().normalise(["I-X"]) == (["I-X"], 0)  # only BIO tasks are rewritten


def test_a_bio_vocabulary_has_o_first_and_both_tags_of_every_type():
    vocabulary = BIO.build_vocabulary(Counter(["I-PER", "B-LOC", "O", "B-ORG", "B-LOC"]))
    assert vocabulary.labels == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert BIO.build_vocabulary(Counter()).labels == ["O"]


def test_a_dependency_label_splits_into_head_and_relation():
    assert split_arc("2\tnmod:poss") == ("2", "nmod:poss")
    assert split_arc(" 0 \t root ") == ("0", "root")
    assert split_arc("5") == ("5", "")


def test_a_decoder_that_describes_its_labels_the_old_way_is_refused():
    with pytest.raises(TypeError, match="codec = LabelCodec"):

        class Sentences(Decoder):
            level = "sentence"

    with pytest.raises(TypeError, match="belongs to a LabelCodec"):

        class Checked(Decoder):
            @staticmethod
            def validate_label(label):
                return None

    class Restated(Decoder):  # saying what the codec says is harmless
        level = "token"

    assert Restated.level == "token"


def test_a_plugin_decoder_with_the_bio_codec_gets_iob2_labels_from_the_reader(
    registry, tmp_path, caplog
):
    @registry.register("seq_plugin_bio")
    class PluginBio(SoftmaxTagger):
        codec = BioCodec()

    path = tmp_path / "train.conll"
    path.write_text("Anna\tI-PER\nSmith\tI-PER\nsings\tO\n\n", encoding="utf-8")
    dataset = {
        "name": "d",
        "source": "d.json",
        "word_idx": 0,
        "separator": "tab",
        "tasks": {"ner": {"task_type": "seq_plugin_bio", "column_idx": 1}},
    }
    [column] = task_columns(dataset)
    assert (column.level, column.width) == ("token", 1)
    assert column.validate("PER") == BIO.validate("PER")
    with caplog.at_level("INFO"):
        [sentence] = read_dataset_file(dataset, str(path))
    assert sentence.labels["ner"] == ["B-PER", "I-PER", "O"]
    assert "1 span-initial I- tags of task ner read as B- (IOB1 -> IOB2)" in caplog.text


def test_a_wide_label_starts_at_column_idx_and_a_sentence_label_comes_from_a_comment(
    registry, tmp_path
):
    """MaChAmp's column conventions follow the codec, not the task type's name: a plugin codec
    of three columns reads them from column_idx on, and a plugin sentence-level codec beside
    it reads its label from the comment named after its task."""

    class Triple(LabelCodec):
        def validate(self, label: str) -> str | None:
            return None if label.count("\t") == 2 and label[0].isdigit() else "not a triple"

    @registry.register("triple_plugin")
    class TripleTagger(SoftmaxTagger):
        codec = Triple(label_width=3)

    @registry.register("sentence_plugin")
    class SentencePlugin(SoftmaxTagger):
        codec = LabelCodec(level="sentence")

    path = tmp_path / "train.conll"
    path.write_text("# mood: calm\nsun 1 a x\nrain 2 b y\n\n", encoding="utf-8")
    dataset = {
        "name": "d",
        "source": "d.json",
        "word_idx": 0,
        "tasks": {
            "triple": {"task_type": "triple_plugin", "column_idx": 1},
            "mood": {"task_type": "sentence_plugin", "column_idx": -1},
        },
    }
    triple, mood = task_columns(dataset)
    assert triple.columns == [1, 2, 3] and (mood.level, mood.columns) == ("sentence", [-1])
    [sentence] = read_dataset_file(dataset, str(path))
    assert sentence.labels == {"triple": ["1\ta\tx", "2\tb\ty"], "mood": "calm"}
