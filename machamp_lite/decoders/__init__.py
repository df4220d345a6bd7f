"""The built-in decoders: the modules imported here register with the others whenever any
decoder module is imported (``tok`` also registers its ``conllu_pieces`` reader and
``token_f1`` metric)."""

from . import (
    mlm,  # noqa: F401  (masked language modelling)
    multiclas,  # noqa: F401  (sets of labels per sentence)
    probdistr,  # noqa: F401  (distributions per sentence)
    tok,  # noqa: F401
)
