"""Batch scoring output: the table ``ltv predict`` writes, whole or chunk by chunk.

:func:`prediction_frame` is the one place where a :class:`~ltvkit.prediction.Prediction` of a
dataset becomes the scored rows (one row per customer, cutoff and horizon: ``customer_id``,
``cutoff``, ``horizon``, ``y_true`` when the dataset has labels for the horizon, ``y_pred``,
``p_active`` and the quantile columns when the model gives them). Local scoring, chunked
scoring (:func:`predict_chunks`, for data larger than memory) and Spark batch scoring
(:mod:`ltvkit.scoring.spark_predict`) all call it, so their rows agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from ltvkit.data import LTVDataset
    from ltvkit.models import LTVModel
    from ltvkit.prediction import Prediction


def prediction_frame(pred: Prediction, ds: LTVDataset) -> pd.DataFrame:
    """The scored rows of ``pred`` (the prediction of ``ds``), horizon after horizon."""
    import pandas as pd

    frames = []
    for h in pred.horizons:
        y = ds.labels_for(h) if h in ds.horizons else None
        f = pred.to_frame(h, y_true=y)
        f.insert(2, "horizon", h)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def predict_chunks(model: LTVModel, data: str | Path, batch_rows: int = 262_144
                   ) -> Iterator[pd.DataFrame]:
    """The scored rows of the dataset folder ``data``, one frame per chunk of at most
    ``batch_rows`` samples (one chunk in memory at a time)."""
    from ltvkit.data.dataset import iter_dataset_chunks

    for chunk in iter_dataset_chunks(data, batch_rows=batch_rows):
        yield prediction_frame(model.predict(chunk), chunk)
