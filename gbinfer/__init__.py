"""gbinfer: predictions of XGBoost models, exactly as the training library makes them, faster."""

from . import errors
from .data import DataMatrix
from .errors import GbinferError
from .loader import load
from .model import Model
from .saver import save

__version__ = "0.1.0"

__all__ = ["load", "save", "Model", "DataMatrix", "errors", "GbinferError", "__version__"]
