"""An example machamp-lite plugin: registers the ``seq_focal`` decoder when imported."""

from . import focal  # noqa: F401  (registers "seq_focal")
