"""Imports every built-in component so that its registration decorator runs."""

from .data import readers  # noqa: F401
from .decoders import classification, crf_tagger, softmax_tagger  # noqa: F401
from .decoders.dependency import BiaffineDependencyParser  # noqa: F401
from .decoders.multiseq import MultiLabelTagger  # noqa: F401
from .decoders.regression import Regressor  # noqa: F401
from .decoders.string2string import StringTransducer  # noqa: F401
from .metrics import accuracy, span_f1  # noqa: F401
from .metrics.attachment import AttachmentScore  # noqa: F401
from .metrics.multiseq import MultiLabelAccuracy  # noqa: F401
from .metrics.regression import MeanSquaredError  # noqa: F401
from .modules import encoder  # noqa: F401
