"""Built-in context retrieval (issue 18): the k passages of a corpus most similar to each
sentence, ranked by a sentence-embedding model the user names by path or by BM25.

The embedding index (one unit vector per passage) is expensive, so it is built once and cached;
its file name carries a digest of the corpus's passages, the model's files and the settings, so
a changed corpus or model is indexed again and the stale index is removed. The cache lives in the
user's cache folder (``$MACHAMP_LITE_CACHE``, else ``$XDG_CACHE_HOME/machamp-lite``, else
``~/.cache/machamp-lite``), not beside the corpus: a config names the corpus, and a config must
not decide where machamp-lite writes. A passage whose text is the sentence's own is never
returned, so a sentence of the corpus does not retrieve itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .bm25 import BM25Index

logger = logging.getLogger(__name__)

CACHE_ENV = "MACHAMP_LITE_CACHE"
_EXTRA = 16  # candidates beyond k, so that dropping the sentence's own text still leaves k


@dataclass(frozen=True)
class RetrievalSettings:
    """A dataset config's ``context`` of ``"source": "retrieval"``, checked and resolved."""

    corpus: tuple[str, ...]
    k: int
    method: str = "embedding"  # or "bm25"
    model: str | None = None
    query_prefix: str = ""
    passage_prefix: str = ""
    corpus_format: str = "auto"  # "lines", "conll", "conllu"; auto: by the file's suffix
    max_length: int = 128
    batch_size: int = 64
    encoding: str = "utf-8"


def read_corpus(paths: Sequence[str], corpus_format: str, encoding: str) -> list[str]:
    """The passages of the corpus files: one per non-blank line, or one per sentence of a CoNLL
    (``.conll``, word in the first column) or CoNLL-U (``.conllu``) file, its words joined by
    spaces."""
    from ..registry import readers

    passages: list[str] = []
    for path in paths:
        if not os.path.isfile(path):
            raise DataError(
                "corpus file not found (the dataset config's context 'corpus'); give files "
                "of one passage per line, or .conll/.conllu files",
                path,
            )
        kind = corpus_format
        if kind == "auto":
            lowered = path.lower()
            kind = "conllu" if lowered.endswith(".conllu") else "lines"
            kind = "conll" if lowered.endswith(".conll") else kind
        if kind == "lines":
            try:
                with open(path, encoding=encoding) as handle:
                    passages.extend(" ".join(line.split()) for line in handle if line.strip())
            except UnicodeDecodeError as error:
                raise DataError(f"not {encoding} text ({error.reason})", path) from None
            continue
        reader = readers.get("conllu" if kind == "conllu" else "column")(encoding=encoding)
        passages.extend(" ".join(s.words) for s in reader.read(path, [], require_labels=False))
    return passages


