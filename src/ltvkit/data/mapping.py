"""Which input column plays which role, the cleaning rules, and the SQL that maps a column.

:class:`ColumnMapping` and :class:`CleaningRules` are what a user gives; they are
engine-neutral. The helpers below turn a mapping into DuckDB SQL expressions over the input
columns (the DuckDB engine's mapping step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ltvkit.data.plain import plain_dict

# The columns of a cleaned log, in order.
CANONICAL_COLUMNS = ("customer_id", "ts", "amount", "order_id", "quantity", "category", "domain")
# The types of the optional columns, for a log that does not map them (they are then NULL).
OPTIONAL_TYPES = {"order_id": "VARCHAR", "quantity": "DOUBLE", "category": "VARCHAR",
                  "domain": "VARCHAR"}
# The optional roles of a mapping and the canonical column each one fills.
OPTIONAL_ROLES = {"order": "order_id", "quantity": "quantity", "category": "category",
                  "domain": "domain"}

# Id texts that stand for a missing value (compared in lower case).
MISSING_ID_TEXTS = "('', 'nan', 'none', 'null')"
# A timestamp text with a UTC offset (or Z) after its time of day.
_OFFSET_RE = r"\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$"

INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER",
                 "USMALLINT", "UTINYINT", "HUGEINT")
# Column types every value of which casts to DOUBLE.
NUMERIC_TYPES = (*INTEGER_TYPES, "DOUBLE", "FLOAT", "REAL")


@dataclass
class ColumnMapping:
    """Which input column (or SQL expression) plays which role.

    ``amount`` may be an SQL expression over the input columns, e.g. ``"Quantity*UnitPrice"``.
    ``time_format`` is a strptime format for timestamps stored as text or integers
    (``"%Y%m%d"`` for CDNOW's 19970101); without it text is parsed as ISO 8601.
    """

    customer: str = "customer_id"
    time: str = "timestamp"
    amount: str = "amount"
    order: str | None = None
    quantity: str | None = None
    category: str | None = None
    domain: str | None = None
    time_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


@dataclass
class CleaningRules:
    """Cleaning steps. Each one is counted in the data-quality report; none is silent.

    drop_duplicates: drop exact duplicate rows (identical in every input column).
    refunds: ``"keep"`` negative amounts as refunds (default) or ``"drop"`` them.
    zero_amounts: ``"drop"`` rows whose amount is 0 (default) or ``"keep"`` them.
    data_end: rows dated after this day are dropped (e.g. a log with a few rows in the future).
    """

    drop_duplicates: bool = True
    refunds: Literal["keep", "drop"] = "keep"
    zero_amounts: Literal["drop", "keep"] = "drop"
    data_end: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain_dict(self)


def mapped_roles(mapping: ColumnMapping) -> dict[str, bool]:
    """Whether each optional role (order, quantity, category, domain) is mapped."""
    return {role: getattr(mapping, role) is not None for role in OPTIONAL_ROLES}


def kept_columns(flags: dict[str, bool]) -> list[str]:
    """The canonical columns a log with these mapped roles holds."""
    return ["customer_id", "ts", "amount"] + [
        col for role, col in OPTIONAL_ROLES.items() if flags[role]]


def quote(name: str) -> str:
    """An SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Any) -> str:
    """A Python value (bool, number, dict, else text) as a DuckDB literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        inner = ", ".join(f"'{k}': {sql_literal(v)}" for k, v in value.items())
        return "{" + inner + "}"
    return "'" + str(value).replace("'", "''") + "'"


def is_tz_aware(ctype: str) -> bool:
    """Whether a DuckDB column type holds timestamps with a time zone."""
    return "TIME ZONE" in ctype or ctype.startswith("TIMESTAMPTZ")


def is_typed_time(ctype: str) -> bool:
    """Whether a DuckDB column type is a timestamp or date (read as it is, never parsed)."""
    return ctype.startswith("TIMESTAMP") or ctype == "DATE"


def customer_expr(col: str, ctype: str) -> str:
    """The customer id of column ``col`` (DuckDB type ``ctype``): BIGINT or trimmed text."""
    q = quote(col)
    if ctype in ("DOUBLE", "FLOAT", "REAL") or ctype.startswith("DECIMAL"):
        # Ids stored as floats (17850.0 in Online Retail) become "17850", not "17850.0".
        return (f"CASE WHEN {q} IS NULL OR isnan({q}::DOUBLE) THEN NULL "
                f"WHEN {q} = floor({q}) THEN CAST(CAST({q} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({q} AS VARCHAR) END")
    if ctype in INTEGER_TYPES:
        # Integer ids stay integers inside DuckDB (faster joins and sorts on big logs); the
        # dataset turns them into strings.
        return f"CAST({q} AS BIGINT)"
    # Blank text and the text a NaN becomes ("nan", "NaN", "None", "NULL") are no customer.
    text = f"trim(CAST({q} AS VARCHAR))"
    return f"CASE WHEN lower({text}) IN {MISSING_ID_TEXTS} THEN NULL ELSE {text} END"


def time_expr(col: str, ctype: str, fmt: str | None) -> str:
    """The UTC timestamp (naive) of column ``col``; NULL where text does not parse."""
    q = quote(col)
    if is_tz_aware(ctype):
        return f"timezone('UTC', CAST({q} AS TIMESTAMPTZ))"
    if is_typed_time(ctype):
        return f"CAST({q} AS TIMESTAMP)"
    text = f"CAST({q} AS VARCHAR)"
    if fmt:
        return f"try_strptime({text}, {sql_literal(fmt)})"
    # Text with an offset is converted to UTC; text without one is read as UTC (session zone).
    return f"timezone('UTC', try_cast({text} AS TIMESTAMPTZ))"


def amount_expr(mapping: ColumnMapping, types: dict[str, str]) -> str:
    """The amount: a quoted input column, or the mapping's SQL expression as given."""
    return quote(mapping.amount) if mapping.amount in types else mapping.amount


