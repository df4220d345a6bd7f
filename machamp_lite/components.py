"""Imports every built-in component so that its registration decorator runs."""

from .data import readers  # noqa: F401
from .decoders import classification, crf_tagger, softmax_tagger  # noqa: F401
from .metrics import accuracy, span_f1  # noqa: F401
from .modules import encoder  # noqa: F401
from .decoders import dependency, multiseq, regression, string2string  # noqa: F401
from .metrics import attachment  # noqa: F401
from .metrics import multiseq as multiseq_metrics  # noqa: F401
from .metrics import regression as regression_metrics  # noqa: F401
from .modules import mst  # noqa: F401
