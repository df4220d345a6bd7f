"""The languages of an evaluation: a language code from a file name, names for report rows, and
the sentence-id-to-language maps that score one multilingual file per language."""

from __future__ import annotations

import glob
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from .data.text import read_text
from .errors import DataError
from .evaluation_files import read_labelled

# The split names that make a file name such as ``en_dev.conll`` name a language (``en``).
_SPLITS = ("train", "dev", "test", "valid", "validation", "val", "eval")
_LANGUAGE_FILE = re.compile(
    r"^([A-Za-z]{2})(?:$|[_.-](?:.*[_.-])?(?:" + "|".join(_SPLITS) + r")(?:$|[_.-]))"
)
DEFAULT_LANGUAGE_PATTERN = "*/[a-z][a-z]_dev.conll"


def language_of_path(path: str) -> str | None:
    """The language code a file name carries: ``en_dev.conll`` and ``da_news_dev.tsv`` give
    ``en`` and ``da``, ``wikiann/en/dev.tsv`` gives ``en``; ``None`` when there is none."""
    file = Path(path)
    match = _LANGUAGE_FILE.match(file.name)
    if match:
        return match.group(1).lower()
    stem = file.name.split(".")[0].lower()
    if stem in _SPLITS and re.fullmatch(r"[A-Za-z]{2}", file.parent.name):
        return file.parent.name.lower()
    return None


def stem(path: str) -> str:
    name = Path(path).name
    return name.rsplit(".", 1)[0] if "." in name[1:] else name


def short_name(path: str) -> str:
    """A row name for a file: its language code when the name carries one, else its stem."""
    return language_of_path(path) or stem(path)


def unique_names(names: Sequence[str], alternatives: Sequence[str]) -> list[str]:
    """``names`` with each repeated name replaced by its alternative, then numbered if needed."""
    seen = Counter(names)
    chosen = [alt if seen[name] > 1 else name for name, alt in zip(names, alternatives)]
    repeated = Counter(chosen)
    numbers: Counter[str] = Counter()
    result = []
    for name in chosen:
        if repeated[name] > 1:
            numbers[name] += 1
            name = f"{name}#{numbers[name]}"
        result.append(name)
    return result


def _add_language(
    mapping: dict[str, str], sources: dict[str, str], sent_id: str, language: str, source: str
) -> None:
    known = mapping.get(sent_id)
    if known is not None and known != language:
        raise DataError(
            f"sentence id {sent_id!r} is mapped to {language!r} here but to {known!r} by "
            f"{sources[sent_id]}",
            source,
        )
    mapping[sent_id] = language
    sources[sent_id] = source


def language_map_from_files(
    files: Mapping[str, str],
    encoding: str = "utf-8",
    mapping: dict[str, str] | None = None,
    separator: str | None = None,
) -> dict[str, str]:
    """Sentence id -> language from per-language files (``{"en": "EN-English/en_dev.conll"}``):
    every sentence of each file must carry an id (``# id <uuid>`` or ``# sent_id = ...``)."""
    mapping = {} if mapping is None else mapping
    sources: dict[str, str] = {}
    for language, path in files.items():
        sentences = read_labelled(
            str(path), encoding=encoding, require_labels=False, separator=separator
        )
        for sentence in sentences:
            if sentence.sent_id is None:
                raise DataError(
                    "this sentence has no id line ('# id <id>' or '# sent_id = <id>'), so the "
                    f"file cannot map sentence ids to the language {language!r}",
                    str(path),
                    sentence.first_line,
                )
            _add_language(mapping, sources, sentence.sent_id, language, str(path))
    return mapping


def read_language_map(
    path: str, encoding: str = "utf-8", mapping: dict[str, str] | None = None
) -> dict[str, str]:
    """Sentence id -> language from a file of ``id<TAB>language`` lines (blank lines and lines
    starting with ``#`` are ignored)."""
    mapping = {} if mapping is None else mapping
    sources: dict[str, str] = {}
    text = read_text(str(path), encoding)
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [field.strip() for field in fields]
        if len(fields) != 2 or not all(fields):
            raise DataError(
                f"expected 'sentence id<TAB>language', found {len(fields)} field(s): {line!r}",
                str(path),
                number,
            )
        _add_language(mapping, sources, fields[0], fields[1], f"{path}, line {number}")
    if not mapping:
        raise DataError("no 'sentence id<TAB>language' lines found", str(path))
    return mapping


def find_language_files(directory: str, pattern: str = DEFAULT_LANGUAGE_PATTERN) -> dict[str, str]:
    """Language -> file for the files under ``directory`` that match ``pattern`` (by default
    ``*/xx_dev.conll``, as in the MultiCoNER release); the language comes from the file name."""
    if not os.path.isdir(directory):
        raise DataError("is not a directory (--language_dir)", str(directory))
    found: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(glob.escape(str(directory)), pattern))):
        language = language_of_path(path)
        if language is None:
            raise DataError(
                "the file name carries no language code (like en_dev.conll); name the files "
                "with --language_files LANG=PATH instead",
                path,
            )
        if language in found:
            raise DataError(
                f"a second file for language {language!r} (first: {found[language]})", path
            )
        found[language] = path
    if not found:
        raise DataError(f"no files match {pattern!r} under this directory", str(directory))
    return found