def _offset_expr(mapping: ColumnMapping, ctype: str) -> str:
    """Whether a text timestamp has a UTC offset; NULL for typed columns or a time_format."""
    if mapping.time_format or is_typed_time(ctype):
        return "NULL::BOOLEAN"
    return f"regexp_matches(trim(CAST({quote(mapping.time)} AS VARCHAR)), '{_OFFSET_RE}')"


@dataclass(frozen=True)
class MappedSQL:
    """The SQL expression of every canonical column over the input columns."""

    customer: str
    time: str
    amount: str
    order: str
    quantity: str
    category: str
    domain: str
    time_raw: str  # the quoted input time column (NULL there means "no timestamp")
    ts_offset: str  # whether the input timestamp text carries a UTC offset (NULL: not text)
    quantity_raw: str  # the quoted input quantity column (NULL::VARCHAR when unmapped)
    raw_columns: str  # every input column, quoted, for the hash of the whole row

    @classmethod
    def build(cls, mapping: ColumnMapping, types: dict[str, str]) -> MappedSQL:
        def text(col: str | None) -> str:
            return f"CAST({quote(col)} AS VARCHAR)" if col else "NULL::VARCHAR"

        qty = (f"try_cast({quote(mapping.quantity)} AS DOUBLE)" if mapping.quantity
               else "NULL::DOUBLE")
        return cls(
            customer=customer_expr(mapping.customer, types[mapping.customer]),
            time=time_expr(mapping.time, types[mapping.time], mapping.time_format),
            amount=amount_expr(mapping, types),
            order=text(mapping.order), quantity=qty, category=text(mapping.category),
            domain=text(mapping.domain), time_raw=quote(mapping.time),
            ts_offset=_offset_expr(mapping, types[mapping.time]),
            quantity_raw=text(mapping.quantity),
            raw_columns=", ".join(quote(c) for c in types))

    def select(self, raw: str) -> str:
        """The mapped rows of view ``raw`` with missing-value flags and the input row's hash."""
        return f"""
            SELECT {self.customer} AS customer_id,
                   {self.time} AS ts,
                   ({self.time_raw}) IS NULL AS ts_missing,
                   try_cast(({self.amount}) AS DOUBLE) AS amount,
                   ({self.amount}) IS NULL AS amount_missing,
                   {self.ts_offset} AS ts_offset,
                   ({self.quantity_raw}) IS NOT NULL AND ({self.quantity}) IS NULL
                       AS quantity_bad,
                   {self.order} AS order_id, {self.quantity} AS quantity,
                   {self.category} AS category, {self.domain} AS domain,
                   hash({self.raw_columns}) AS __row_hash
            FROM {raw}"""
