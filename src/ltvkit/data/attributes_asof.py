"""Time-varying customer attributes (plan, tier, region) read as of each cutoff.

The table has one row per change: customer, valid-from time, and attribute columns. A sample
(customer, cutoff) sees the row with the latest valid-from before the end of its cutoff day
(``valid_from < cutoff + 1 day``, the time rule of :mod:`ltvkit.data.task`), found by DuckDB's
``ASOF JOIN``; a change dated after the cutoff never reaches the sample. Numeric columns become
features, the others categorical codes with a vocabulary (saved with the dataset; values unseen
there map to the "<unknown>" code 0). A column's vocabulary holds only the values some sample
sees at its cutoff, in the order they first became valid (then by value): a value's code
depends only on values valid before it, never on a change after the sample's cutoff.

Counts go to the ``attributes_asof`` section of the data-quality report: rows read, rows without
a customer (dropped), samples matched, samples without a value at their cutoff (their attributes
are unknown: NaN features and code 0).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ltvkit.data.mapping import customer_expr, quote, time_expr
from ltvkit.data.sources import column_types, register_source
from ltvkit.data.validation import require_column
from ltvkit.errors import DataValidationError

_NUMERIC_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE")
UNKNOWN = "<unknown>"


def _is_numeric(sql_type: str) -> bool:
    return sql_type in _NUMERIC_TYPES or sql_type.startswith("DECIMAL")


def asof_attributes(con: duckdb.DuckDBPyConnection, source: Any, customer_id: np.ndarray,
                    cutoff_end_us: np.ndarray, *, customer_col: str = "customer_id",
                    valid_from_col: str = "valid_from", time_format: str | None = None,
                    vocabularies: dict[str, list[str]] | None = None,
                    reserved: set[str] | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray],
                               dict[str, list[str]], dict[str, int]]:
    """The attributes valid at each sample's cutoff.

    ``customer_id`` [n] text ids of the samples; ``cutoff_end_us`` [n] the end of each sample's
    cutoff day (microseconds since 1970-01-01 UTC). Returns (numeric columns [n] float64,
    categorical codes [n] int64, vocabularies, counts). ``reserved`` names taken by other
    attribute columns (a clash is an error).
    """
    view = "_attr_asof_raw"
    register_source(con, source, view, None)
    types = column_types(con, view)
    require_column(customer_col, "as-of attribute customer", types)
    require_column(valid_from_col, "valid-from", types)
    columns = [c for c in types if c not in (customer_col, valid_from_col)]
    if not columns:
        raise DataValidationError(
            f"as-of attributes: no attribute column besides '{customer_col}' and "
            f"'{valid_from_col}'", column=None, rule="attribute columns")
    clash = sorted(set(columns) & (reserved or set()))
    if clash:
        raise DataValidationError(
            f"as-of attributes: column(s) {clash} are also static attributes (rule: one "
            "source per attribute)", column=clash[0], rule="unique attribute")
    cid = f"CAST({customer_expr(customer_col, types[customer_col])} AS VARCHAR)"
    vf = time_expr(valid_from_col, types[valid_from_col], time_format)
    cols = ", ".join(quote(c) for c in columns)
    con.execute("DROP TABLE IF EXISTS _attr_asof")
    con.execute(f"""CREATE TEMP TABLE _attr_asof AS
        SELECT {cid} AS __cid, {vf} AS __vf, {quote(valid_from_col)} IS NULL AS __vf_missing,
               {cols} FROM {view}""")
    n_read, no_cid, vf_missing, vf_bad = (int(x) for x in con.execute("""
        SELECT count(*), count(*) FILTER (__cid IS NULL), count(*) FILTER (__vf_missing),
               count(*) FILTER (NOT __vf_missing AND __vf IS NULL) FROM _attr_asof""").fetchall()[0])
    if vf_missing or vf_bad:
        n = vf_missing + vf_bad
        raise DataValidationError(
            f"as-of attributes column '{valid_from_col}': {n} rows have a missing or "
            "unparseable valid-from time (rule: parseable timestamp)",
            column=valid_from_col, rule="parseable timestamp", n_rows=n)
    dup = int(con.execute("""SELECT count(*) - count(DISTINCT (__cid, __vf)) FROM _attr_asof
                             WHERE __cid IS NOT NULL""").fetchall()[0][0])
    if dup:
        raise DataValidationError(
            f"as-of attributes: {dup} rows repeat a (customer, valid-from) pair in "
            f"'{customer_col}', '{valid_from_col}' (rule: one row per customer and time)",
            column=valid_from_col, rule="unique customer and valid-from", n_rows=dup)
    n = len(customer_id)
    samples = pa.table({"__row": np.arange(n, dtype=np.int64),
                        "__cid": pa.array(customer_id.astype(str).tolist(), pa.string()),
                        "__end": pa.array(cutoff_end_us.astype(np.int64)).cast(
                            pa.timestamp("us"))})
    con.register("_asof_samples", samples)
    # The row valid at the cutoff: the latest valid-from strictly before the end of the
    # cutoff day (ASOF's inequality picks the closest match).
    result = con.execute(f"""
        SELECT s.__row, a.__vf IS NOT NULL AS __matched, a.__vf AS __vf_used, {", ".join("a." + quote(c)
                                                                 for c in columns)}
        FROM _asof_samples s ASOF LEFT JOIN
             (SELECT * FROM _attr_asof WHERE __cid IS NOT NULL) a
          ON s.__cid = a.__cid AND s.__end > a.__vf
        ORDER BY s.__row""").df()
    con.unregister("_asof_samples")
    con.execute("DROP TABLE _attr_asof")
    try:
        con.unregister(view)
    except duckdb.Error:
        pass
    matched = result["__matched"].to_numpy(dtype=bool)
    numeric: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    vocabs = dict(vocabularies or {})
    for col in columns:
        s = result[col]
        if _is_numeric(types[col]) and col not in vocabs:
            numeric[col] = s.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        values = s.astype("string")
        if col not in vocabs:
            # Only values some sample sees at its cutoff, in the order they became valid.
            seen = pd.DataFrame({"v": values, "t": result["__vf_used"]}).dropna()
            first = seen.groupby("v", sort=False)["t"].min().reset_index()
            first = first.sort_values(["t", "v"], kind="stable")
            vocabs[col] = [UNKNOWN] + [str(v) for v in first["v"]]
        index = {v: i for i, v in enumerate(vocabs[col])}
        raw = values.to_numpy(dtype=object, na_value=None)
        codes[col] = np.array([0 if v is None else index.get(v, 0) for v in raw],
                              dtype=np.int64)
    counts = {"rows_read": n_read, "rows_dropped_missing_customer_id": no_cid,
              "rows_used": n_read - no_cid, "samples_matched": int(matched.sum()),
              "samples_without_value_at_cutoff": int((~matched).sum())}
    return numeric, codes, {c: vocabs[c] for c in codes}, counts
