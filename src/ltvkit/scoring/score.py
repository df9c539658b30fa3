"""The scored customer base: one row per customer in scope with predicted value per horizon,
its interval, purchase probability, discounted CLV, rank, decile, percentile and value segment;
and the accounted list of the log's customers that the task left out of scope.

Columns (per predicted horizon ``h``): ``value_<h>``, ``q10_<h>`` / ``q50_<h>`` / ``q90_<h>``
(models with quantiles), ``p_active_<h>`` (models with a purchase probability),
``clv_npv_<h>`` (:mod:`ltvkit.scoring.npv`), ``y_true_<h>`` (``with_labels=True``); then
``rank`` (1 = highest value, ties share the best rank), ``decile`` (1 = top 10 %),
``percentile`` (1 = top 1 %), ``segment`` and ``p_alive`` (BTYD models).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltvkit.prediction import QUANTILE_LEVELS, quantile_column
from ltvkit.scoring.errors import ScoringError
from ltvkit.scoring.npv import discounted_value
from ltvkit.scoring.segments import ValueSegments

DEFAULT_DISCOUNT_RATE = 0.10


@dataclass
class ScoredBase:
    """``table``: the scored customers as an Arrow table (``frame``: the same as a pandas
    DataFrame, built on first use); ``out_of_scope``: customer_id, cutoff, reason of every log
    customer not scored at a cutoff (empty without a log); ``summary``: the accounting."""

    table: Any
    out_of_scope: Any
    segments: ValueSegments
    summary: dict[str, Any] = field(default_factory=dict)
    _frame: Any = field(default=None, repr=False)

    @property
    def customers_scored(self) -> int:
        """Distinct customers among the scored rows (one hash of every id, so on demand)."""
        import pyarrow.compute as pc

        return int(pc.count_distinct(self.table.column("customer_id")).as_py())

    @property
    def frame(self):
        """The scored customers as a pandas DataFrame (changes to it are what ``write``
        writes)."""
        if self._frame is None:
            self._frame = self.table.to_pandas()
        return self._frame

    def add_columns(self, columns: dict[str, np.ndarray]) -> None:
        """Append columns (one value per scored row) to the scored table."""
        import pyarrow as pa

        for name, values in columns.items():
            self.table = self.table.append_column(name, pa.array(values))
        self._frame = None

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write the scored file (Parquet, or CSV when the name ends in .csv) and the
        out-of-scope list beside it (``<stem>.out_of_scope.<ext>``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        other = path.with_name(f"{path.stem}.out_of_scope{path.suffix or '.parquet'}")
        if path.suffix == ".csv" or self._frame is not None:
            _write_frame(self.frame, path)
        else:
            write_scored_table(self.table, path)
        _write_frame(self.out_of_scope, other)
        return path, other


def _write_frame(frame, target: Path) -> None:
    if target.suffix == ".csv":
        frame.to_csv(target, index=False)
    else:
        frame.to_parquet(target, index=False)


# Dictionary encoding where values repeat (cutoffs, segments, deciles, percentiles), never on
# the float columns (tried and abandoned there, which only costs time) nor on the unique ids;
# min/max statistics only on the keys a reader filters by.
_DICTIONARY_COLUMNS = ("cutoff", "segment", "decile", "percentile")
_STATISTICS_COLUMNS = ("customer_id", "cutoff")


def write_scored_table(table, path: str | Path) -> None:
    """Write a scored table as one Parquet file with the encodings above."""
    import pyarrow.parquet as pq

    names = set(table.column_names)
    pq.write_table(table, path,
                   use_dictionary=[c for c in _DICTIONARY_COLUMNS if c in names],
                   write_statistics=[c for c in _STATISTICS_COLUMNS if c in names])


def rank_columns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, decile, percentile) of ``values``: rank 1 = highest (ties share the best rank),
    decile 1 = top 10 %, percentile 1 = top 1 %: the groups of
    :func:`ltvkit.targets.rank_groups` on ``-values`` (``floor(k * g / n)`` with ``g`` the
    number of larger values), from one sort. The count of larger values does not depend on
    how ties are ordered, so the sort need not be stable."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    # Few temporaries, written in place: first-touched memory is what this step pays for.
    order = np.argsort(v)[::-1]          # descending
    ordered = v[order]
    first = np.ones(n, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    greater_sorted = np.arange(n, dtype=np.int64)
    greater_sorted *= first
    np.maximum.accumulate(greater_sorted, out=greater_sorted)
    greater = np.empty(n, dtype=np.int64)
    greater[order] = greater_sorted
    denom = max(n, 1)

    def groups(k: int) -> np.ndarray:
        out = np.multiply(greater, k, out=greater_sorted if k == 10 else None)
        out //= denom
        np.minimum(out, k - 1, out=out)
        out += 1
        return out

    decile, percentile = groups(10), groups(100)
    greater += 1
    return greater, decile, percentile


def out_of_scope(log, dataset):
    """The customers of ``log`` that ``dataset`` has no sample of at a cutoff, with the reason
    the task's cohort rule gives: customer_id, cutoff, reason."""
    return _out_of_scope(log, dataset.meta, dataset.customer_id, dataset.cutoff)


