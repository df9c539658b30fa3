"""The copy-me templates are working models (the conformance suite runs them too) that keep
out of the registry unless asked."""

from __future__ import annotations

import numpy as np

from _templates import registered, template_classes
from ltvkit.models import LTVModel, all_models


def test_templates_stay_out_of_the_registry():
    names = {cls.name for cls in template_classes()}
    assert names == {"shrunk_rate", "capped_mlp"}
    assert not names & set(all_models())


def test_templates_fit_predict_and_round_trip(cdnow_slices, tmp_path):
    train, valid, test = cdnow_slices
    for cls in template_classes():
        model = cls(**cls.test_params()[0]).fit(train, valid)
        pred = model.predict(test)
        assert pred.value.shape == (len(test), 1) and np.all(pred.value >= 0)
        model.save(tmp_path / cls.name)
        with registered(cls):
            loaded = LTVModel.load(tmp_path / cls.name)
        np.testing.assert_array_equal(loaded.predict(test).value, pred.value)


def test_torch_template_caps_predictions_in_the_label_unit(cdnow_slices):
    cls = next(c for c in template_classes() if c.name == "capped_mlp")
    train, valid, test = cdnow_slices
    model = cls(**{**cls.test_params()[0], "cap_quantile": 0.95}).fit(train, valid)
    pred = model.predict(test)
    cap = float(np.quantile(train.labels[:, 0], 0.95))
    assert cap > 0
    # The cap is applied in scaled units and comes back in the label unit (value_extras too).
    assert pred.value.max() <= cap * (1 + 1e-5)
    assert np.all(pred.extras["uncapped"][:, 0] >= pred.value[:, 0] - 1e-9)
