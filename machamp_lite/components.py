"""Imports every built-in component so that its registration decorator runs."""

from .data import readers  # noqa: F401
from .decoders import classification, crf_tagger, softmax_tagger  # noqa: F401
from .metrics import accuracy, span_f1  # noqa: F401
from .modules import encoder  # noqa: F401
