"""Where a dataset's context comes from (issue 18): the dataset config's ``"context"`` key,
checked when the config is read and applied to every file the dataset reads (training, dev,
calibration, prediction), so a model predicts with the context it was trained with.

Three sources:

- ``{"source": "neighbours", "before": 1, "after": 1}``: the sentences around each sentence in
  its document; a document starts at a ``-DOCSTART-`` line (a sentence of its own, which gets
  no context and is no one's context) or at a ``# newdoc`` / ``# doc_id`` comment.
- ``{"source": "file", "path": "ctx.tsv"}``: a tab-separated file of ``id<TAB>text`` lines
  (``id_column`` and ``context_column`` choose other columns), keyed by the sentence's id
  (MultiCoNER's ``# id``, CoNLL-U's ``# sent_id``); several lines of one id are joined in order.
- ``{"source": "retrieval", "corpus": ..., "k": 3, ...}``: the k passages of a corpus most
  similar to the sentence (:mod:`.retrieval`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, DataError
from .retrieval import RetrievalSettings, retriever_for
from .sentence import Sentence

logger = logging.getLogger(__name__)

SOURCES = ("neighbours", "file", "retrieval")
_KEYS: dict[str, dict[str, Any]] = {
    "neighbours": {"before": int, "after": int},
    "file": {"path": str, "id_column": int, "context_column": int},
    "retrieval": {
        "corpus": (str, list),
        "k": int,
        "method": str,
        "model": str,
        "query_prefix": str,
        "passage_prefix": str,
        "corpus_format": str,
        "max_length": int,
        "batch_size": int,
    },
}
_NEW_DOCUMENT = re.compile(r"^#\s*(newdoc|doc_id|document_id)\b")


def check_context(value: Any, where: str, data_dir: str | None) -> dict[str, Any]:
    """The ``context`` key made whole (defaults filled in, paths absolute); ConfigError naming
    the sub-key for anything else."""
    from ..config_files import resolve_data_path

    where = f"{where}: key 'context'"
    source = value.get("source")
    if source not in SOURCES:
        raise ConfigError(
            f"{where}: 'source' must be one of {', '.join(map(repr, SOURCES))}, got {source!r}"
        )
    allowed = _KEYS[source]
    for key, given in value.items():
        if key == "source":
            continue
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r} for source {source!r}; expected one of: "
                + ", ".join(sorted(allowed))
            )
        if not isinstance(given, allowed[key]) or isinstance(given, bool):
            raise ConfigError(f"{where}: {key!r} has the wrong type ({given!r})")
    result = dict(value)
    if source == "neighbours":
        result.setdefault("before", 1)
        result.setdefault("after", 1)
        if result["before"] < 0 or result["after"] < 0 or result["before"] + result["after"] == 0:
            raise ConfigError(
                f"{where}: 'before' and 'after' count sentences (0 or more, not both 0), got "
                f"{result['before']} and {result['after']}"
            )
        return result
    if source == "file":
        if "path" not in result:
            raise ConfigError(f"{where}: source 'file' needs 'path' (the context file)")
        result["path"] = os.path.abspath(resolve_data_path(result["path"], data_dir))
        result.setdefault("id_column", 0)
        result.setdefault("context_column", 1)
        if result["id_column"] < 0 or result["context_column"] < 0:
            raise ConfigError(f"{where}: 'id_column' and 'context_column' must be 0 or more")
        return result
    return _check_retrieval(result, where, data_dir)


def _check_retrieval(result: dict[str, Any], where: str, data_dir: str | None) -> dict[str, Any]:
    from ..config_files import resolve_data_path

    corpus = result.get("corpus")
    corpus = [corpus] if isinstance(corpus, str) else corpus
    if not corpus or not all(isinstance(c, str) and c for c in corpus):
        raise ConfigError(f"{where}: source 'retrieval' needs 'corpus' (a path or a list)")
    result["corpus"] = [os.path.abspath(resolve_data_path(c, data_dir)) for c in corpus]
    result.setdefault("k", 3)
    result.setdefault("method", "embedding")
    if result["k"] < 1:
        raise ConfigError(f"{where}: 'k' is the number of passages, 1 or more; got {result['k']}")
    if result["method"] not in ("embedding", "bm25"):
        raise ConfigError(f"{where}: 'method' must be 'embedding' or 'bm25'")
    if result["method"] == "embedding":
        if not result.get("model"):
            raise ConfigError(
                f"{where}: method 'embedding' needs 'model', the folder of a sentence-embedding "
                'model (multilingual-e5-small with "query_prefix": "query: " and '
                '"passage_prefix": "passage: "), or set "method": "bm25"'
            )
        result["model"] = os.path.abspath(result["model"])
    elif "model" in result:
        raise ConfigError(f"{where}: 'model' is for method 'embedding', not 'bm25'")
    if result.setdefault("corpus_format", "auto") not in ("auto", "lines", "conll", "conllu"):
        raise ConfigError(f"{where}: 'corpus_format' must be auto, lines, conll or conllu")
    for key in ("max_length", "batch_size"):
        if key in result and result[key] < 1:
            raise ConfigError(f"{where}: {key!r} must be 1 or more, got {result[key]}")
    return result


def document_neighbours(sentences: Sequence[Sentence], before: int, after: int) -> list:
    """Each sentence's context: the words of up to ``before`` sentences before it and ``after``
    after it in its document, in document order; None where there are none."""
    documents: list[int] = []
    number = 0
    for sentence in sentences:
        starts = sentence.words[:1] == ["-DOCSTART-"]
        if starts or any(_NEW_DOCUMENT.match(c) for c in sentence.comments):
            number += 1
        documents.append(-1 if starts else number)
    contexts: list[list[str] | None] = []
    for i, document in enumerate(documents):
        if document < 0:
            contexts.append(None)
            continue
        near = [*range(max(0, i - before), i), *range(i + 1, min(len(sentences), i + after + 1))]
        words = [w for j in near if documents[j] == document for w in sentences[j].words]
        contexts.append(words or None)
    return contexts


def read_context_file(config: dict[str, Any], encoding: str) -> dict[str, list[str]]:
    """The context file's words per sentence id."""
    path, id_column, text_column = config["path"], config["id_column"], config["context_column"]
    found: dict[str, list[str]] = {}
    try:
        with open(path, encoding=encoding) as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                fields = line.rstrip("\r\n").split("\t")
                if max(id_column, text_column) >= len(fields):
                    raise DataError(
                        f"{len(fields)} tab-separated field(s); a context file line holds the "
                        f"sentence id in column {id_column} and its context in column "
                        f"{text_column} (set 'id_column' and 'context_column')",
                        path,
                        number,
                    )
                found.setdefault(fields[id_column].strip(), []).extend(fields[text_column].split())
    except (FileNotFoundError, IsADirectoryError):
        raise DataError(
            "context file not found (the dataset config's context 'path'); give the path of a "
            "file of id<TAB>text lines",
            path,
        ) from None
    except UnicodeDecodeError as error:
        raise DataError(f"not {encoding} text ({error.reason})", path) from None
    return found


