"""Registering a source as a DuckDB view, without copying it into pandas.

A source is a CSV (also .gz) or Parquet file, a folder of Parquet files, a glob, a pandas or
polars DataFrame, an Arrow table or a DuckDB relation. Files are read by DuckDB; in-memory
tables and relations are scanned in place.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ltvkit.data.mapping import sql_literal
from ltvkit.errors import DataValidationError

_CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
_IN_MEMORY_MODULES = ("pandas", "polars", "pyarrow")


def new_connection(memory_limit: str | None = None, threads: int | None = None,
                   temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for ltvkit: UTC session time zone, spilling to a temp dir."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    # Spilling lets logs larger than memory finish (DuckDB's out-of-core operators).
    tmp = temp_directory or os.environ.get("LTVKIT_TMPDIR") or tempfile.gettempdir()
    con.execute(f"SET temp_directory='{Path(tmp) / 'ltvkit_duckdb_spill'}'")
    con.execute("SET preserve_insertion_order=false")
    con.execute("SET enable_progress_bar=false")  # the CLI draws its own progress
    if memory_limit:
        con.execute(f"SET memory_limit='{memory_limit}'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


def _module(source: Any) -> str:
    return type(source).__module__.split(".")[0]


def is_in_memory(source: Any) -> bool:
    """Whether ``source`` is a pandas / polars DataFrame or an Arrow table."""
    return _module(source) in _IN_MEMORY_MODULES


def register_source(con: duckdb.DuckDBPyConnection, source: Any, view: str,
                    read_options: dict[str, Any] | None) -> bool:
    """Expose ``source`` as the view ``view`` in ``con`` without copying it into pandas.

    Returns whether the view is cheap to scan again: Parquet files and in-memory tables are;
    text files (parsed on every scan) and DuckDB relations (which may be whole queries) not."""
    # A view of that name left by an earlier read on this connection must not be read again
    # (the probe below would find it and read the old data), nor block register().
    try:
        con.execute(f"DROP VIEW IF EXISTS {view}")
    except duckdb.Error:
        pass
    if isinstance(source, duckdb.DuckDBPyRelation):
        _register_relation(con, source, view)
        return False
    if isinstance(source, (str, os.PathLike)):
        return _register_file(con, str(source), view, dict(read_options or {}))
    if is_in_memory(source):
        # pandas / polars DataFrames and Arrow tables are scanned in place by DuckDB.
        obj = source.to_arrow() if _module(source) == "polars" else source
        con.register(view, obj)
        return True
    raise DataValidationError(
        f"unsupported input of type {type(source).__name__}: pass a path (CSV/Parquet), a pandas "
        "or polars DataFrame, an Arrow table or a DuckDB relation", rule="supported input")


def _register_relation(con: duckdb.DuckDBPyConnection, source: duckdb.DuckDBPyRelation,
                       view: str) -> None:
    # A relation on our own connection becomes a view (no copy); one from another connection
    # is streamed over as Arrow.
    source.create_view(view, replace=True)
    try:
        con.execute(f"SELECT * FROM {view} LIMIT 0")
    except duckdb.Error:
        con.register(view, source.to_arrow_table())


def _register_file(con: duckdb.DuckDBPyConnection, path: str, view: str,
                   read_options: dict[str, Any]) -> bool:
    target, reader = _file_reader(path)
    if reader == "read_csv":
        read_options.setdefault("header", True)
        # Types are sniffed from every row, not from a sample: a bad value far into the file
        # makes its column text, which the counted validation then reports, instead of a
        # conversion error half-way through the scan.
        read_options.setdefault("sample_size", -1)
    opts = "".join(f", {k}={sql_literal(v)}" for k, v in read_options.items())
    try:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                    f"SELECT * FROM {reader}({sql_literal(target)}{opts})")
        con.execute(f"SELECT * FROM {view} LIMIT 0")
    except duckdb.Error as exc:
        raise unreadable(path, exc) from None
    return reader == "read_parquet"


@dataclass(frozen=True)
class ColumnFacts:
    """What a Parquet source's own statistics say of a column over all its rows: it has no
    NULL; every non-NULL value is a finite number (the minimum and maximum of every row group
    are finite; a NaN-only or inf row group says not)."""

    no_nulls: bool
    finite: bool


def parquet_facts(con: duckdb.DuckDBPyConnection, source: Any,
                  columns: list[str]) -> dict[str, ColumnFacts]:
    """The :class:`ColumnFacts` of ``columns`` from the footers of a Parquet path (file,
    folder or glob), read in milliseconds instead of a scan; a column the footers do not
    cover in every row group, and any other source, gets no entry (the scan must count)."""
    if not isinstance(source, (str, os.PathLike)) or not columns:
        return {}
    try:
        target, reader = _file_reader(str(source))
    except DataValidationError:
        return {}
    if reader != "read_parquet":
        return {}
    names = ", ".join(sql_literal(c) for c in columns)
    try:
        n_groups, = con.execute(f"SELECT count(DISTINCT (file_name, row_group_id)) FROM "
                                f"parquet_metadata({sql_literal(target)})").fetchall()[0]
        chunks = con.execute(f"""
            SELECT path_in_schema, num_values, stats_null_count, stats_min, stats_max
            FROM parquet_metadata({sql_literal(target)}) WHERE path_in_schema IN ({names})
        """).fetchall()
    except duckdb.Error:
        return {}
    by_column: dict[str, list[tuple]] = {}
    for name, *chunk in chunks:
        by_column.setdefault(name, []).append(tuple(chunk))
    facts = {}
    for name, rows in by_column.items():
        if len(rows) != n_groups:
            continue  # a file without the column, or a nested one: the footers cannot tell
        no_nulls = all(nulls is not None for _, nulls, _, _ in rows) and \
            sum(nulls for _, nulls, _, _ in rows) == 0
        finite = all(_finite(lo) and _finite(hi) or (nulls is not None and nulls == n)
                     for n, nulls, lo, hi in rows)
        facts[name] = ColumnFacts(no_nulls=no_nulls, finite=finite)
    return facts


def _finite(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False


def unreadable(path: str, exc: BaseException) -> DataValidationError:
    """The one-line error for a file DuckDB cannot read (encoding, corrupt file, bad CSV)."""
    text = str(exc)
    first = text.splitlines()[0] if text else type(exc).__name__
    hint = ""
    if "unicode" in text.lower() or "utf-8" in text.lower():
        hint = " (the file is not UTF-8: give its encoding, e.g. --encoding latin-1)"
    return DataValidationError(f"cannot read {path}: {first}{hint} (rule: readable input)",
                               column=None, rule="readable input")


def _file_reader(path: str) -> tuple[str, str]:
    """(what to read, DuckDB reader) for a file, folder or glob."""
    is_glob = any(ch in path for ch in "*?[")
    if not is_glob and not os.path.exists(path):
        raise DataValidationError(f"input file not found: {path}", rule="file exists")
    lower = path.lower()
    if os.path.isdir(path):
        return _folder_reader(path)
    if lower.endswith((".parquet", ".pq")) or (is_glob and "parquet" in lower):
        return path, "read_parquet"
    if lower.endswith(_CSV_SUFFIXES):
        return path, "read_csv"
    raise DataValidationError(
        f"cannot tell the format of {path}: use a .csv, .csv.gz, .tsv, .parquet file, "
        "a folder of Parquet files or a glob", rule="known file format")


def _folder_reader(path: str) -> tuple[str, str]:
    """A folder is read as all its Parquet files, or else all its CSV files."""
    files = [p for p in Path(path).rglob("*") if p.is_file()]
    if any(p.name.lower().endswith((".parquet", ".pq")) for p in files):
        return str(Path(path) / "**" / "*.parquet"), "read_parquet"
    for suffix in _CSV_SUFFIXES:
        if any(p.name.lower().endswith(suffix) for p in files):
            return str(Path(path) / "**" / f"*{suffix}"), "read_csv"
    raise DataValidationError(
        f"folder {path} holds no .parquet or .csv file ({len(files)} files) "
        "(rule: known file format)", rule="known file format", n_rows=0)


def is_csv_path(source: Any) -> bool:
    """Whether ``source`` is a path that DuckDB reads as CSV."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    try:
        return _file_reader(str(source))[1] == "read_csv"
    except DataValidationError:
        return False


def column_types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    """Each column of ``view`` and its DuckDB type (upper case), in order."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    return {r[0]: str(r[1]).upper() for r in rows}
