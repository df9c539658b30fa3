"""Cleaning accounting: the fate of every row and the data-quality report that balances.

Each mapped row gets a fate: the first cleaning rule that drops it, else ``"kept"``. One query
counts the rows of each fate (and the invalid ones the validation rules look for); the report
accounts for every row read as kept or dropped under exactly one rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from ltvkit.data.arrays import LogArrays
from ltvkit.data.mapping import CleaningRules, ColumnMapping, MappedSQL
from ltvkit.data.quality import DataQualityReport
from ltvkit.errors import DataValidationError

# The fates of dropped rows, in the order the rules apply (and the report lists them).
DROP_FATES = ("missing_customer_id", "after_data_end", "zero_amount", "refund_dropped")
# Amounts at or above this magnitude are refused: features are float32, and sums of amounts
# near its maximum (3.4e38) overflow to inf. No real transaction comes close.
MAX_ABS_AMOUNT = 1e15
# A cleaning rule that drops more than this share of the rows or of the spend is warned about.
LARGE_SHARE = 0.05


def parse_day(value: Any) -> dt.date:
    """Parse a date given as text, date or datetime into a ``datetime.date``."""
    from ltvkit.data.task import parse_date
    from ltvkit.errors import TaskError

    try:
        return parse_date(value, "date")
    except TaskError:
        raise DataValidationError(f"not a date (YYYY-MM-DD): '{value}'", rule="date") from None


def fate_select(mapped_sql: str, cleaning: CleaningRules, data_end: dt.date | None) -> str:
    """The mapped rows with their fate (the first cleaning rule that drops the row)."""
    data_end_sql = (f"(DATE '{data_end}' + INTERVAL 1 DAY)::TIMESTAMP"
                    if data_end else "NULL::TIMESTAMP")
    drop_refunds = cleaning.refunds == "drop"
    drop_zero = cleaning.zero_amounts == "drop"
    return f"""
        SELECT *, CASE
                 WHEN customer_id IS NULL THEN 'missing_customer_id'
                 WHEN {data_end_sql} IS NOT NULL AND ts >= {data_end_sql} THEN 'after_data_end'
                 WHEN amount = 0 AND {drop_zero} THEN 'zero_amount'
                 WHEN amount < 0 AND {drop_refunds} THEN 'refund_dropped'
                 ELSE 'kept' END AS fate
        FROM (
            -- a subquery, so the CASE above sees the mapped columns, never same-named raw ones
            {mapped_sql}
        )"""


def stage(con: duckdb.DuckDBPyConnection, raw: str, staged: str, sql: MappedSQL,
          cleaning: CleaningRules, data_end: dt.date | None, cheap_to_rescan: bool) -> str:
    """Create ``staged``: the mapped rows of ``raw`` with their fate and the hash of the whole
    input row (rows are exact duplicates when they agree on every mapped column and on that
    hash). A source that is cheap to scan again is staged as a view, any other once, into a
    table. Returns the kind (``"VIEW"`` or ``"TABLE"``) to drop it by."""
    kind = "VIEW" if cheap_to_rescan else "TABLE"
    con.execute(f"DROP VIEW IF EXISTS {staged}")
    con.execute(f"DROP TABLE IF EXISTS {staged}")
    con.execute(f"CREATE TEMP {kind} {staged} AS "
                f"{fate_select(sql.select(raw), cleaning, data_end)}")
    return kind


@dataclass(frozen=True)
class RowCounts:
    """What the one statistics query over the staged rows counts."""

    rows_read: int
    ts_missing: int
    ts_bad: int
    amount_missing: int
    amount_bad: int
    amount_nan: int
    amount_inf: int
    fates: dict[str, int]  # rows dropped by each rule, in DROP_FATES order
    distinct_dropped: int  # distinct rows among those a rule drops
    amount_huge: int = 0  # finite amounts too large for float32 features
    ts_with_offset: int = 0  # parseable text timestamps with a UTC offset
    ts_without_offset: int = 0  # parseable text timestamps without one (read as UTC)
    quantity_bad: int = 0  # quantities that are not numbers (kept as missing)
    customers_in_log: int = 0  # distinct customer ids among all rows
    spend: float = 0.0  # sum of |amount| over all valid rows
    fate_spend: dict[str, float] | None = None  # sum of |amount| dropped by each rule


def count_rows(con: duckdb.DuckDBPyConnection, staged: str) -> RowCounts:
    """Count the invalid rows and the rows of every fate in one scan of ``staged``."""
    fate_counts = ",\n".join(f"count(*) FILTER (fate = '{f}')" for f in DROP_FATES)
    finite = "amount IS NOT NULL AND isfinite(amount)"
    spend_sums = ",\n".join([f"sum(abs(amount)) FILTER ({finite})"] + [
        f"sum(abs(amount)) FILTER ({finite} AND fate = '{f}')" for f in DROP_FATES])
    stats = con.execute(f"""
        SELECT count(*),
               count(*) FILTER (ts_missing),
               count(*) FILTER (NOT ts_missing AND ts IS NULL),
               count(*) FILTER (amount_missing),
               count(*) FILTER (NOT amount_missing AND amount IS NULL),
               count(*) FILTER (isnan(amount)),
               count(*) FILTER (isinf(amount)),
               {fate_counts},
               -- the distinct rows among those a rule drops (the kept ones are told apart
               -- by the sort); identical rows share their fate, so duplicates never straddle
               -- kept and dropped. A CASE, not a FILTER: count(DISTINCT) FILTER is much slower.
               count(DISTINCT CASE WHEN fate <> 'kept'
                     THEN hash(customer_id, ts, amount, __row_hash) END),
               count(*) FILTER (abs(amount) >= {MAX_ABS_AMOUNT} AND NOT isinf(amount)),
               count(*) FILTER (ts IS NOT NULL AND ts_offset),
               count(*) FILTER (ts IS NOT NULL AND NOT ts_offset),
               count(*) FILTER (quantity_bad),
               count(DISTINCT customer_id),
               {spend_sums}
        FROM {staged}
    """).fetchall()[0]
    v = [int(x or 0) for x in stats[:17]]
    spend = [float(x or 0.0) for x in stats[17:]]
    return RowCounts(rows_read=v[0], ts_missing=v[1], ts_bad=v[2], amount_missing=v[3],
                     amount_bad=v[4], amount_nan=v[5], amount_inf=v[6],
                     fates=dict(zip(DROP_FATES, v[7:11], strict=True)), distinct_dropped=v[11],
                     amount_huge=v[12], ts_with_offset=v[13], ts_without_offset=v[14],
                     quantity_bad=v[15], customers_in_log=v[16], spend=spend[0],
                     fate_spend=dict(zip(DROP_FATES, spend[1:], strict=True)))


def check_not_empty(counts: RowCounts, arrays: LogArrays) -> None:
    """Raise when cleaning left no row."""
    if arrays.n_rows == 0:
        raise DataValidationError(
            f"no rows are left after cleaning ({counts.rows_read} read): {counts.fates}",
            rule="non-empty input", n_rows=0)


def to_datetime(us: int) -> dt.datetime:
    """Microseconds since 1970-01-01 as a naive ``datetime``."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(us))


