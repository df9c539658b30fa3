"""Models: one file per model, all behind the :class:`~ltvkit.models.base.LTVModel` API."""

from ltvkit.models.base.model import DEFAULT_TAGS, LTVModel
from ltvkit.models.registry import (
    all_models,
    create_model,
    get_model_class,
    load_model,
    register,
    unavailable_models,
)
from ltvkit.prediction import Prediction, PredictionParts

__all__ = ["DEFAULT_TAGS", "LTVModel", "Prediction", "PredictionParts", "all_models",
           "create_model", "get_model_class", "load_model", "register", "unavailable_models"]
