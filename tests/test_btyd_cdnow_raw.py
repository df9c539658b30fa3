"""The published CDNOW parameters from the raw log: the 2,357 customers of Fader, Hardie & Lee's
1/10 sample are selected from the full CDNOW log (the bundled CDNOW_master.txt) by their ids
(tests/data/cdnow_sample_ids.csv, see tests/data/README.md), their calibration summary is built
by ltvkit's own data path (cutoff 1997-09-30, 39 weeks) and converted to weeks in the one place
that converts time units, and the fits reproduce the published estimates:

* BG/NBD r 0.243, alpha 4.414, a 0.793, b 2.426, log-likelihood -9582.4 (Fader, Hardie & Lee
  2005, "Counting Your Customers the Easy Way", Marketing Science 24(2));
* Pareto/NBD r 0.55, alpha 10.58, s 0.61, beta 11.67 (same paper);
* Gamma-Gamma p 6.25, q 3.74, gamma 15.44 (Fader, Hardie & Lee 2005, "RFM and CLV: Using
  Iso-Value Curves for Customer Base Analysis", Journal of Marketing Research 42(4));
* MBG/NBD r 0.525, alpha 6.183, a 0.891, b 1.614 (the CDNOW-sample estimates of lifetimes'
  ModifiedBetaGeoFitter tests; Batislam, Denizel & Filiztekin 2007 publish no CDNOW fit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ltvkit.btyd import bgnbd, gamma_gamma, mbgnbd, pareto_nbd
from ltvkit.models.base.btyd import rfm

IDS = Path(__file__).parent / "data" / "cdnow_sample_ids.csv"


@pytest.fixture(scope="module")
def sample(cdnow_dataset):
    """(ids, weekly x, t_x, T, zbar) of the sample, from the full-log dataset."""
    ids = pd.read_csv(IDS, dtype={"master_id": str})
    assert len(ids) == 2357 and ids["master_id"].is_unique
    row = {c: i for i, c in enumerate(np.asarray(cdnow_dataset.customer_id).astype(str))}
    missing = [m for m in ids["master_id"] if m not in row]
    assert not missing, f"{len(missing)} sample ids are not in the CDNOW log"
    sub = cdnow_dataset.subset(np.array([row[m] for m in ids["master_id"]]))
    assert set(sub.cutoff.astype(str)) == {"1997-09-30"}
    return ids, *rfm(sub, "weeks")


def test_the_weekly_summary_is_the_published_one(sample, shared_data):
    """Customer by customer, the summary built from the raw log equals the published sample
    summary (rounded there to 0.01 week / 0.01 dollar)."""
    ids, x, t_x, T, zbar = sample
    path = shared_data / "cdnow" / "cdnow_sample_summary_with_spend.csv"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    pub = pd.read_csv(path).set_index("ID").loc[ids["sample_id"]]
    np.testing.assert_array_equal(x, pub["x"].to_numpy(float))
    np.testing.assert_allclose(t_x, pub["t_x"], atol=0.0051)
    np.testing.assert_allclose(T, pub["T"], atol=0.0051)
    repeat = x > 0
    np.testing.assert_allclose(zbar[repeat], pub["zbar"][repeat], atol=0.0051)


def test_bgnbd_and_pareto_nbd_reproduce_the_published_weekly_parameters(sample):
    _, x, t_x, T, _ = sample
    assert T.max() == pytest.approx(272 / 7)  # first purchases from 1997-01-01
    params, info = bgnbd.fit(x, t_x, T)
    np.testing.assert_allclose([params.r, params.alpha, params.a, params.b],
                               [0.243, 4.414, 0.793, 2.426], atol=5e-4)
    assert -info.neg_log_likelihood == pytest.approx(-9582.4, abs=0.05)
    params, _ = pareto_nbd.fit(x, t_x, T)
    np.testing.assert_allclose([params.r, params.alpha, params.s, params.beta],
                               [0.55, 10.58, 0.61, 11.67], atol=5e-3)


def test_gamma_gamma_and_mbgnbd_on_the_raw_sample(sample):
    _, x, t_x, T, zbar = sample
    repeat = (x > 0) & (zbar > 0)
    params, _ = gamma_gamma.fit(x[repeat], zbar[repeat])
    np.testing.assert_allclose([params.p, params.q, params.gamma], [6.25, 3.74, 15.44],
                               atol=5e-3)
    params, _ = mbgnbd.fit(x, t_x, T)
    np.testing.assert_allclose([params.r, params.alpha, params.a, params.b],
                               [0.525, 6.183, 0.891, 1.614], atol=6e-4)
