"""Tests of the BTYD likelihood maths (ltvkit.btyd): published CDNOW estimates, closed forms
checked against direct numerics, gradients, predictions, CLV, and the error contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import gammaln, hyp2f1

from ltvkit import btyd
from ltvkit.btyd import bgnbd, gamma_gamma, pareto_nbd
from ltvkit.btyd.bgnbd import BGNBDParams
from ltvkit.btyd.gamma_gamma import GammaGammaParams
from ltvkit.btyd.pareto_nbd import ParetoNBDParams
from ltvkit.errors import DataValidationError, ModelError, TaskError

# Fader, Hardie & Lee (2005a) and Fader & Hardie (2005) on the 1/10 CDNOW sample (weeks);
# Fader, Hardie & Lee (2005b) for the spend model. Strings keep the published precision.
PUBLISHED_BGNBD = {"r": "0.243", "alpha": "4.414", "a": "0.793", "b": "2.426"}
PUBLISHED_PARETO = {"r": "0.553", "alpha": "10.578", "s": "0.606", "beta": "11.669"}
PUBLISHED_GAMMA_GAMMA = {"p": "6.25", "q": "3.74", "gamma": "15.44"}


def shared_datasets_dir() -> Path:
    """The shared datasets folder beside the repository (/work/shared/datasets for /work/main)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def _read_cdnow(name: str) -> pd.DataFrame:
    path = shared_datasets_dir() / "cdnow" / name
    if not path.exists():
        pytest.skip(f"CDNOW sample {path} is missing: the shared datasets folder is expected at "
                    "../shared/datasets relative to the repository root")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """cdnow_sample_summary.csv: ID, frequency, recency, T (weeks), 2,357 customers."""
    return _read_cdnow("cdnow_sample_summary.csv")


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    """cdnow_sample_summary_with_spend.csv: ID, x, t_x, T, zbar."""
    return _read_cdnow("cdnow_sample_summary_with_spend.csv")


