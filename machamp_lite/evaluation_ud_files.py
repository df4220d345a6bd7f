"""Reading a CoNLL-U file as the CoNLL 2018 shared task's scorer reads it: the text of its
tokens without spaces, token and sentence spans over that text, and each syntactic word with
its span, columns and head. Multiword-token lines are tokens whose words add no characters;
empty nodes are left out. Scoring is in :mod:`machamp_lite.evaluation_ud`."""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from dataclasses import dataclass, field

from .data.text import gc_paused, iter_lines, read_text
from .errors import DataError
from .topn_cells import read_topn_attributes

# The scorer's list of the features that UFeats compares.
UNIVERSAL_FEATURES = frozenset(
    "PronType NumType Poss Reflex Foreign Abbr Gender Animacy Number Case Definite Degree "
    "VerbForm Mood Tense Aspect Voice Evident Polarity Person Polite".split()
)
ROOT = -1  # a word's head index when it hangs from the root
TOPN_COLUMNS = ("upos", "xpos", "lemma", "deprel")  # what predict --topn can write top-n cells in
_MULTIWORD = re.compile(r"([1-9][0-9]*)-([1-9][0-9]*)")
_EMPTY_NODE = re.compile(r"[0-9]+\.[1-9][0-9]*")


@functools.lru_cache(maxsize=65536)
def _features(value: str, universal_only: bool) -> str:
    """FEATS in one order (features sorted), the universal ones only if asked; "" for none.
    Cached: a treebank has few distinct FEATS values and many words."""
    kept = [f for f in value.split("|") if f and f != "_"]
    if universal_only:
        kept = [f for f in kept if f.split("=", 1)[0] in UNIVERSAL_FEATURES]
    return "|".join(sorted(kept))


@functools.cache
def _space_characters() -> re.Pattern[str]:
    """The characters of Unicode category Zs, which the scorer removes from FORMs."""
    found = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"]
    return re.compile("[" + re.escape("".join(found)) + "]")


@dataclass(slots=True)
class Word:
    """One syntactic word: its character span (a multiword token's whole span for its words),
    its columns as the metrics compare them, and its head as an index into the file's words."""

    start: int
    end: int
    in_multiword: bool
    form: str
    lemma: str
    upos: str
    xpos: str
    feats: str
    ufeats: str
    deprel: str
    relation: str  # the deprel without its subtype
    head: int | None  # the head word's index in the file, ROOT, or None when HEAD is "_"
    line: int


@dataclass
class Treebank:
    """A CoNLL-U file as the scorer sees it."""

    path: str
    pieces: list[str] = field(default_factory=list)  # the tokens' text, spaces removed
    length: int = 0  # characters in pieces
    tokens: list[tuple[int, int]] = field(default_factory=list)
    token_lines: list[int] = field(default_factory=list)
    sentences: list[tuple[int, int]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    headless_line: int | None = None  # the first word line whose HEAD is "_"


class _Parser:
    """Reads one file into a :class:`Treebank`, sentence by sentence."""

    def __init__(self, path: str):
        self.bank = Treebank(path)
        self.sentence_start = 0  # index of the sentence's first word
        self.sentence_char = 0
        self.pending_heads: list[tuple[int, str]] = []  # (word index, HEAD field)
        self.multiword: tuple[int, int, int, int] | None = None  # last id, start, end, line

    def error(self, message: str, line: int) -> DataError:
        return DataError(f"not valid CoNLL-U: {message}", self.bank.path, line)

    def end_sentence(self, line: int) -> None:
        bank = self.bank
        if self.multiword is not None:
            raise self.error(
                f"the multiword token on line {self.multiword[3]} ends before its words", line
            )
        count = len(bank.words) - self.sentence_start
        if count == 0:
            return
        for index, value in self.pending_heads:
            word = bank.words[index]
            if value == "_":
                bank.headless_line = bank.headless_line or word.line
                continue
            if not value.isdigit() or int(value) > count:
                raise self.error(
                    f"HEAD {value!r} is not 0 (the root) or the number of one of the sentence's "
                    f"{count} words",
                    word.line,
                )
            head = int(value)
            word.head = ROOT if head == 0 else self.sentence_start + head - 1
        bank.sentences.append((self.sentence_char, bank.length))
        self.sentence_start = len(bank.words)
        self.sentence_char = bank.length
        self.pending_heads = []

    def token(self, form: str, line: int) -> tuple[int, int]:
        bank = self.bank
        if form.isalnum():
            compact = form
        elif form.isascii():
            compact = form.replace(" ", "")  # the only space character in ASCII
        else:
            compact = _space_characters().sub("", form)
        if not compact:
            raise self.error("the FORM is empty (or only spaces)", line)
        start = bank.length
        bank.pieces.append(compact)
        bank.length += len(compact)
        bank.tokens.append((start, bank.length))
        bank.token_lines.append(line)
        return start, bank.length

    def line(self, number: int, line: str) -> None:
        fields = line.split("\t")
        if len(fields) != 10:
            raise self.error(
                f"expected 10 tab-separated columns, found {len(fields)}; the scorer compares "
                "the ten CoNLL-U columns",
                number,
            )
        word_id = fields[0]
        expected = len(self.bank.words) - self.sentence_start + 1
        if not word_id.isdigit():  # (most lines are words: the patterns only for the rest)
            if _EMPTY_NODE.fullmatch(word_id):
                return  # empty nodes are not scored
            span = _MULTIWORD.fullmatch(word_id)
            if span:
                first, last = int(span.group(1)), int(span.group(2))
                if first != expected or last < first or self.multiword is not None:
                    raise self.error(
                        f"multiword token {word_id!r} where word {expected} is due", number
                    )
                start, end = self.token(fields[1], number)
                self.multiword = (last, start, end, number)
                return
        if word_id != str(expected):
            raise self.error(f"word ID {word_id!r} where {expected} is due", number)
        if self.multiword is not None:
            last, start, end, _ = self.multiword
            in_multiword = True
            if expected == last:
                self.multiword = None
        else:
            start, end = self.token(fields[1], number)
            in_multiword = False
        feats = fields[5]
        self.pending_heads.append((len(self.bank.words), fields[6].strip()))
        self.bank.words.append(
            Word(
                start,
                end,
                in_multiword,
                fields[1],
                fields[2],
                fields[3],
                fields[4],
                _features(feats, False),
                _features(feats, True),
                fields[7],
                fields[7].split(":", 1)[0],
                None,
                number,
            )
        )


def read_treebank(path: str, encoding: str = "utf-8", topn: bool = False) -> Treebank:
    """A CoNLL-U file's text, tokens, sentences and words; a malformed line is a
    :class:`DataError` naming it. ``topn`` (a prediction): ``predict --topn``'s cells in UPOS,
    XPOS, LEMMA and DEPREL read as their first label (FEATS hold "=" of their own)."""
    parser = _Parser(str(path))
    number = 0
    text = read_text(str(path), encoding)
    with gc_paused():  # many small objects, no cycles: see gc_paused
        for number, line in iter_lines(text):
            if not line.strip():
                parser.end_sentence(number)
            elif line.startswith("#") and len(parser.bank.words) == parser.sentence_start:
                continue
            else:
                parser.line(number, line)
        parser.end_sentence(number + 1)
    if not parser.bank.words:
        raise DataError("no words found (only comments, empty nodes or blank lines)", str(path))
    if topn and "deprel" in read_topn_attributes(parser.bank.words, TOPN_COLUMNS):
        for word in parser.bank.words:
            word.relation = word.deprel.split(":", 1)[0]
    return parser.bank
