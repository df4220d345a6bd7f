"""Label codecs: what a task type does with its labels, apart from the network.

A decoder is a network; how its task's labels are read, checked, normalised, turned into what
the network learns, counted into a vocabulary, batched into tensors and turned back into labels
is a separate concern, and the reader, the trainer and the predictor need it before (or without)
any network exists. So each decoder class declares a codec (``codec = BioCodec()``) and the rest
of the library asks the codec, never the task type's name: a plugin decoder that declares a
built-in codec gets exactly the built-in behaviour (a plugin BIO tagger gets IOB1 -> IOB2
normalisation and complete B-/I- vocabularies, like ``seq_bio``).

Codecs hold no state beyond their settings, so one instance per decoder class is shared.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from ..data.vocabulary import LabelVocabulary
from ..errors import RegistryError
from ..registry import decoders

LEVELS = ("token", "sentence")
# A multi-label tagger's labels: single labels joined with SEPARATOR, NO_LABEL for none.
NO_LABEL = "_"
SEPARATOR = "|"
# The index that loss functions skip: padding, and labels never seen in training.
IGNORE = -100


class LabelCodec:
    """Labels learned as they are: one per word (``level="token"``) or one per sentence.

    ``label_width`` is how many adjacent columns, starting at the task's ``column_idx``, make up
    one label. With more than one (a parser's HEAD and DEPREL) readers join the fields with tabs
    and writers split predictions on tabs back into those columns. Starting at ``column_idx`` is
    MaChAmp's convention (its ``configs/ewt.json`` gives the HEAD column, 6 in CoNLL-U), so its
    dataset configs work unchanged.

    Subclasses override what differs for their task type; every method works on one sentence
    (``gold_to_targets``, ``targets_to_labels``, ``vocabulary_items``, ``normalise``) or one
    batch (``to_tensor``), so none of them needs the network.
    """

    # The reader's log line when ``normalise`` changed labels ({count} of them, task {task}).
    normalised_note = "{count} labels of task {task} normalised"

    # Abilities of tasks that are not plain labels of words or sentences, all off here; the
    # library asks the codec, never the task type's name (docs/new-decoder.md):
    # learns from raw text, one sentence per line (its dataset gets the raw_lines reader) ...
    reads_raw_text = False
    # ... with one vector per subword instead of per word (masked language modelling);
    subword_view = False
    # writes predictions into files (False: prediction and file scoring skip the task);
    produces_labels = True
    # a registered reader giving the task its own view of its dataset's files, read as a
    # dataset of its own beside the word tasks (tok: the pieces of each "# text");
    view_reader: str | None = None
    # the task key listing the label's columns when they need not be adjacent (probdistr).
    columns_key: str | None = None
    # A codec may also define ``corrupt(sentences, generator)``: the batch builder then hands
    # it each training batch's encoded sentences to corrupt (masked language modelling).

    def __init__(self, level: str = "token", label_width: int = 1):
        if level not in LEVELS:
            raise ValueError(f"a codec's level is 'token' or 'sentence', got {level!r}")
        if label_width < 1:
            raise ValueError(f"a codec's label_width is 1 or more, got {label_width}")
        self.level = level
        self.label_width = label_width

    def __repr__(self) -> str:
        return f"{type(self).__name__}(level={self.level!r}, label_width={self.label_width})"

    def validate(self, label: str) -> str | None:
        """An error message when ``label`` cannot be a label of this task type, else None.
        Readers call it on every label, so a bad file fails with its path and line number
        before training starts."""
        if label == "":
            return "the label is empty"
        return None

    def normalise(self, labels: Any) -> tuple[Any, int]:
        """One sentence's gold labels in the form the task learns, and how many were changed
        (the reader logs the count, so a silent rewrite of the data is never hidden)."""
        return labels, 0

    def gold_to_targets(self, words: Sequence[str], labels: Any) -> Any:
        """What the decoder learns for one sentence, from its words and gold labels: the labels
        themselves here; a lemmatiser learns edit scripts instead. Applied before vocabularies
        are built, so a vocabulary holds targets."""
        return labels

    def targets_to_labels(self, words: Sequence[str], targets: Any) -> Any:
        """The inverse of ``gold_to_targets``, for one sentence's predictions."""
        return targets

    def vocabulary_items(self, targets: Any) -> list[Any]:
        """The values of one sentence's targets that the label vocabulary counts: each label
        here. A multi-label tagger counts single labels, a parser only relations, a regressor
        nothing."""
        return targets if isinstance(targets, list) else [targets]

    def build_vocabulary(self, counts: Counter) -> LabelVocabulary:
        """The task's vocabulary from the training data's counted items, sorted so that it is
        the same on every run."""
        return LabelVocabulary.from_counts(counts)

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """A batch's targets as vocabulary indices: ``[sentences, num_words]`` padded with
        -100 (token level) or ``[sentences]`` (sentence level). A label unseen in training is
        -100 too, so the loss skips it instead of failing on a missing index."""
        index = vocabulary.index
        if self.level == "sentence":
            return torch.tensor([index.get(label, IGNORE) for label in targets], dtype=torch.long)
        tensor = torch.full((len(targets), num_words), IGNORE, dtype=torch.long)
        for i, labels in enumerate(targets):
            tensor[i, : len(labels)] = torch.tensor(
                [index.get(label, IGNORE) for label in labels], dtype=torch.long
            )
        return tensor


def bio_label_problem(label: str) -> str | None:
    """Why ``label`` is not an IOB2 tag (O, B-TYPE, I-TYPE), or None."""
    if label == "O":
        return None
    if len(label) > 2 and label[:2] in ("B-", "I-"):
        return None
    return (
        "expected a BIO tag: O, B-TYPE or I-TYPE (e.g. B-PER, I-PER). For BIOES or other "
        'schemes use task_type "seq"'
    )


def normalize_bio(labels: Sequence[str]) -> tuple[list[str], int]:
    """IOB1 (or span-initial ``I-``) to IOB2 with the same chunks under conlleval's rules:
    an ``I-X`` that starts a chunk becomes ``B-X``. Returns the labels and how many changed."""
    result, changed, previous = [], 0, "O"
    for label in labels:
        if label.startswith("I-") and (previous == "O" or previous[2:] != label[2:]):
            label = "B-" + label[2:]
            changed += 1
        result.append(label)
        previous = label
    return result, changed


class BioCodec(LabelCodec):
    """IOB2 tags per word (``O``, ``B-TYPE``, ``I-TYPE``), for span tasks such as NER.

    Gold data in IOB1 (a chunk may start with ``I-``) is rewritten to IOB2 with the same chunks,
    so that a BIO-constrained model never has to learn an ``O -> I-X`` transition. The
    vocabulary gets both the ``B-`` and the ``I-`` tag of every type seen, with ``O`` first, so
    that a CRF can produce a whole span of a type seen only as ``B-`` in training.
    """

    normalised_note = "{count} span-initial I- tags of task {task} read as B- (IOB1 -> IOB2)"

    def __init__(self) -> None:
        super().__init__(level="token")

    def validate(self, label: str) -> str | None:
        return bio_label_problem(label)

    def normalise(self, labels: Any) -> tuple[Any, int]:
        return normalize_bio(labels)

    def build_vocabulary(self, counts: Counter) -> LabelVocabulary:
        labels = set(counts)
        for label in list(labels):
            if label[:2] in ("B-", "I-"):
                labels.update({"B-" + label[2:], "I-" + label[2:]})
        labels.discard("O")
        # Grouped by type, B- before I-: the order archives were always saved in.
        return LabelVocabulary(["O"] + sorted(labels, key=lambda x: (x[2:], x[:2])))


def split_labels(label: str) -> list[str]:
    """The single labels of one word's ``|``-joined label; ``_`` has none."""
    return [] if label == NO_LABEL else label.split(SEPARATOR)


def join_labels(labels: Sequence[str]) -> str:
    """Labels joined with ``|`` in one stable order (case-insensitive, as UD sorts FEATS), or
    ``_`` when there are none."""
    if not labels:
        return NO_LABEL
    return SEPARATOR.join(sorted(set(labels), key=lambda x: (x.lower(), x)))


class MultiLabelCodec(LabelCodec):
    """Several labels per word, ``|``-joined (``Case=Nom|Number=Sing``), ``_`` for none.

    Targets are each word's list of single labels and the vocabulary holds single labels, so a
    combination unseen in training can still be predicted. The tensor is multi-hot.
    """

    def __init__(self) -> None:
        super().__init__(level="token")

    def validate(self, label: str) -> str | None:
        if label == "":
            return "the label is empty"
        if label == NO_LABEL:
            return None
        parts = label.split(SEPARATOR)
        if any(part == "" for part in parts):
            return 'an empty label between "|" separators'
        if NO_LABEL in parts:
            return '"_" (no label) cannot be combined with other labels'
        return None

    def gold_to_targets(self, words: Sequence[str], labels: Any) -> Any:
        return [split_labels(label) for label in labels]

    def targets_to_labels(self, words: Sequence[str], targets: Any) -> Any:
        # Decoders already predict joined strings; lists (gold targets) are joined here.
        return [t if isinstance(t, str) else join_labels(t) for t in targets]

    def vocabulary_items(self, targets: Any) -> list[Any]:
        return [label for word in targets for label in word]

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """``[sentences, num_words, labels]`` of 0/1; labels unseen in training are left out
        (their logits do not exist), padding is masked by the loss."""
        index = vocabulary.index
        tensor = torch.zeros(len(targets), num_words, len(vocabulary))
        for i, sentence in enumerate(targets):
            for j, word in enumerate(sentence):
                for label in word:
                    k = index.get(label)
                    if k is not None:
                        tensor[i, j, k] = 1.0
        return tensor


def split_arc(label: str) -> tuple[str, str]:
    """``"HEAD\\tDEPREL"`` (a dependency label) as (head, deprel)."""
    head, _, relation = str(label).partition("\t")
    return head.strip(), relation.strip()


class ArcCodec(LabelCodec):
    """A head and a relation per word, read as ``"HEAD\\tDEPREL"`` from the task's
    ``column_idx`` (the HEAD column: 6 in CoNLL-U, as in MaChAmp) and the column after it.

    Heads count words from 1 and 0 is the root; the vocabulary holds relations only, since
    heads are positions, not classes.
    """

    def __init__(self) -> None:
        super().__init__(level="token", label_width=2)

    def validate(self, label: str) -> str | None:
        head, separator, relation = label.partition("\t")
        if not separator:
            return "expected a head and a relation (the head column and the deprel column)"
        if not head.isdigit():
            return (
                f"the head {head!r} is not a word number (0 for the root, 1 for the first "
                "word, ...); multiword tokens and empty nodes are skipped"
            )
        if relation in ("", "_"):
            return "the relation (deprel) is missing"
        return None

    def vocabulary_items(self, targets: Any) -> list[Any]:
        return [split_arc(label)[1] for label in targets]

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        """``[sentences, num_words, 2]``: the head (0 = root) and the relation index of each
        word; -100 for padding, relations unseen in training, and heads outside the sentence."""
        index = vocabulary.index
        tensor = torch.full((len(targets), num_words, 2), IGNORE, dtype=torch.long)
        for i, sentence in enumerate(targets):
            for j, label in enumerate(sentence):
                head, relation = split_arc(label)
                if head.isdigit() and int(head) <= len(sentence):
                    tensor[i, j, 0] = int(head)
                tensor[i, j, 1] = index.get(relation, IGNORE)
        return tensor


class NumberCodec(LabelCodec):
    """One real number per sentence, read as a string and learned as a float.

    Nothing is counted into the vocabulary, so numbers in dev data are never reported as labels
    unseen in training.
    """

    def __init__(self) -> None:
        super().__init__(level="sentence")

    def validate(self, label: str) -> str | None:
        try:
            value = float(label)
        except ValueError:
            return "expected a number (e.g. 3.5 or -1e-3) for a regression task"
        if not math.isfinite(value):
            return "expected a finite number for a regression task (not nan or inf)"
        return None

    def vocabulary_items(self, targets: Any) -> list[Any]:
        return []

    def to_tensor(self, vocabulary: LabelVocabulary, targets: list, num_words: int) -> torch.Tensor:
        return torch.tensor([float(value) for value in targets], dtype=torch.float32)


KEEP_CASE = "K"
LOWERCASE = "L"
_SCRIPT = re.compile(r"^([KL])(\d+)\+(.*)$", re.DOTALL)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def edit_script(word: str, target: str) -> str:
    """The script that turns ``word`` into ``target``: ``<case><cut>+<append>``.

    ``case`` is ``K`` (keep the word as it is) or ``L`` (lowercase it first), ``cut`` how many
    characters to drop from the end, ``append`` the string to add. ``went -> go`` is ``K4+go``,
    ``Dogs -> dog`` is ``L1+``, ``geese -> goose`` is ``K4+oose``. Of the two casings the one
    needing the shorter edit wins (keep on a tie). Always invertible: ``target`` is the cased
    word's longest common prefix with it plus the appended rest.
    """
    best: tuple[int, str] | None = None
    for case, source in ((KEEP_CASE, word), (LOWERCASE, word.lower())):
        shared = _common_prefix(source, target)
        cost = (len(source) - shared) + (len(target) - shared)
        if best is None or cost < best[0]:
            best = (cost, f"{case}{len(source) - shared}+{target[shared:]}")
    assert best is not None
    return best[1]


def apply_script(word: str, script: Any) -> str:
    """``word`` edited by ``script``; the word itself when the script does not parse, does not
    fit the word (it cuts more characters than there are) or would leave nothing."""
    match = _SCRIPT.match(script) if isinstance(script, str) else None
    if match is None:
        return word
    case, cut, append = match.group(1), int(match.group(2)), match.group(3)
    source = word.lower() if case == LOWERCASE else word
    if cut > len(source):
        return word
    result = source[: len(source) - cut] + append
    return result or word


class EditScriptCodec(LabelCodec):
    """A string per word derived from the word (a lemma), learned as the edit script that turns
    the word into it: the set of lemmas is open, the ways a word becomes its lemma are few."""

    def __init__(self) -> None:
        super().__init__(level="token")

    def gold_to_targets(self, words: Sequence[str], labels: Any) -> Any:
        return [edit_script(word, label) for word, label in zip(words, labels)]

    def targets_to_labels(self, words: Sequence[str], targets: Any) -> Any:
        return [apply_script(word, script) for word, script in zip(words, targets)]


def codec_for(task_type: str, where: str | None = None) -> LabelCodec:
    """The codec of a registered task type: all the reader, the trainer and the predictor need
    to know about its labels, without naming the task type or building its network."""
    component = decoders.get(task_type, where=where or "")
    codec = getattr(component, "codec", None)
    if not isinstance(codec, LabelCodec):
        location = f" (in {where})" if where else ""
        raise RegistryError(
            f"decoder {task_type!r}{location} declares no label codec: its class needs "
            "a class attribute such as codec = LabelCodec() (see docs/new-decoder.md)"
        )
    return codec