def _rft(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (df["frequency"].to_numpy(float), df["recency"].to_numpy(float),
            df["T"].to_numpy(float))


@pytest.fixture(scope="module")
def bgnbd_fit(cdnow):
    return bgnbd.fit(*_rft(cdnow))


@pytest.fixture(scope="module")
def pareto_fit(cdnow):
    return pareto_nbd.fit(*_rft(cdnow))


@pytest.fixture(scope="module")
def gamma_gamma_fit(cdnow_spend):
    repeat = cdnow_spend[cdnow_spend["x"] > 0]
    return gamma_gamma.fit(repeat["x"], repeat["zbar"])


def assert_published(estimate: float, published: str) -> None:
    """Round to the published number of decimals; allow one unit in the last place."""
    decimals = len(published.split(".")[1])
    ulp = 10.0**-decimals
    assert abs(round(estimate, decimals) - float(published)) <= ulp * (1 + 1e-9), \
        f"{estimate} does not reproduce the published {published}"


# --- published estimates --------------------------------------------------------------------


def test_bgnbd_reproduces_published_parameters(bgnbd_fit):
    params, info = bgnbd_fit
    assert info.success
    for name, published in PUBLISHED_BGNBD.items():
        assert_published(getattr(params, name), published)


def test_pareto_nbd_reproduces_published_parameters(pareto_fit):
    params, info = pareto_fit
    assert info.success
    for name, published in PUBLISHED_PARETO.items():
        assert_published(getattr(params, name), published)


def test_gamma_gamma_reproduces_published_parameters(gamma_gamma_fit):
    params, info = gamma_gamma_fit
    assert info.success and info.n_customers == 946
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert_published(getattr(params, name), published)


def test_bgnbd_published_conditional_expectation(bgnbd_fit):
    # FHL (2005a) / note 004: customer 1 (x=2, t_x=30.43, T=38.86) expects 1.226 purchases in
    # the next 39 weeks
    params, _ = bgnbd_fit
    assert round(float(bgnbd.expected_purchases(params, 39, 2, 30.43, 38.86)), 3) == 1.226
    rounded = BGNBDParams(**{k: float(v) for k, v in PUBLISHED_BGNBD.items()})
    assert bgnbd.expected_purchases(rounded, 39, 2, 30.43, 38.86) == pytest.approx(1.226,
                                                                                  abs=2e-3)


@pytest.mark.parametrize("module,fixture", [(bgnbd, "bgnbd_fit"), (pareto_nbd, "pareto_fit")])
def test_fit_info_reports_the_total_log_likelihood(module, fixture, cdnow, request):
    params, info = request.getfixturevalue(fixture)
    x, t_x, T = _rft(cdnow)
    assert info.n_customers == len(cdnow)
    assert 0 < info.n_unique_rows < len(cdnow)
    assert info.n_iterations > 0 and info.n_evaluations >= info.n_iterations
    assert info.neg_log_likelihood == pytest.approx(
        -module.log_likelihood(params, x, t_x, T).sum(), rel=1e-10)


def test_gamma_gamma_fit_info_reports_the_total_log_likelihood(gamma_gamma_fit, cdnow_spend):
    params, info = gamma_gamma_fit
    repeat = cdnow_spend[cdnow_spend["x"] > 0]
    assert info.neg_log_likelihood == pytest.approx(
        -gamma_gamma.log_likelihood(params, repeat["x"], repeat["zbar"]).sum(), rel=1e-10)


# --- likelihoods against direct numerics ----------------------------------------------------


def _pareto_loglik_by_quadrature(theta, x, t_x, T) -> float:
    """log of eq. (18) with the drop-out branch integrated numerically over (t_x, T]."""
    r, alpha, s, beta = theta
    integral, _ = quad(lambda u: (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1), t_x, T,
                       epsabs=0.0, epsrel=1e-13, limit=200)
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    return (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            + np.log(alive + s * integral))


@pytest.mark.parametrize("theta", [
    (0.55, 10.6, 0.61, 11.7),   # alpha ~ beta (CDNOW), power series with tiny z
    (0.8, 30.0, 0.4, 9.0),      # alpha > beta, z up to 0.7
    (0.8, 3.0, 0.4, 40.0),      # alpha < beta, z up to 0.93: scipy hyp2f1 branch
    (1.3, 200.0, 1.0, 2.0),     # alpha >> beta with integer s (c - a - b integer)
    (2.0, 1.0, 3.0, 500.0),     # alpha << beta with integer s
])
def test_pareto_loglik_matches_numerical_integration(theta):
    rows = [(0, 0.0, 38.0), (1, 2.0, 30.0), (5, 20.0, 38.0), (12, 36.5, 37.0), (3, 25.0, 25.0),
            (40, 5.0, 60.0)]
    x, t_x, T = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    ours = pareto_nbd.log_likelihood(ParetoNBDParams(*theta), x, t_x, T)
    ref = [_pareto_loglik_by_quadrature(theta, *row) for row in rows]
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


def test_bgnbd_conditional_expectation_matches_eq10_without_euler_transform(bgnbd_fit):
    params, _ = bgnbd_fit
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.array([0.0, 1.0, 2.0, 7.0, 15.0])
    t_x = np.array([0.0, 3.0, 30.43, 35.0, 38.0])
    T = np.array([32.0, 38.86, 38.86, 38.86, 38.86])
    for t in (1.0, 39.0, 150.0):
        z = t / (alpha + T + t)
        bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x,
                                                                          a + b + x - 1, z)
        odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        direct = (a + b + x - 1) / (a - 1) * bracket / (1 + odds)
        np.testing.assert_allclose(bgnbd.expected_purchases(params, t, x, t_x, T), direct,
                                   rtol=1e-10)


def test_expected_purchases_of_new_customers_match_closed_forms(bgnbd_fit, pareto_fit):
    t = np.array([0.5, 10.0, 39.0, 78.0, 500.0])
    bp, _ = bgnbd_fit
    r, alpha, a, b = bp.r, bp.alpha, bp.a, bp.b
    eq9 = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                                   * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    np.testing.assert_allclose(bgnbd.expected_purchases_new(bp, t), eq9, rtol=1e-10)
    pp, _ = pareto_fit
    r, alpha, s, beta = pp.r, pp.alpha, pp.s, pp.beta
    eq27 = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    np.testing.assert_allclose(pareto_nbd.expected_purchases_new(pp, t), eq27, rtol=1e-10)


def _check_gradient(objective, theta: np.ndarray) -> None:
    _, grad = objective(theta)
    eps = 1e-6
    numeric = [(objective(theta * np.exp(eps * e))[0] - objective(theta * np.exp(-eps * e))[0])
               / (2 * eps) for e in np.eye(theta.size)]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("theta", [(0.5, 0.3, 0.6, 0.3), (0.5, 0.9, 0.6, 0.2),
                                   (0.5, 0.05, 1.2, 3.0), (2.0, 4.0, 1.0, 0.2)])