def _out_of_scope(log, meta, customer_id, cutoff_dates):
    import pandas as pd

    from ltvkit.data import kernels
    from ltvkit.data.task import LTVTask, parse_date, parse_days

    task = LTVTask.from_dict(meta["task"])
    arrays = log.arrays
    ids = np.asarray(arrays.customer_ids).astype(str)
    first = kernels.first_purchase_us(arrays)
    lookback = parse_days(task.lookback) if task.lookback else None
    frames = []
    scored = pd.DataFrame({"customer_id": np.asarray(customer_id).astype(str),
                           "cutoff": np.asarray(cutoff_dates).astype("datetime64[D]")})
    for cutoff in task.cutoff_dates():
        w = kernels.make_window(cutoff, lookback)
        have = scored.loc[scored["cutoff"] == np.datetime64(cutoff, "D"), "customer_id"]
        absent = ~pd.Index(ids).isin(have.to_numpy())  # hashed: np.isin on str is slow
        reason = np.full(len(ids), "", dtype=object)
        never = first == np.iinfo(np.int64).max
        after = (first >= w.end_us) & ~never
        reason[never] = "refunds only: no purchase in the log"
        reason[after] = f"first purchase after the cutoff {cutoff}"
        if task.cohort == "active" and lookback:
            idle = ~kernels.active_customers(arrays, w) & ~never & ~after
            reason[idle] = f"no purchase in the {task.lookback} before the cutoff {cutoff}"
        if task.cohort == "new":
            lo = kernels.day_number(parse_date(task.new_from, "new_from")) * kernels.US_PER_DAY
            hi = (kernels.day_number(parse_date(task.new_until, "new_until")) + 1
                  ) * kernels.US_PER_DAY
            early = ((first < lo) | (first >= hi)) & ~never & ~after
            reason[early] = (f"first purchase outside the new-customer window "
                             f"{task.new_from}..{task.new_until}")
        reason[absent & (reason == "")] = ("in the cohort but not in this dataset "
                                               "(another split, or a subset)")
        frames.append(pd.DataFrame({"customer_id": ids[absent],
                                    "cutoff": np.datetime64(cutoff, "D"),
                                    "reason": reason[absent]}))
    out = pd.concat(frames, ignore_index=True)
    out["cutoff"] = out["cutoff"].astype("datetime64[s]")
    return out


CHUNK_ROWS = 262_144
# Chunks are whole prediction batches of the torch models (4096 and 2048 rows); models whose
# predictions are not row by row the same in any batch (``predicts_rows_independently`` False:
# simulated intervals, torch kernels) are read whole all the same.
CHUNK_MULTIPLE = 4096


def _load_model(model):
    from ltvkit.models import load_model

    if isinstance(model, str | Path):
        return load_model(Path(model)), Path(model)
    return model, None


def _chunks(model, data, chunk_rows: int | None):
    """(dataset meta, iterator of datasets): ``data`` itself, or the dataset folder ``data``
    read whole or in chunks, without the sequences when the model does not read them."""
    from ltvkit.data.dataset import iter_dataset_chunks, load_dataset
    from ltvkit.data.dataset_io import read_meta

    if not isinstance(data, str | Path):
        return data.meta, iter([data])
    sequences = bool(model.reads_sequences)
    if chunk_rows is None:
        ds = load_dataset(data, sequences=sequences)
        return ds.meta, iter([ds])
    if chunk_rows < 1 or chunk_rows % CHUNK_MULTIPLE:
        raise ScoringError(f"chunk_rows: must be a positive multiple of {CHUNK_MULTIPLE} (the "
                           f"models' prediction batch), got {chunk_rows}")
    if not model.predicts_rows_independently:
        # Chunks would change the last bits of some predictions: read it whole instead.
        ds = load_dataset(data, sequences=sequences)
        return ds.meta, iter([ds])
    return (read_meta(data).get("meta", {}),
            iter_dataset_chunks(data, chunk_rows, sequences=sequences))


