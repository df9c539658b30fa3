"""The copy-me template is a working model: it passes the core of the contract."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ltvkit.models.base.model import LTVModel
from ltvkit.models.registry import REGISTRY

TEMPLATE = Path(__file__).resolve().parents[1] / "extension_templates" / "ltv_model.py"


def _load_template():
    spec = importlib.util.spec_from_file_location("ltv_model_template", TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        return module.ShrunkRate
    finally:
        REGISTRY.pop("shrunk_rate", None)  # keep the template out of the real registry


def test_template_fits_predicts_and_round_trips(cdnow_slices, tmp_path):
    cls = _load_template()
    train, valid, test = cdnow_slices
    for params in cls.test_params():
        model = cls(**params).fit(train, valid)
        pred = model.predict(test)
        assert pred.value.shape == (len(test), 1) and np.all(pred.value >= 0)
        model.save(tmp_path / "m")
        REGISTRY["shrunk_rate"] = cls
        try:
            loaded = LTVModel.load(tmp_path / "m")
        finally:
            REGISTRY.pop("shrunk_rate", None)
        np.testing.assert_array_equal(loaded.predict(test).value, pred.value)
