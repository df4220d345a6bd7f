"""The built-in metrics. Importing this package registers MaChAmp's label F1 metrics and the
perplexity of masked language modelling."""

from . import (
    distribution,  # noqa: F401  (distribution_accuracy, distribution_kl)
    label_f1,  # noqa: F401  (registers f1_micro, f1_macro, f1_binary)
    perplexity,  # noqa: F401  (masked language modelling)
)