def _id_array(ids: np.ndarray):
    """The ids as an Arrow large_string array (the text ``ids.astype(str)`` gives)."""
    import pyarrow as pa

    if ids.dtype == object:
        try:
            return pa.array(ids, type=pa.large_string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            pass
    return pa.array(np.asarray(ids).astype(str), type=pa.large_string())


@dataclass
class _Chunk:
    """What scoring keeps of one predicted chunk."""

    ids: Any
    cutoff: np.ndarray
    value: np.ndarray
    p_active: np.ndarray | None
    quantiles: dict[float, np.ndarray] | None
    p_alive: np.ndarray | None
    labels: np.ndarray | None


def _predict_chunk(model, data, with_labels: bool) -> tuple[_Chunk, list[str], dict[str, int]]:
    import pyarrow as pa

    from ltvkit.data.dataset_io import arrow_customer_ids

    pred = model.predict(data)
    p_alive = pred.extras.get("p_alive")
    # Prediction rows are the data's rows, so the ids as read (if any) are the scored ids.
    read_ids = arrow_customer_ids(data)
    ids = (read_ids.combine_chunks().cast(pa.large_string()) if read_ids is not None
           and read_ids.type in (pa.string(), pa.large_string()) else
           _id_array(pred.customer_id))
    chunk = _Chunk(
        ids=ids, cutoff=np.asarray(pred.cutoff),
        value=pred.value, p_active=pred.p_active, quantiles=pred.quantiles,
        p_alive=None if p_alive is None else np.asarray(p_alive, np.float64).reshape(-1),
        labels=data.labels_for(list(pred.horizons)) if with_labels else None)
    days = {h: int(d) for h, d in zip(data.horizons, data.horizon_days, strict=True)}
    return chunk, list(pred.horizons), days


def _join(chunks: list[_Chunk]) -> _Chunk:
    if len(chunks) == 1:
        return chunks[0]
    import pyarrow as pa

    def cat(name):
        parts = [getattr(c, name) for c in chunks]
        return None if parts[0] is None else np.concatenate(parts)

    first = chunks[0]
    return _Chunk(
        ids=pa.chunked_array([c.ids for c in chunks]).combine_chunks(), cutoff=cat("cutoff"),
        value=cat("value"), p_active=cat("p_active"),
        quantiles=None if first.quantiles is None else {
            q: np.concatenate([c.quantiles[q] for c in chunks]) for q in first.quantiles},
        p_alive=cat("p_alive"), labels=cat("labels"))


def score(model, data, *, discount_rate: float = DEFAULT_DISCOUNT_RATE,
          segments: ValueSegments | None = None, intervals: bool | None = None,
          with_labels: bool = False, log=None, chunk_rows: int | None = None) -> ScoredBase:
    """Score every sample of ``data`` with ``model`` (objects, or a saved model directory and a
    dataset directory).

    Parameters
    ----------
    discount_rate : annual rate of ``clv_npv_<h>`` (see :mod:`ltvkit.scoring.npv`).
    segments : value segments; default the ``segments.json`` saved beside the model, else
        segments learnt on the scored base itself (recorded in ``summary["segments_from"]``).
    intervals : ``True`` requires q10/q50/q90 (an error when the model has none), ``False``
        leaves them out, ``None`` writes them when the model has them.
    with_labels : add ``y_true_<h>`` from the dataset's labels (a test split).
    log : the :class:`~ltvkit.data.log.TransactionLog` the dataset was built from; its
        customers without a sample become the out-of-scope list, each with a reason.
    chunk_rows : with a dataset directory, read and predict it ``chunk_rows`` samples at a
        time (a multiple of 4096) instead of whole: the inputs held in memory are one chunk,
        and the scored rows are the same (models that are not ``predicts_rows_independently``
        read it whole). A dataset directory is read without its sequences
        when the model does not read them (``model.reads_sequences``).
    """
    import time

    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    clock = {"start": time.perf_counter()}
    model, model_dir = _load_model(model)
    clock["model"] = time.perf_counter()
    meta, datasets = _chunks(model, data, chunk_rows)
    parts, horizons, days = [], [], {}
    read_s = time.perf_counter() - clock["model"]  # a whole dataset is read here
    t = time.perf_counter()
    for ds in datasets:
        read_s += time.perf_counter() - t
        chunk, horizons, days = _predict_chunk(model, ds, with_labels)
        parts.append(chunk)
        t = time.perf_counter()
    read_s += time.perf_counter() - t
    n_chunks = len(parts)
    pred = _join(parts)
    del parts
    clock["predict"] = time.perf_counter()
    if intervals and not pred.quantiles:
        raise ScoringError(f"intervals: model '{model.name}' predicts no quantiles, so there are "
                           "no q10/q50/q90 intervals; score without --intervals or use a "
                           "probabilistic model (e.g. ziln)")
    main = horizons[0]
    if segments is None and model_dir is not None:
        segments = ValueSegments.load(model_dir)
        source = f"{model_dir}/segments.json" if segments is not None else None
    else:
        source = "given" if segments is not None else None
    if segments is None:
        segments = ValueSegments.from_quantiles(pred.value[:, 0], horizon=main)
        source = "learnt on the scored base (no segments saved with the model)"
    seg_h = segments.horizon or main
    if seg_h not in horizons:
        raise ScoringError(f"segments: learnt on horizon {seg_h}, the model predicts "
                           f"{horizons}")
    ranked = pred.value[:, horizons.index(seg_h)]
    rank, decile, percentile = rank_columns(ranked)
    codes = segments.codes(ranked)
    clock["segment"] = time.perf_counter()
    cols: dict[str, Any] = {"customer_id": pred.ids,
                            "cutoff": pa.array(pred.cutoff.astype("datetime64[D]").astype(
                                "datetime64[s]"))}
    for j, h in enumerate(horizons):
        cols[f"value_{h}"] = pred.value[:, j]
        if pred.quantiles and intervals is not False:
            for q in QUANTILE_LEVELS:
                if q in pred.quantiles:
                    cols[f"{quantile_column(q)}_{h}"] = pred.quantiles[q][:, j]
        if pred.p_active is not None:
            cols[f"p_active_{h}"] = pred.p_active[:, j]
        cols[f"clv_npv_{h}"] = discounted_value(pred.value[:, j], days[h], discount_rate)
        if with_labels:
            cols[f"y_true_{h}"] = pred.labels[:, j]
    cols["rank"], cols["decile"], cols["percentile"] = rank, decile, percentile
    cols["segment"] = pa.array(list(segments.labels), type=pa.large_string()).take(
        pa.array(codes))
    if pred.p_alive is not None:
        cols["p_alive"] = pred.p_alive
    table = pa.table({k: pa.array(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
                      for k, v in cols.items()})
    clock["assemble"] = time.perf_counter()
    if log is not None:
        oos = _out_of_scope(log, meta, np.asarray(pred.ids.to_numpy(zero_copy_only=False),
                                                  dtype=object), pred.cutoff)
    else:
        oos = pd.DataFrame({"customer_id": pd.Series([], dtype=str),
                            "cutoff": pd.Series([], dtype="datetime64[s]"),
                            "reason": pd.Series([], dtype=str)})
    n_rows = table.num_rows
    summary = {"model": model.name, "samples_scored": n_rows, "chunks": n_chunks,
               "horizons": list(horizons), "discount_rate": discount_rate,
               "segments_from": source, "segment_horizon": seg_h,
               "scored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if log is not None:
        n_log = int(log.arrays.n_customers)
        n_cut = len(np.unique(pred.cutoff)) if n_rows else 0
        summary.update(customers_scored=int(pc.count_distinct(pred.ids).as_py()),
                       customers_in_log=n_log, out_of_scope_rows=len(oos),
                       balanced=bool(n_rows + len(oos) == n_log * max(n_cut, 1)),
                       reasons=oos["reason"].value_counts().to_dict())
    clock["end"] = time.perf_counter()
    summary["seconds"] = {
        "load_model": clock["model"] - clock["start"], "read": read_s,
        "predict": clock["predict"] - clock["model"] - read_s,
        "rank_segment": clock["segment"] - clock["predict"],
        "assemble": clock["assemble"] - clock["segment"],
        "account": clock["end"] - clock["assemble"]}
    return ScoredBase(table=table, out_of_scope=oos, segments=segments, summary=summary)