def contexts_from_file(sentences: Sequence[Sentence], config: dict[str, Any], encoding: str):
    """Each sentence's context from the context file, by its id (None where none is given)."""
    table = read_context_file(config, encoding)
    contexts = [table.get(s.sent_id or "") or None for s in sentences]
    missing = sum(c is None for c in contexts)
    if missing:
        logger.warning(
            "context file %s: no context for %d of %d sentences (no id, or an id not in it)",
            config["path"],
            missing,
            len(sentences),
        )
    return contexts


def retrieved_contexts(sentences: Sequence[Sentence], config: dict[str, Any], encoding: str):
    """Each sentence's k retrieved passages, best first, as one list of words."""
    settings = RetrievalSettings(
        corpus=tuple(config["corpus"]),
        **{k: v for k, v in config.items() if k not in ("source", "corpus")},
        encoding=encoding,
    )
    retriever = retriever_for(settings)
    hits = retriever.retrieve([" ".join(s.words) for s in sentences], settings.k)
    passages = retriever.passages
    return [[w for i in found for w in passages[i].split()] or None for found in hits]


def attach_neighbours(dataset: dict[str, Any], sentences: Sequence[Sentence]) -> None:
    """Fill ``Sentence.context`` from document neighbours, before a file is cut to its first
    sentences, so that the last kept sentence still sees the one after it."""
    config = dataset.get("context")
    if config and config["source"] == "neighbours":
        for sentence, words in zip(
            sentences, document_neighbours(sentences, config["before"], config["after"])
        ):
            sentence.context = words


def attach_contexts(dataset: dict[str, Any], sentences: Sequence[Sentence]) -> None:
    """Fill ``Sentence.context`` from the context file or by retrieval (neighbours: see
    :func:`attach_neighbours`)."""
    config = dataset.get("context")
    if not config or config["source"] == "neighbours" or not sentences:
        return
    encoding = dataset.get("encoding", "utf-8")
    if config["source"] == "file":
        contexts = contexts_from_file(sentences, config, encoding)
    else:
        contexts = retrieved_contexts(sentences, config, encoding)
    for sentence, words in zip(sentences, contexts):
        sentence.context = words


def attach_all(dataset: dict[str, Any], sentences: Sequence[Sentence]) -> None:
    """Both steps on sentences read whole (raw text, a streamed file)."""
    attach_neighbours(dataset, sentences)
    attach_contexts(dataset, sentences)


def sentences_with_context(
    dataset: dict[str, Any],
    sentences: Sequence[Sequence[str]],
    contexts: Sequence[Sequence[str] | None] | None,
) -> list[Sentence]:
    """Word lists given to the Python API as Sentences: with the ``contexts`` given, or, where
    none are, the dataset's own neighbours (the list read as one document) or retrieved
    passages, so a model predicts with the context it was trained with. A context file needs
    sentence ids, which word lists lack: give its contexts."""
    if any(isinstance(c, str) for c in contexts or ()):
        raise ConfigError("each context is a list of words (or None), not one string")
    given = [list(c) if c else None for c in contexts or ()]
    if given and len(given) != len(sentences):
        raise ConfigError(f"{len(given)} contexts for {len(sentences)} sentences: give one each")
    result = [
        Sentence(list(w), context=c) for w, c in zip(sentences, given or [None] * len(sentences))
    ]
    config = dataset.get("context")
    if contexts is None and config and config["source"] != "file":
        attach_all(dataset, result)
    return result
