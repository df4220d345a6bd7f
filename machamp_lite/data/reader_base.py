"""The reader protocol: what every reader answers (``read``, ``iter_read``, ``writer_settings``)
and how a dataset config builds one.

Prediction, the trainer's dev-prediction files and evaluation call these methods instead of
switching on a reader's name or a file's suffix, so a reader registered by a plugin is written
back and scored as a built-in one is.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ConfigError
from ..registry import check_arguments
from .sentence import Sentence, TaskColumn
from .text import NoSentencesError

# The dataset keys a reader's constructor may take (each passed only when the constructor
# names it): the config stays the one place a user sets them, whatever the reader.
READER_KEYS = (
    "word_idx",
    "separator",
    "encoding",
    "comment_regex",
    "sent_idxs",
    "skip_first_line",
)


@dataclass(frozen=True)
class WriterSettings:
    """How predictions go back into the lines of a file a reader read.

    ``separator`` ("whitespace" or "tab") finds a line's fields as the reader found them, and
    ``encoding`` reads and writes the file. A line that lacks a label column (unlabelled input)
    gets it after the word column ``word_idx``, with ``pad`` in the columns between. A format
    with a fixed number of columns (``fields``: 10 for CoNLL-U) counts a negative label column
    back from that number rather than from the end of a possibly short line.
    ``comment_labels`` says that the reader keeps sentence labels in comments before the
    sentence's words (files of one word per line, as MaChAmp keeps an intent beside slots), so
    a sentence-level prediction goes into that comment instead of a column of the first line."""

    separator: str = "whitespace"
    encoding: str = "utf-8"
    word_idx: int = 0
    pad: str = ""
    fields: int | None = None
    comment_labels: bool = False

    def label_column(self, column_idx: int) -> int:
        """The column a task's ``column_idx`` names in the written line."""
        return column_idx + self.fields if self.fields and column_idx < 0 else column_idx

    def write_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``write_in_place`` and ``write_in_place_streaming``."""
        return {
            "separator": self.separator,
            "encoding": self.encoding,
            "word_idx": self.word_idx,
            "pad": self.pad,
        }


class Reader:
    """The protocol of every reader: ``read`` (the whole file), ``iter_read`` (sentence by
    sentence) and ``writer_settings`` (how predictions are written back).

    A subclass defines ``read`` or ``iter_read``; the other comes from it. ``streams`` says that
    ``iter_read`` reads the file as the sentences are consumed, so that ``predict`` labels a
    file of any size in bounded memory; without it a file is read whole. The constructor's
    arguments are the dataset keys of :data:`READER_KEYS` that it names;
    :meth:`settings_from_dataset` may reinterpret them for the format."""

    streams: ClassVar[bool] = False
    # Set by the registry on a registered class: the name configs select it by.
    registered_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.read is Reader.read and cls.iter_read is Reader.iter_read:
            raise TypeError(f"reader {cls.__name__} must define read or iter_read")
        own = vars(cls)
        if "read" in own and "iter_read" not in own and "streams" not in own:
            cls.streams = False  # an inherited iter_read would not read what this read reads

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        """Every sentence of the file; a file without any is an error."""
        sentences = list(self.iter_read(path, tasks, require_labels))
        if not sentences:
            raise NoSentencesError("no sentences found", path)
        return sentences

    def iter_read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> Iterator[Sentence]:
        """The sentences one by one (here: all read first, unless the reader streams)."""
        return iter(self.read(path, tasks, require_labels))

    def writer_settings(self) -> WriterSettings:
        """By default the reader's own ``separator``, ``encoding`` and ``word_idx``."""
        return WriterSettings(
            getattr(self, "separator", "whitespace"),
            getattr(self, "encoding", "utf-8"),
            getattr(self, "word_idx", 0),
        )

    @classmethod
    def settings_from_dataset(cls, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """The dataset keys the reader is built from (unset keys left out)."""
        return {key: dataset[key] for key in READER_KEYS if dataset.get(key) is not None}


class AdoptedReader(Reader):
    """A registered reader class that does not derive from :class:`Reader` (written before the
    protocol): its ``read`` is used, and predictions are written with the dataset's own keys,
    as they were before."""

    def __init__(self, inner: Any, settings: Mapping[str, Any]):
        self.inner = inner
        self.settings = WriterSettings(
            settings.get("separator", "whitespace"),
            settings.get("encoding", "utf-8"),
            settings.get("word_idx", 0),
        )

    def read(
        self, path: str, tasks: Sequence[TaskColumn], require_labels: bool = True
    ) -> list[Sentence]:
        return self.inner.read(path, tasks, require_labels=require_labels)

    def writer_settings(self) -> WriterSettings:
        return self.settings


def build_reader(reader_class: Any, settings: Mapping[str, Any], where: str) -> Reader:
    """A reader from dataset-style ``settings``: the keys its constructor names are passed
    (None means unset), checked against its signature so that a wrong value names ``where``."""
    accepted = inspect.signature(reader_class.__init__).parameters
    arguments = {k: v for k, v in settings.items() if k in accepted and v is not None}
    check_arguments(reader_class, arguments, where)
    reader = reader_class(**arguments)
    return reader if isinstance(reader, Reader) else AdoptedReader(reader, settings)


def reader_from_dataset(reader_class: Any, dataset: Mapping[str, Any], where: str) -> Reader:
    """The reader of a dataset config, with the keys as the reader's format reads them."""
    own = isinstance(reader_class, type) and issubclass(reader_class, Reader)
    source = reader_class if own else Reader
    accepted = inspect.signature(reader_class.__init__).parameters
    if dataset.get("skip_first_line") and "skip_first_line" not in accepted:
        # Not silently ignored: the header row would be read as data (or refused).
        raise ConfigError(
            f"{where}: key 'skip_first_line' is true, but reader "
            f"{getattr(reader_class, 'registered_name', reader_class.__name__)!r} reads no "
            "header row; remove the key, or remove the header from the file"
        )
    return build_reader(reader_class, source.settings_from_dataset(dataset), where)
