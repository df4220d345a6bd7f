"""machamp-lite: config-driven multi-task fine-tuning of transformer encoders for sequence
labelling (a pluggable reimplementation of MaChAmp)."""

from .errors import ConfigError, DataError, MachampError, ModelLoadError, RegistryError
from .predict import Predictor
from .registry import decoders, encoders, metrics, readers
from .training.run import train

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "MachampError",
    "ModelLoadError",
    "Predictor",
    "RegistryError",
    "decoders",
    "encoders",
    "metrics",
    "readers",
    "train",
    "__version__",
]
