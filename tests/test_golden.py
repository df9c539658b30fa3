"""Golden predictions: every registered model, its first test configuration, seed 0, on fixed
real-data slices, against numbers checked in before the "make room" refactor.

A change of a model's numbers must be a decision, not an accident: when one is intended,
regenerate the file with ``LTVKIT_WRITE_GOLDEN=1 python -m pytest tests/test_golden.py`` and
say which model changed and why. The file keeps the first rows and the mean of every float
field of the prediction; the tolerance (1e-3 relative) absorbs float summation order across
machines and thread counts, not a change of behaviour.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ltvkit.models import all_models

GOLDEN = Path(__file__).parent / "golden" / "predictions.json"
N_ROWS = 8
RTOL, ATOL = 1e-3, 1e-6
WRITE = os.environ.get("LTVKIT_WRITE_GOLDEN") == "1"


def record(pred) -> dict[str, dict[str, list[float] | float]]:
    """The checked fields of a prediction: first rows (flattened) and mean of each."""
    fields = {"value": pred.value, "p_active": pred.p_active,
              "bucket_probs": pred.bucket_probs}
    fields.update({f"q{q}": a for q, a in (pred.quantiles or {}).items()})
    fields.update({f"extra.{k}": a for k, a in pred.extras.items()})
    out = {}
    for key, arr in fields.items():
        if arr is None:
            continue
        a = np.asarray(arr)
        if not np.issubdtype(a.dtype, np.floating):
            continue  # integer extras (chosen bucket, expert) follow the floats
        out[key] = {"head": [float(x) for x in a[:N_ROWS].ravel()], "mean": float(a.mean())}
    return out


@pytest.fixture(scope="module")
def golden():
    if WRITE:
        return {}
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing: write it with LTVKIT_WRITE_GOLDEN=1")
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def written():
    records: dict = {}
    yield records
    if WRITE:
        GOLDEN.write_text(json.dumps(dict(sorted(records.items())), indent=1) + "\n")


@pytest.mark.parametrize("name", list(all_models()))
def test_predictions_match_the_golden_file(name, golden, written, request, cdnow_slices,
                                           cdnow_multi_horizon):
    cls = all_models()[name]
    if cls.tag("cross_domain"):
        data = request.getfixturevalue("olist_slices")
    elif cls.tag("multi_horizon"):
        idx = np.random.default_rng(7).permutation(len(cdnow_multi_horizon))
        data = tuple(cdnow_multi_horizon.subset(idx[a:b])
                     for a, b in ((0, 1500), (1500, 1800), (1800, 2600)))
    else:
        data = cdnow_slices
    pred = cls(**cls.test_params()[0]).fit(data[0], data[1]).predict(data[2])
    got = record(pred)
    if WRITE:
        written[name] = got
        return
    assert name in golden, f"{name} has no golden predictions: regenerate the file"
    want = golden[name]
    assert sorted(got) == sorted(want), f"{name}: prediction fields changed"
    for key in want:
        np.testing.assert_allclose(got[key]["head"], want[key]["head"], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}.{key}")
        np.testing.assert_allclose(got[key]["mean"], want[key]["mean"], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name}.{key} (mean)")
