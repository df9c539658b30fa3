"""The data contract of a transaction log: mapped columns exist, timestamps and amounts are valid.

Every check raises :class:`~ltvkit.errors.DataValidationError` naming the column, the rule and,
for the counted rules, the number of offending rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from ltvkit.data.mapping import ColumnMapping, MappedSQL, amount_expr, quote
from ltvkit.errors import DataValidationError

if TYPE_CHECKING:
    from ltvkit.data.cleaning import RowCounts


def require_column(name: str, role: str, types: dict[str, str]) -> None:
    """Raise unless the input has column ``name`` (for the ``role`` column)."""
    if name not in types:
        raise DataValidationError(
            f"missing column '{name}' (the {role} column); the input has: {', '.join(types)}",
            column=name, rule="column exists")


def check_mapping(con: duckdb.DuckDBPyConnection, raw: str, mapping: ColumnMapping,
                  types: dict[str, str]) -> None:
    """Every mapped column exists in view ``raw`` and the amount is a valid SQL expression."""
    require_column(mapping.customer, "customer", types)
    require_column(mapping.time, "time", types)
    optional = {"order": mapping.order, "quantity": mapping.quantity,
                "category": mapping.category, "domain": mapping.domain}
    for role, col in optional.items():
        if col is not None:
            require_column(col, role, types)
    require_expression(con, raw, amount_expr(mapping, types), mapping.amount, "amount", types)


def require_expression(con: duckdb.DuckDBPyConnection, raw: str, sql: str, given: str,
                       role: str, types: dict[str, str]) -> None:
    """Raise unless ``sql`` (built from the user's column or SQL expression ``given``) is valid
    over view ``raw``: a missing column or bad expression for the ``role`` value."""
    try:
        con.execute(f"SELECT ({sql}) FROM {raw} LIMIT 0")
    except duckdb.Error as exc:
        raise DataValidationError(
            f"missing column or bad SQL expression '{given}' for the {role}: "
            f"{str(exc).splitlines()[0]}; the input has: {', '.join(types)}",
            column=given, rule="column exists") from None


def check_rows(con: duckdb.DuckDBPyConnection, raw: str, mapping: ColumnMapping,
               sql: MappedSQL, counts: RowCounts) -> None:
    """The counted rules, in order: a non-empty input, timestamps present and parseable,
    amounts present, numeric and finite."""
    if counts.rows_read == 0:
        raise DataValidationError("the input has no rows", rule="non-empty input", n_rows=0)
    _check_timestamps(con, raw, mapping, sql, counts)
    _check_amounts(con, raw, mapping, sql, counts)


def _example(con: duckdb.DuckDBPyConnection, raw: str, expr: str, converted: str) -> str:
    """One offending raw value to quote in a message (only on the error path)."""
    row = con.execute(f"SELECT CAST(({expr}) AS VARCHAR) FROM {raw} "
                      f"WHERE ({expr}) IS NOT NULL AND ({converted}) IS NULL LIMIT 1").fetchall()
    return row[0][0] if row else "?"


def _check_timestamps(con: duckdb.DuckDBPyConnection, raw: str, mapping: ColumnMapping,
                      sql: MappedSQL, counts: RowCounts) -> None:
    time_col = mapping.time
    if counts.ts_missing:
        raise DataValidationError(
            f"column '{time_col}': {counts.ts_missing} rows have no timestamp "
            "(rule: timestamp required)",
            column=time_col, rule="timestamp required", n_rows=counts.ts_missing)
    if counts.ts_bad:
        hint = f" with format '{mapping.time_format}'" if mapping.time_format else \
            " (set time_format, e.g. '%Y%m%d', for non-ISO text)"
        raise DataValidationError(
            f"column '{time_col}': {counts.ts_bad} rows have timestamps that cannot be parsed"
            f"{hint}, e.g. '{_example(con, raw, quote(time_col), sql.time)}' "
            "(rule: parseable timestamp)",
            column=time_col, rule="parseable timestamp", n_rows=counts.ts_bad)


def _check_amounts(con: duckdb.DuckDBPyConnection, raw: str, mapping: ColumnMapping,
                   sql: MappedSQL, counts: RowCounts) -> None:
    for count, what, rule in (
            (counts.amount_missing, "no amount", "amount required"),
            (counts.amount_bad, "non-numeric amounts", "numeric amount"),
            (counts.amount_nan, "NaN amounts", "finite amount"),
            (counts.amount_inf, "infinite amounts", "finite amount"),
            (counts.amount_huge, "amounts of magnitude >= 1e15 (features would overflow)",
             "amount magnitude < 1e15")):
        if count:
            if rule == "numeric amount":
                converted = f"try_cast(({sql.amount}) AS DOUBLE)"
                what += f", e.g. '{_example(con, raw, sql.amount, converted)}'"
            raise DataValidationError(
                f"amount '{mapping.amount}': {count} rows have {what} (rule: {rule})",
                column=mapping.amount, rule=rule, n_rows=count)
