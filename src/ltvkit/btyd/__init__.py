"""Buy-'Til-You-Die models as pure NumPy/SciPy functions.

* :mod:`ltvkit.btyd.bgnbd` - BG/NBD (Fader, Hardie & Lee 2005a)
* :mod:`ltvkit.btyd.pareto_nbd` - Pareto/NBD (Schmittlein, Morrison & Colombo 1987)
* :mod:`ltvkit.btyd.mbgnbd` - MBG/NBD (Batislam, Denizel & Filiztekin 2007)
* :mod:`ltvkit.btyd.bgbb` - BG/BB, discrete time (Fader, Hardie & Shang 2010)
* :mod:`ltvkit.btyd.sbg` - shifted-beta-geometric contractual churn (Fader & Hardie 2007)
* :mod:`ltvkit.btyd.gamma_gamma` - Gamma-Gamma spend model (Fader, Hardie & Lee 2005b)
* :func:`clv` - discounted CLV from a purchase model and the spend model
* :mod:`ltvkit.btyd.probabilities` - P(n purchases), future P(alive), matrices, paths, tracking
* :mod:`ltvkit.btyd.uncertainty` - Hessian standard errors and parameter draws
* :mod:`ltvkit.btyd.predictive` - prediction intervals (parametric bootstrap + posterior draws)
* :mod:`ltvkit.btyd.simulate` - synthetic customer bases from each model

Each model module has a frozen parameter dataclass, ``fit(...) -> (params, FitInfo)`` by maximum
likelihood, ``log_likelihood`` per customer, and prediction functions taking arrays of frequency
``x``, recency ``t_x`` and age ``T`` (and ``zbar``, the mean spend, for Gamma-Gamma).

Examples
--------
>>> from ltvkit.btyd import bgnbd
>>> params, info = bgnbd.fit(x, t_x, T)                        # doctest: +SKIP
>>> bgnbd.expected_purchases(params, 39.0, x, t_x, T)          # doctest: +SKIP
"""

from ltvkit.btyd import (
    bgbb,
    bgnbd,
    gamma_gamma,
    mbgnbd,
    pareto_nbd,
    predictive,
    probabilities,
    sbg,
    simulate,
    uncertainty,
)
from ltvkit.btyd._fit import FitInfo, compress_rows
from ltvkit.btyd.bgbb import BGBBParams
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.clv import PurchaseParams, clv, expected_purchases, p_alive
from ltvkit.btyd.gamma_gamma import GammaGammaParams
from ltvkit.btyd.mbgnbd import MBGNBDParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.btyd.sbg import SBGParams

__all__ = [
    "BGBBParams",
    "BGNBDParams",
    "MBGNBDParams",
    "SBGParams",
    "bgbb",
    "mbgnbd",
    "FitInfo",
    "GammaGammaParams",
    "ParetoNBDParams",
    "PurchaseParams",
    "bgnbd",
    "clv",
    "compress_rows",
    "expected_purchases",
    "gamma_gamma",
    "p_alive",
    "pareto_nbd",
    "predictive",
    "probabilities",
    "sbg",
    "simulate",
    "uncertainty",
]
