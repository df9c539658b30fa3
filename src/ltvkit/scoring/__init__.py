"""From predictions to decisions: the scored customer base, value and RFM segments, targeting
under a budget with its expected-value-vs-spend curve, projected value and the spend response.

Uplift (who changes behaviour because they are contacted) is out of scope: targeting ranks
customers by predicted value, which is what the top-10 % campaign of the MEAN paper did.
"""

from ltvkit.scoring.errors import ScoringError
from ltvkit.scoring.npv import discount_factor, discounted_value
from ltvkit.scoring.score import ScoredBase, out_of_scope, rank_columns, score
from ltvkit.scoring.segments import (
    ValueSegments,
    churn_risk,
    learn_segments,
    rfm_segments,
    segment_risk_matrix,
    segment_table,
)
from ltvkit.scoring.spend import (
    SpendResponse,
    acquisition_clv,
    fit_spend_response,
    projected_value,
)
from ltvkit.scoring.targeting import TargetResult, parse_share, target

__all__ = ["ScoredBase", "SpendResponse", "acquisition_clv", "fit_spend_response",
           "projected_value", "ScoringError", "ValueSegments", "churn_risk", "discount_factor",
           "discounted_value", "learn_segments", "out_of_scope", "rank_columns",
           "parse_share", "rfm_segments", "score", "segment_risk_matrix", "segment_table",
           "target", "TargetResult"]