def test_pareto_gradient_matches_finite_differences(cdnow, theta):
    x, t_x, T = _rft(cdnow)
    objective = pareto_nbd._make_objective(x, t_x / T.max(), T / T.max(), np.ones_like(x))
    _check_gradient(objective, np.array(theta))


def test_bgnbd_and_gamma_gamma_gradients_match_finite_differences(cdnow, cdnow_spend):
    x, t_x, T = _rft(cdnow)
    _check_gradient(bgnbd._make_objective(x, t_x / T.max(), T / T.max(), np.ones_like(x)),
                    np.array([0.3, 0.2, 0.8, 2.0]))
    repeat = cdnow_spend[cdnow_spend["x"] > 0]
    m = repeat["zbar"].to_numpy(float)
    _check_gradient(gamma_gamma._make_objective(repeat["x"].to_numpy(float), m / m.mean(),
                                                np.ones_like(m)),
                    np.array([3.0, 2.0, 0.7]))


# --- fitting mechanics ----------------------------------------------------------------------


def test_duplicate_rows_and_weights_give_the_same_fit(cdnow):
    x, t_x, T = _rft(cdnow.iloc[:800])
    doubled, _ = bgnbd.fit(np.tile(x, 2), np.tile(t_x, 2), np.tile(T, 2))
    weighted, info = bgnbd.fit(x, t_x, T, weights=np.full(x.size, 2.0))
    assert info.n_customers == 2 * x.size
    for name in ("r", "alpha", "a", "b"):
        assert getattr(weighted, name) == pytest.approx(getattr(doubled, name), rel=1e-12)
    # zero-weight rows are ignored
    padded, _ = bgnbd.fit(np.r_[x, 30.0], np.r_[t_x, 1.0], np.r_[T, 2.0],
                          weights=np.r_[np.ones(x.size), 0.0])
    single, _ = bgnbd.fit(x, t_x, T)
    assert padded == single


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd])
def test_time_unit_only_rescales_alpha_and_beta(module, cdnow):
    x, t_x, T = _rft(cdnow)
    weeks, info_w = module.fit(x, t_x, T)
    days, info_d = module.fit(x, 7 * t_x, 7 * T)
    for name, value in vars(weeks).items():
        factor = 7.0 if name in ("alpha", "beta") else 1.0
        assert getattr(days, name) == pytest.approx(factor * value, rel=1e-5)
    # the likelihood is a density in time: each purchase adds log(7) to the NLL in days
    assert info_d.neg_log_likelihood - info_w.neg_log_likelihood == pytest.approx(
        x.sum() * np.log(7), rel=1e-8)


def test_initial_values_and_penalizer(cdnow):
    x, t_x, T = _rft(cdnow)
    default, _ = bgnbd.fit(x, t_x, T)
    started, _ = bgnbd.fit(x, t_x, T, initial=BGNBDParams(r=0.2, alpha=5.0, a=0.5, b=3.0))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(started, name) == pytest.approx(getattr(default, name), rel=1e-5)
    penalized, info = bgnbd.fit(x, t_x, T, penalizer=0.1)
    assert info.success
    scale = T.max()
    size = lambda p: p.r**2 + (p.alpha / scale) ** 2 + p.a**2 + p.b**2  # noqa: E731
    assert size(penalized) < size(default)


# --- predictions ----------------------------------------------------------------------------


def test_bgnbd_p_alive_is_one_without_repeat_purchases(bgnbd_fit, cdnow):
    params, _ = bgnbd_fit
    assert np.all(bgnbd.p_alive(params, 0, 0, [1.0, 20.0, 38.86, 500.0]) == 1.0)
    alive = bgnbd.p_alive(params, *_rft(cdnow))
    assert np.all((alive > 0) & (alive <= 1))
    # a repeat buyer who has been silent for long is less likely to be alive than a recent one
    assert bgnbd.p_alive(params, 2, 5.0, 38.86) < bgnbd.p_alive(params, 2, 38.0, 38.86)


def test_pareto_p_alive_of_silent_customers_decays_with_age(pareto_fit):
    params, _ = pareto_fit
    alive = pareto_nbd.p_alive(params, 0, 0, [0.0, 10.0, 38.86, 200.0])
    assert alive[0] == pytest.approx(1.0)
    assert np.all(np.diff(alive) < 0)


