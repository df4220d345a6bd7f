"""The built-in metrics. Importing this package registers MaChAmp's label F1 metrics, and says
why MaChAmp's ``perplexity`` is not here, so that a MaChAmp config naming it fails with that
reason when it is read rather than with a list of other metric names."""

from ..registry import metrics as _metrics
from . import label_f1  # noqa: F401  (registers f1_micro, f1_macro, f1_binary)

_metrics.explain_absent(
    "perplexity",
    "it scores MaChAmp's mlm task type (masked language modelling), which machamp-lite does "
    "not have",
)