def cache_root() -> Path:
    """Where retrieval indexes are cached: chosen by the user's environment, never a config."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "machamp-lite"


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\0")
    return hasher.hexdigest()


def _model_digest(model: str) -> str:
    """The model folder's files by name, size and modification time: cheap, and any re-save of
    the model indexes the corpus again."""
    root = Path(model)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
    return _digest(
        *(f"{p.relative_to(root)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    )


def load_embedder(model: str):
    """The tokenizer and model of ``model``'s folder: local files only, never code shipped with
    them."""
    from transformers import AutoModel, AutoTokenizer

    strict = {"local_files_only": True, "trust_remote_code": False}
    if not Path(model).is_dir():
        raise ConfigError(
            f"context retrieval: key 'model' names {model}, which is not a folder; give the path "
            "of a Hugging Face model folder (multilingual-e5-small works), or set "
            '"method": "bm25"'
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **strict)
        encoder = AutoModel.from_pretrained(model, **strict)
    except Exception as error:  # transformers raises OSError, ValueError, ... for bad folders
        reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise ConfigError(
            f"context retrieval: cannot load the embedding model {model} ({reason})"
        ) from None
    return tokenizer, encoder.eval()


def embed(texts: Sequence[str], embedder, prefix: str, max_length: int, batch_size: int):
    """Unit vectors of ``texts``: the mean of the model's last hidden states over each text's
    tokens (multilingual-e5's pooling), computed in batches of similar length."""
    import torch

    tokenizer, model = embedder
    limit = tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else 512
    max_length = min(max_length, limit)  # longer inputs would pass the position embeddings
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            batch = tokenizer(
                [prefix + texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vectors[chosen] = pooled.float().numpy()
    return vectors


class Retriever:
    """One corpus, indexed once per process; ``retrieve`` gives each query's k best passages."""

    def __init__(self, settings: RetrievalSettings):
        self.settings = settings
        self.passages = read_corpus(settings.corpus, settings.corpus_format, settings.encoding)
        if not self.passages:
            raise ConfigError(
                f"context retrieval: the corpus {', '.join(settings.corpus)} holds no passages"
            )
        self.bm25: BM25Index | None = None
        self.embedder: Any = None  # (tokenizer, model) for method embedding
        self.matrix: np.ndarray | None = None
        if settings.method == "bm25":
            self.bm25 = BM25Index(self.passages)
        else:
            assert settings.model is not None
            self.embedder = load_embedder(settings.model)
            self.matrix = self._cached_matrix()

    def _cache_file(self) -> Path:
        s = self.settings
        assert s.model is not None
        folder = _digest(*map(os.path.abspath, s.corpus), os.path.abspath(s.model))[:20]
        settings = {**asdict(s), "k": None, "batch_size": None, "corpus": None}
        key = _digest(json.dumps(settings, sort_keys=True), _model_digest(s.model), *self.passages)[
            :32
        ]
        return cache_root() / "retrieval" / folder / f"index-{key}.npy"

    def _cached_matrix(self) -> np.ndarray:
        s = self.settings
        path = self._cache_file()
        if path.is_file():
            try:
                matrix = np.load(path, allow_pickle=False)
                hidden = self.embedder[1].config.hidden_size
                if matrix.ndim == 2 and matrix.shape == (len(self.passages), hidden):
                    logger.info(
                        "context retrieval: index of %d passages from %s", len(matrix), path
                    )
                    return matrix.astype(np.float32)
            except (OSError, ValueError) as error:
                logger.warning("context retrieval: cached index %s unreadable (%s)", path, error)
        started = time.perf_counter()
        logger.info("context retrieval: indexing %d passages with %s", len(self.passages), s.model)
        matrix = embed(self.passages, self.embedder, s.passage_prefix, s.max_length, s.batch_size)
        logger.info("context retrieval: indexed in %.0f s", time.perf_counter() - started)
        self._store(path, matrix.astype(np.float16))
        return matrix

    @staticmethod
    def _store(path: Path, matrix: np.ndarray) -> None:
        """Write the index whole or not at all, and remove this corpus's stale indexes."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(handle, "wb") as out:
                    np.save(out, matrix, allow_pickle=False)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            for stale in path.parent.glob("index-*.npy"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError as error:
            logger.warning(
                "context retrieval: could not cache the index in %s (%s); it will be built "
                "again next time (set $%s to a writable folder)",
                path.parent,
                error,
                CACHE_ENV,
            )

    def _scores(self, queries: Sequence[str]) -> np.ndarray:
        if self.bm25 is not None:
            return np.stack([self.bm25.scores(q) for q in queries])
        s = self.settings
        assert self.matrix is not None
        vectors = embed(queries, self.embedder, s.query_prefix, s.max_length, s.batch_size)
        return vectors @ self.matrix.T

    def retrieve(self, queries: Sequence[str], k: int | None = None) -> list[list[int]]:
        """Indexes into ``passages`` of each query's k best, best first; a passage whose text
        is the query's own is left out."""
        k = self.settings.k if k is None else k
        found: list[list[int]] = []
        for start in range(0, len(queries), 256):
            chunk = [" ".join(q.split()) for q in queries[start : start + 256]]
            scores = self._scores(chunk)
            wanted = min(k + _EXTRA, scores.shape[1])
            for query, row in zip(chunk, scores):
                top = np.argpartition(-row, wanted - 1)[:wanted]
                ranked = top[np.lexsort((top, -row[top]))]
                kept = [int(i) for i in ranked if self.passages[i] != query][:k]
                if len(kept) < min(k, len(self.passages) - 1):  # many copies of the query
                    full = np.lexsort((np.arange(len(row)), -row))
                    kept = [int(i) for i in full if self.passages[i] != query][:k]
                found.append(kept)
        return found


_LOADED: dict[RetrievalSettings, Retriever] = {}


def retriever_for(settings: RetrievalSettings) -> Retriever:
    """The settings' retriever, built once per process (training reads train and dev files with
    the same one); k does not change the index."""
    key = RetrievalSettings(**{**asdict(settings), "k": 1})
    if key not in _LOADED:
        _LOADED.clear()  # one corpus in memory at a time
        _LOADED[key] = Retriever(settings)
    return _LOADED[key]
