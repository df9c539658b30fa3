"""The dataset layout object: one place that knows column names, domains and horizons."""

from __future__ import annotations

import numpy as np
import pytest

from ltvkit.data.layout import Horizon, domain_column
from ltvkit.errors import DataValidationError, TaskError


def test_horizon_parses_days_and_weeks():
    assert Horizon.parse("90D") == Horizon("90D", 90)
    assert Horizon.parse("13W").days == 91
    assert str(Horizon.parse(30)) == "30D"
    with pytest.raises(TaskError, match="cannot read the duration '3M'"):
        Horizon.parse("3M")


def test_feature_lookup_by_name(cdnow_dataset):
    j = cdnow_dataset.feature_names.index("net_spend")
    np.testing.assert_array_equal(cdnow_dataset.feature("net_spend"), cdnow_dataset.features[:, j])
    np.testing.assert_array_equal(cdnow_dataset.target_feature("net_spend"),
                                  cdnow_dataset.features[:, j])
    with pytest.raises(DataValidationError, match="no feature 'no_such_feature'"):
        cdnow_dataset.feature("no_such_feature")


def test_labels_for_follows_the_order_asked(cdnow_multi_horizon):
    ds = cdnow_multi_horizon
    both = ds.labels_for(["273D", "30D"])
    np.testing.assert_array_equal(both[:, 0], ds.labels[:, ds.horizons.index("273D")])
    np.testing.assert_array_equal(both[:, 1], ds.labels_for("30D"))
    assert ds.layout.horizon("90D").days == 90
    with pytest.raises(DataValidationError, match="horizon 7D is not in the dataset"):
        ds.labels_for("7D")


@pytest.mark.slow
def test_cross_domain_columns_split_by_domain(olist_cross_domain):
    ds = olist_cross_domain
    layout = ds.layout
    source, target = layout.source_domain, layout.target_domain
    assert {source, target} == set(ds.domains) and source != target
    own_s, own_t = layout.domain_features(source), layout.domain_features(target)
    shared = layout.shared_features()
    # Every feature column belongs to exactly one of: source, target, shared.
    assert sorted(own_s + own_t + shared) == list(range(len(ds.feature_names)))
    assert all(ds.feature_names[i].startswith(domain_column(source, "")) for i in own_s)
    np.testing.assert_array_equal(ds.feature("net_spend", target), ds.target_feature("net_spend"))
    np.testing.assert_array_equal(ds.labels_for(ds.horizons[0], domain=source),
                                  ds.labels_by_domain[source][:, 0])
    view = ds.domain_view(target)
    assert view.feature_names == [layout.unprefixed(ds.feature_names[i])
                                  for i in layout.domain_features(target, shared=True)]
    with pytest.raises(DataValidationError, match="domain 'nowhere' is not in"):
        layout.domain_channels("nowhere")
