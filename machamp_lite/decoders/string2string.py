"""``string2string``: a string per word derived from the word itself (lemmas, normalisations),
learned as edit scripts."""

from __future__ import annotations

import re

from ..registry import decoders
from .softmax_tagger import SoftmaxTagger

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
    best = None
    for case, source in ((KEEP_CASE, word), (LOWERCASE, word.lower())):
        shared = _common_prefix(source, target)
        cost = (len(source) - shared) + (len(target) - shared)
        if best is None or cost < best[0]:
            best = (cost, f"{case}{len(source) - shared}+{target[shared:]}")
    return best[1]


def apply_script(word: str, script: str) -> str:
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


@decoders.register("string2string")
class StringTransducer(SoftmaxTagger):
    """A softmax over edit scripts, one per word (UDPipe/MaChAmp-style lemmatisation).

    Why scripts and not strings: the set of lemmas is open, but the ways a word becomes its
    lemma are few (``-s`` off, ``-ies`` to ``-y``, lowercase, ...), so a classifier over
    scripts generalises to unseen words. ``gold_to_targets`` turns (word, label) pairs into
    scripts before the vocabulary is built; ``targets_to_labels`` applies the predicted script
    to the word. Scripts are casing (keep or lowercase) + characters cut from the end + a
    string appended: compact, and exactly invertible for any pair (an irregular form is simply
    cut whole and its target appended). Only scripts seen in training can be predicted; one
    that does not fit a word falls back to the word itself. The metric compares final strings.
    """

    level = "token"
    default_metric = "accuracy"

    @classmethod
    def gold_to_targets(cls, words, labels):
        return [edit_script(word, label) for word, label in zip(words, labels)]

    @classmethod
    def targets_to_labels(cls, words, predicted):
        return [apply_script(word, script) for word, script in zip(words, predicted)]
