"""The engine seam: read_transactions / read_domains hand the work to the engine they are given,
an unknown engine name is refused naming the known ones, and a log that no DuckDB table holds
(what an engine other than DuckDB returns) builds the same dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from ltvkit.data import (
    ColumnMapping,
    LogEngine,
    LTVTask,
    build_dataset,
    get_engine,
    read_domains,
    read_transactions,
)
from ltvkit.data.engine import ENGINES, DuckDBEngine, register_engine
from ltvkit.data.sources import new_connection
from ltvkit.errors import DataValidationError

FRAME = pd.DataFrame({
    "customer_id": ["a", "a", "b", "c", "c", "c"],
    "timestamp": pd.to_datetime(["2021-01-01", "2021-02-03", "2021-01-10", "2021-01-05",
                                 "2021-03-01", "2021-05-20"]),
    "amount": [10.0, 5.5, 7.0, 0.0, 20.0, 3.0],
    "domain": ["shop", "app", "shop", "app", "shop", "app"],
})
TASK = LTVTask(cutoff="2021-02-28", horizons=("60D",), period="M", n_periods=2)


class RecordingEngine(DuckDBEngine):
    """The DuckDB engine, noting every read it is asked for."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def read(self, source, mapping, cleaning, **options):
        self.calls.append(("read", {"mapping": mapping, "cleaning": cleaning, **options}))
        return super().read(source, mapping, cleaning, **options)

    def read_domains(self, sources, mapping, cleaning, **options):
        self.calls.append(("read_domains", {"domains": list(sources), **options}))
        return super().read_domains(sources, mapping, cleaning, **options)


class NoTableEngine(LogEngine):
    """A stand-in for an engine that does not keep the log in DuckDB: it returns only the
    engine-neutral part of the contract (table None, a fresh connection)."""

    name = "no-table"

    def read(self, source, mapping, cleaning, **options):
        log = DuckDBEngine().read(source, mapping, cleaning)
        return dataclasses.replace(log, con=new_connection(), table=None)

    def read_domains(self, sources, mapping, cleaning, **options):
        log = DuckDBEngine().read_domains(sources, mapping, cleaning)
        return dataclasses.replace(log, con=new_connection(), table=None)


def test_read_transactions_uses_the_engine_object_it_is_given():
    engine = RecordingEngine()
    log = read_transactions(FRAME, engine=engine, table="tx", read_options=None)
    assert [kind for kind, _ in engine.calls] == ["read"]
    options = engine.calls[0][1]
    # The defaults are filled in before the engine sees them.
    assert options["mapping"] == ColumnMapping()
    assert options["cleaning"].zero_amounts == "drop"
    assert options["table"] == "tx" and options["con"] is None
    default = read_transactions(FRAME)
    assert log.quality.to_dict() == default.quality.to_dict()
    np.testing.assert_array_equal(log.arrays.ts, default.arrays.ts)
    np.testing.assert_array_equal(log.arrays.amount, default.arrays.amount)
    assert log.table == "tx" and log.relation().count("*").fetchall() == [(5,)]


def test_read_domains_uses_the_engine_object_it_is_given():
    engine = RecordingEngine()
    frame = FRAME.drop(columns="domain")
    log = read_domains({"shop": frame.iloc[:3], "app": frame.iloc[3:]}, engine=engine)
    assert [kind for kind, _ in engine.calls] == ["read_domains", "read"]
    assert engine.calls[0][1] == {"domains": ["shop", "app"], "read_options": None}
    assert log.domains() == ["app", "shop"]
    assert log.quality.rows_read == 6 and log.quality.rows_kept == 5


def test_an_unknown_engine_name_is_refused_naming_the_known_engines():
    with pytest.raises(DataValidationError, match="unknown engine 'dask'.*duckdb") as err:
        read_transactions(FRAME, engine="dask")
    assert err.value.rule == "known engine"
    with pytest.raises(DataValidationError, match="known engines are duckdb, spark"):
        read_domains({"x": FRAME, "y": FRAME}, ColumnMapping(), engine="nope")


def test_get_engine_by_name_by_object_and_registered():
    assert type(get_engine()) is DuckDBEngine
    assert type(get_engine("duckdb")) is DuckDBEngine
    engine = RecordingEngine()
    assert get_engine(engine) is engine
    try:
        assert register_engine(NoTableEngine) is NoTableEngine
        assert type(get_engine("no-table")) is NoTableEngine
        log = read_transactions(FRAME, engine="no-table")
        assert log.table is None
    finally:
        ENGINES.pop("no-table", None)
    with pytest.raises(DataValidationError, match="no-table"):
        get_engine("no-table")


def test_a_log_without_a_duckdb_table_builds_the_same_dataset():
    mapping = ColumnMapping(domain="domain")
    duck = read_transactions(FRAME, mapping)
    other = read_transactions(FRAME, mapping, engine=NoTableEngine())
    assert other.table is None
    assert other.domains() == duck.domains() == ["app", "shop"]
    with pytest.raises(ValueError, match="not held in DuckDB"):
        other.relation()
    a, b = build_dataset(duck, TASK), build_dataset(other, TASK)
    assert a.feature_names == b.feature_names
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.sequences, b.sequences)