def time_span(arrays: LogArrays) -> tuple[dt.datetime, dt.datetime]:
    """The first and last timestamp of the kept rows."""
    return to_datetime(arrays.ts.min()), to_datetime(arrays.ts.max())


def quality_report(counts: RowCounts, arrays: LogArrays, dup_kept: int,
                   span: tuple[dt.datetime, dt.datetime], mapping: ColumnMapping,
                   cleaning: CleaningRules, tz_aware: bool) -> DataQualityReport:
    """The report of a read: ``dup_kept`` exact duplicates dropped from the sorted kept rows
    (``span`` their first and last timestamp), the rows each rule dropped, notes on what was
    kept. Checked to balance."""
    tmin, tmax = span
    dup_all = None
    if cleaning.drop_duplicates:
        dup_all = dup_kept + (counts.rows_read - arrays.n_rows - dup_kept) - counts.distinct_dropped
    dropped = {"exact_duplicates": dup_kept}
    dropped.update(counts.fates)
    aware = tz_aware or counts.ts_with_offset > 0
    notes = ["timezone-aware timestamps were normalised to UTC"] if aware else []
    if counts.ts_with_offset and counts.ts_without_offset:
        notes.append(f"column '{mapping.time}': {counts.ts_with_offset} timestamps have a UTC "
                     f"offset and {counts.ts_without_offset} have none; those without one "
                     "were read as UTC")
    kept_with_notes = {"refund_rows_kept": int((arrays.amount < 0).sum()),
                       "zero_amount_rows_kept": int((arrays.amount == 0).sum())}
    if counts.ts_with_offset and counts.ts_without_offset:
        kept_with_notes["timestamps_without_offset_read_as_utc"] = counts.ts_without_offset
    if counts.quantity_bad:
        kept_with_notes["non_numeric_quantity_set_missing"] = counts.quantity_bad
        notes.append(f"column '{mapping.quantity}': {counts.quantity_bad} quantities are not "
                     "numbers and were set to missing")
    quality = DataQualityReport(
        rows_read=counts.rows_read,
        rows_kept=arrays.n_rows,
        dropped=dropped,
        kept_with_notes=kept_with_notes,
        duplicate_rows_in_input=dup_all,
        n_customers=arrays.n_customers,
        time_min=str(tmin), time_max=str(tmax),
        notes=notes, warnings=large_share_warnings(counts, dropped),
        customers={"in_log": counts.customers_in_log, "with_kept_rows": arrays.n_customers,
                   "only_dropped_rows": counts.customers_in_log - arrays.n_customers},
        mapping=mapping.to_dict(), cleaning=cleaning.to_dict(),
    )
    quality.check_balance()
    return quality


_RULE_HINTS = {
    "exact_duplicates": "a line-item log without an item id can have legitimate identical "
                        "lines: pass --keep-duplicates (CleaningRules(drop_duplicates=False)) "
                        "to keep them",
    "missing_customer_id": "check the customer column mapping",
    "after_data_end": "check --data-end",
    "zero_amount": "pass --keep-zero-amounts to keep them",
    "refund_dropped": "leave out --drop-refunds to keep refunds",
}


def large_share_warnings(counts: RowCounts, dropped: dict[str, int]) -> list[str]:
    """A warning for every cleaning rule that drops more than LARGE_SHARE of the rows or of
    the spend (sum of absolute amounts), naming the option that turns it off."""
    out = []
    for rule, n in dropped.items():
        if not n or not counts.rows_read:
            continue
        row_share = n / counts.rows_read
        spent = (counts.fate_spend or {}).get(rule, 0.0)
        spend_share = spent / counts.spend if counts.spend > 0 else 0.0
        if row_share > LARGE_SHARE or spend_share > LARGE_SHARE:
            what = f"{n:,} rows ({row_share:.1%})"
            if rule in (counts.fate_spend or {}):
                what += f", {spend_share:.1%} of the spend"
            out.append(f"cleaning rule '{rule}' dropped {what}: {_RULE_HINTS[rule]}")
    return out
