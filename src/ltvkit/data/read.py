"""Read a raw transaction log, map its columns, validate it and clean it, counting every row.

The result is a :class:`~ltvkit.data.log.TransactionLog`: the kept rows sorted by customer and
time as NumPy columns (:class:`~ltvkit.data.arrays.LogArrays`) and a
:class:`~ltvkit.data.quality.DataQualityReport` that accounts for every input row. The work is
done by an engine (:mod:`ltvkit.data.engine`), DuckDB by default: it registers the source
(:mod:`~ltvkit.data.sources`), maps and validates the columns (:mod:`~ltvkit.data.mapping`,
:mod:`~ltvkit.data.validation`), gives every row its fate (:mod:`~ltvkit.data.cleaning`) and
sorts the kept rows once (:mod:`~ltvkit.data.log`). The log is never copied into pandas.
"""

from __future__ import annotations

from typing import Any

import duckdb

from ltvkit.data.engine import LogEngine, get_engine
from ltvkit.data.log import TransactionLog
from ltvkit.data.mapping import CleaningRules, ColumnMapping
from ltvkit.errors import DataValidationError


def read_transactions(source: Any, mapping: ColumnMapping | None = None,
                      cleaning: CleaningRules | None = None, *,
                      con: duckdb.DuckDBPyConnection | None = None,
                      read_options: dict[str, Any] | None = None,
                      table: str = "transactions",
                      engine: str | LogEngine = "duckdb") -> TransactionLog:
    """Read, validate and clean a transaction log.

    Parameters
    ----------
    source : path to CSV (also .gz) / Parquet file, folder or glob; pandas or polars DataFrame;
        Arrow table; DuckDB relation.
    mapping : which columns are customer, time, amount (column or SQL expression) and the
        optional order, quantity, category and domain columns.
    cleaning : the cleaning rules; every row a rule drops is counted in ``log.quality``.
    con : a DuckDB connection to build the table in (a new one by default).
    read_options : extra keyword arguments for DuckDB's ``read_csv`` / ``read_parquet``.
    table : the name of the log's DuckDB view.
    engine : the engine that does the work: a name (``"duckdb"``) or a
        :class:`~ltvkit.data.engine.LogEngine`.

    Raises
    ------
    DataValidationError
        naming the column, the rule and the number of offending rows: a missing column,
        unparseable or missing timestamps, non-numeric / NaN / infinite amounts, an empty input;
        or naming the known engines for an unknown engine name.
    """
    return get_engine(engine).read(source, mapping or ColumnMapping(),
                                   cleaning or CleaningRules(), con=con,
                                   read_options=read_options, table=table)


def read_domains(sources: dict[str, Any], mapping: ColumnMapping | None = None,
                 cleaning: CleaningRules | None = None, *,
                 read_options: dict[str, Any] | None = None,
                 engine: str | LogEngine = "duckdb") -> TransactionLog:
    """Read one log per domain (e.g. ``{"sales": orders.parquet, "logistics": waybills.csv}``)
    into one cross-domain :class:`TransactionLog` with a ``domain`` column.

    Every source uses the same column mapping; the data-quality report covers all of them.
    """
    if len(sources) < 2:
        raise DataValidationError("read_domains needs at least two domains",
                                  rule="two domains")
    mapping = mapping or ColumnMapping()
    if mapping.domain is not None:
        raise DataValidationError("read_domains sets the domain itself: leave mapping.domain "
                                  "empty", column=mapping.domain, rule="no domain column")
    return get_engine(engine).read_domains(sources, mapping, cleaning or CleaningRules(),
                                           read_options=read_options)