@pytest.mark.parametrize("fixture", ["bgnbd_fit", "pareto_fit"])
def test_expected_purchases_is_increasing_in_t(fixture, cdnow, request):
    params, _ = request.getfixturevalue(fixture)
    x, t_x, T = _rft(cdnow.iloc[:300])
    t = np.array([0.0, 0.1, 1.0, 5.0, 39.0, 52.0, 104.0, 1000.0])[:, None]
    expected = btyd.expected_purchases(params, t, x, t_x, T)
    assert expected.shape == (t.size, x.size)
    assert np.all(expected[0] == 0.0)
    assert np.all(np.diff(expected, axis=0) > 0)


def test_pareto_expected_purchases_is_continuous_at_s_equal_one():
    values = [pareto_nbd.expected_purchases(ParetoNBDParams(0.6, 10.0, s, 12.0), 39.0, 3, 20.0,
                                            38.0) for s in (1 - 1e-7, 1.0, 1 + 1e-7)]
    np.testing.assert_allclose(values, values[1], rtol=1e-6)


def test_conditional_expected_spend(gamma_gamma_fit, cdnow_spend):
    params, _ = gamma_gamma_fit
    mean = gamma_gamma.population_mean_spend(params)
    assert mean == pytest.approx(params.p * params.gamma / (params.q - 1))
    x, zbar = cdnow_spend["x"].to_numpy(float), cdnow_spend["zbar"].to_numpy(float)
    spend = gamma_gamma.conditional_expected_spend(params, x, zbar)
    assert np.all(spend[x == 0] == pytest.approx(mean))
    repeat = x > 0
    # a credibility-weighted mean of zbar and the population mean
    lo = np.minimum(zbar, mean)[repeat]
    hi = np.maximum(zbar, mean)[repeat]
    assert np.all((spend[repeat] >= lo - 1e-9) & (spend[repeat] <= hi + 1e-9))
    assert gamma_gamma.conditional_expected_spend(params, 10_000, 50.0) == pytest.approx(
        50.0, rel=1e-2)


# --- CLV ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["bgnbd_fit", "pareto_fit"])
def test_clv_without_discount_is_expected_purchases_times_spend(fixture, request,
                                                               gamma_gamma_fit, cdnow_spend):
    params, _ = request.getfixturevalue(fixture)
    spend_params, _ = gamma_gamma_fit
    df = cdnow_spend
    x, t_x, T, zbar = (df[c].to_numpy(float) for c in ("x", "t_x", "T", "zbar"))
    value = btyd.clv(params, spend_params, x, t_x, T, zbar, 52.0, period_length=4.0)
    expected = (btyd.expected_purchases(params, 52.0, x, t_x, T)
                * gamma_gamma.conditional_expected_spend(spend_params, x, zbar))
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    discounted = btyd.clv(params, spend_params, x, t_x, T, zbar, 52.0, period_length=4.0,
                          discount_rate=0.01)
    assert np.all(discounted < value)
    # lifetimes.utils.customer_lifetime_value: 12 monthly steps of 4.345 weeks, discounted by k
    month = 4.345
    spend = gamma_gamma.conditional_expected_spend(spend_params, x, zbar)
    manual = sum((btyd.expected_purchases(params, k * month, x, t_x, T)
                  - btyd.expected_purchases(params, (k - 1) * month, x, t_x, T))
                 * spend / 1.01**k for k in range(1, 13))
    np.testing.assert_allclose(
        btyd.clv(params, spend_params, x, t_x, T, zbar, 12 * month, period_length=month,
                 discount_rate=0.01), manual, rtol=1e-12)


def test_clv_inputs(bgnbd_fit):
    params, _ = bgnbd_fit
    plain = btyd.clv(params, None, [2, 0], [30.43, 0], [38.86, 38.86], [20.0, 0.0], 39.0)
    np.testing.assert_allclose(
        plain, bgnbd.expected_purchases(params, 39.0, [2, 0], [30.43, 0], 38.86) * [20.0, 0.0])
    with pytest.raises(TaskError):
        btyd.clv(params, None, 1, 1.0, 2.0, 1.0, 10.0, discount_rate=-1.0)
    with pytest.raises(TaskError):
        btyd.clv(params, None, 1, 1.0, 2.0, 1.0, 10.0, period_length=0.0)
    with pytest.raises(TypeError):
        btyd.clv(GammaGammaParams(1, 2, 3), None, 1, 1.0, 2.0, 1.0, 10.0)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd])
