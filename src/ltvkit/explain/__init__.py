"""Why the model predicts what it does: SHAP values per customer, global importance, top
reasons and dependence data.

- LightGBM models (``lgbm``): exact TreeSHAP (Lundberg, S. M., Erion, G., Chen, H., et al.
  (2020), "From local explanations to global understanding with explainable AI for trees",
  Nature Machine Intelligence 2) on the booster's raw score (the log of the expected value for
  the Tweedie objective), so SHAP values plus the base value equal the raw score exactly.
- Every other model (deep, BTYD, two-stage): SHAP's model-agnostic permutation explainer on a
  sampled background (Lundberg, S. M., Lee, S.-I. (2017), "A Unified Approach to Interpreting
  Model Predictions", NeurIPS 2017) of the predicted value; sequence models are explained per
  input channel and period (one input per (channel, period) cell).
"""

from ltvkit.explain.shap_values import (
    Explanation,
    dependence,
    explain,
    global_importance,
    top_reasons,
)

__all__ = ["Explanation", "dependence", "explain", "global_importance", "top_reasons"]
