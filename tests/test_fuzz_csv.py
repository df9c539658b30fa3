"""Fuzzing ``ltv prepare`` with small random CSVs (random column types, bad cells, encodings):
the command either succeeds or ends with exit code 2 and a one-line error, never a traceback,
and on success the data-quality report accounts for every row (read = kept + dropped)."""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ltvkit.cli import app

IDS = st.one_of(st.integers(-5, 40).map(str), st.sampled_from(["", "NaN", "nan", "None", " ",
                                                               "C-77", "Jos\u00e9", "1.0",
                                                               "7.5"]))
DAYS = st.dates(min_value=__import__("datetime").date(2020, 12, 1),
                max_value=__import__("datetime").date(2021, 12, 31))
TIMES = st.one_of(
    DAYS.map(str),
    DAYS.map(lambda d: f"{d} 10:30:00"),
    DAYS.map(lambda d: f"{d}T10:30:00+02:00"),
    DAYS.map(lambda d: d.strftime("%d/%m/%Y")),
    st.sampled_from(["", "not a date", "2021-02-30", "99999999"]),
)
AMOUNTS = st.one_of(
    st.floats(-100, 1000, allow_nan=False).map(lambda v: f"{v:.2f}"),
    st.integers(-10, 500).map(str),
    st.sampled_from(["", "0", "1,234.50", "abc", "1e40", "nan", "inf", "-0"]),
)
QUANTITIES = st.sampled_from(["1", "2", "x", ""])
GOOD_ROWS = st.lists(st.tuples(st.integers(1, 30).map(str), DAYS.map(str),
                               st.integers(1, 500).map(str), st.sampled_from(["1", "3"])),
                     min_size=0, max_size=30)
# A few rows with any cell: bad ids, timestamps, amounts, quantities.
ODD_ROWS = st.lists(st.tuples(IDS, TIMES, AMOUNTS, QUANTITIES), min_size=0, max_size=3)
# Rows that put the cutoff inside the data's range (they can be drawn away by an odd row).
ANCHORS = [("1", "2021-01-05", "10", "1"), ("2", "2021-12-20", "20", "1")]


@st.composite
def logs(draw) -> list[tuple[str, str, str, str]]:
    rows = ANCHORS + draw(GOOD_ROWS) + draw(ODD_ROWS)
    return draw(st.permutations(rows)) if draw(st.booleans()) else rows


ROWS = logs()


def _prepare(path: Path, out: Path, encoding: str | None):
    args = ["prepare", str(path), "--cutoff", "2021-06-30", "--horizons", "30D", "--period",
            "M", "--n-periods", "3", "--quantity-col", "quantity", "--out", str(out),
            "--allow-partial-horizon"]
    if encoding:
        args += ["--encoding", encoding]
    return CliRunner().invoke(app, args, catch_exceptions=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=ROWS, encoding=st.sampled_from(["utf-8", "latin-1"]),
       declare=st.booleans(), extra_column=st.booleans())
def test_random_csvs_end_in_success_or_a_one_line_error(rows, encoding, declare, extra_column):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        with open(path, "w", newline="", encoding=encoding, errors="replace") as fh:
            writer = csv.writer(fh)
            header = ["customer_id", "timestamp", "amount", "quantity"]
            writer.writerow(header + (["note"] if extra_column else []))
            for i, row in enumerate(rows):
                writer.writerow(list(row) + ([f"n{i}"] if extra_column else []))
        out = Path(tmp) / "ds"
        result = _prepare(path, out, encoding if declare else None)
        assert result.exit_code in (0, 2), (result.exit_code, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            repr(result.exception))
        assert "Traceback" not in result.output
        if result.exit_code == 0:
            report = json.loads((out / "quality.json").read_text())
            assert report["rows_read"] == len(rows)
            assert report["rows_read"] == report["rows_kept"] + sum(report["dropped"].values())
            assert report["customers"]["in_log"] == (report["customers"]["with_kept_rows"]
                                                     + report["customers"]["only_dropped_rows"])
        else:
            errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1, result.output