def test_non_convergence_raises_model_error(module, cdnow):
    # one BFGS iteration cannot bring the gradient below 1e-9 from the default start
    with pytest.raises(ModelError, match="did not converge"):
        module.fit(*_rft(cdnow), maxiter=1)


def test_gamma_gamma_non_convergence_raises_model_error(cdnow_spend):
    repeat = cdnow_spend[cdnow_spend["x"] > 0]
    with pytest.raises(ModelError, match="did not converge"):
        gamma_gamma.fit(repeat["x"], repeat["zbar"], maxiter=1)


@pytest.mark.parametrize("module", [bgnbd, pareto_nbd])
def test_all_zero_frequency_raises_model_error(module):
    # without a repeat purchase the likelihood grows without bound as r -> 0: no estimate exists
    with pytest.raises(ModelError, match="no customer has a repeat purchase"):
        module.fit(np.zeros(50), np.zeros(50), np.linspace(1, 30, 50))


@pytest.mark.parametrize("x,t_x,T,rule,n_rows", [
    ([1, -1, -2], [1.0, 0.0, 0.0], [2.0, 2.0, 2.0], "x_nonnegative_integer", 2),
    ([1.5, 2, 0], [1.0, 1.0, 0.0], [2.0, 2.0, 2.0], "x_nonnegative_integer", 1),
    ([1, 2, 3], [3.0, 1.0, 5.0], [2.0, 2.0, 2.0], "t_x_le_T", 2),
    ([1, 2, 3], [-1.0, 1.0, 1.0], [2.0, 2.0, 2.0], "t_x_nonnegative", 1),
    ([0, 0, 1], [0.5, 1.0, 1.0], [2.0, 2.0, 2.0], "x_zero_implies_t_x_zero", 2),
    ([1, 2, 3], [1.0, np.nan, 1.0], [2.0, 2.0, 2.0], "finite", 1),
])
@pytest.mark.parametrize("module", [bgnbd, pareto_nbd])
def test_bad_inputs_raise_data_validation_error(module, x, t_x, T, rule, n_rows):
    with pytest.raises(DataValidationError) as err:
        module.fit(x, t_x, T)
    assert err.value.rule == rule and err.value.n_rows == n_rows
    assert rule in str(err.value) and f"{n_rows} row" in str(err.value)


def test_other_bad_inputs():
    with pytest.raises(DataValidationError, match="same_shape"):
        bgnbd.fit([1, 2], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    with pytest.raises(DataValidationError, match="weights_nonnegative"):
        bgnbd.fit([1, 2], [1.0, 1.0], [2.0, 2.0], weights=[1.0, -1.0])
    with pytest.raises(DataValidationError, match="x_positive_integer"):
        gamma_gamma.fit([0, 2], [10.0, 20.0])
    with pytest.raises(DataValidationError, match="zbar_positive"):
        gamma_gamma.fit([1, 2], [0.0, 20.0])
    with pytest.raises(DataValidationError, match="t_nonnegative"):
        bgnbd.expected_purchases(BGNBDParams(1, 1, 1, 1), -1.0, 1, 1.0, 2.0)
    with pytest.raises(ModelError, match="positive and finite"):
        ParetoNBDParams(r=1.0, alpha=-2.0, s=1.0, beta=1.0)


def test_boundary_fit_is_refitted_with_a_weak_prior_and_says_so(shared_data, monkeypatch):
    """Online Retail's calibration window shows no dropout: pure maximum likelihood runs off to
    a = 0; the model refits with a weak log-parameter prior and records that it did."""
    from ltvkit.data import build_dataset
    from ltvkit.datasets import get_dataset
    from ltvkit.models import create_model
    from ltvkit.models.base.btyd import rfm

    monkeypatch.setenv("LTVKIT_DATA_HOME", str(shared_data))
    public = get_dataset("online_retail")
    ds = build_dataset(public.load_log(), public.task)
    x, t_x, T, _ = rfm(ds)
    with pytest.raises(ModelError, match="boundary"):
        bgnbd.fit(x, t_x, T)
    model = create_model("bgnbd").fit(ds)
    assert "log_penalizer" in model.fit_note_
    assert 0 < model.purchase_params_.a < 10
    with pytest.raises(ModelError, match="boundary"):
        create_model("bgnbd", boundary_log_penalizer=0.0).fit(ds)
