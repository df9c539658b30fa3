"""Models: one file per model, all behind the :class:`~ltvkit.models.base.LTVModel` API."""

from ltvkit.models.base import LTVModel, register
from ltvkit.models.registry import all_models, create_model, get_model_class
from ltvkit.prediction import Prediction, PredictionParts

__all__ = ["LTVModel", "Prediction", "PredictionParts", "all_models", "create_model",
           "get_model_class", "register"]
