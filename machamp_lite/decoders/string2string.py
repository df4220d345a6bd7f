"""``string2string``: a string per word derived from the word itself (lemmas, normalisations),
learned as edit scripts."""

from __future__ import annotations

from ..registry import decoders
from .codecs import EditScriptCodec
from .softmax_tagger import SoftmaxTagger


@decoders.register("string2string")
class StringTransducer(SoftmaxTagger):
    """A softmax over edit scripts, one per word (UDPipe/MaChAmp-style lemmatisation).

    Why scripts and not strings: the set of lemmas is open, but the ways a word becomes its
    lemma are few (``-s`` off, ``-ies`` to ``-y``, lowercase, ...), so a classifier over
    scripts generalises to unseen words. The codec (``EditScriptCodec``) turns (word, label)
    pairs into scripts before the vocabulary is built, and applies a predicted script to its
    word. Scripts are casing (keep or lowercase) + characters cut from the end + a
    string appended: compact, and exactly invertible for any pair (an irregular form is simply
    cut whole and its target appended). Only scripts seen in training can be predicted; one
    that does not fit a word falls back to the word itself. The metric compares final strings.
    """

    codec = EditScriptCodec()
    default_metric = "accuracy"
