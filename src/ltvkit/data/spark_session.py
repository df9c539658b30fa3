"""The SparkSession ltvkit's Spark engine runs in (``pip install "ltvkit[spark]"``, Java 17).

:func:`get_spark` returns the active session or starts one set up for ltvkit: UTC session time
zone (timestamps are naive UTC everywhere in ltvkit), no web UI, Arrow transfers on, and in
local mode few shuffle partitions (the default 200 only adds scheduling overhead on one
machine). :func:`spark_unavailable` says why Spark cannot run here (no pyspark, no Java), so
that callers and tests can refuse or skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from ltvkit.errors import LTVError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Settings every ltvkit session has (the user's own session is used as it is).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # try_cast / try_to_timestamp give NULL for bad values, which the validation counts; plain
    # casts then behave the same (no exception half-way through a job).
    "spark.sql.ansi.enabled": "false",
    # Parquet timestamps without a zone stay naive (TIMESTAMP_NTZ), as DuckDB reads them.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}


class SparkUnavailableError(LTVError, RuntimeError):
    """pyspark or Java is missing, or the Spark session could not start."""


def spark_unavailable() -> str | None:
    """Why Spark cannot run on this machine (no pyspark, no Java), or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'pyspark is not installed: pip install "ltvkit[spark]"'
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) \
            and shutil.which("java") is None:
        return "no Java runtime found (Spark needs Java 17 or later: set JAVA_HOME or put java " \
               "on the PATH)"
    return None


def local_cores(master: str) -> int | None:
    """The number of cores of a ``local[N]`` master (``local[*]``: this machine's), else None."""
    if master == "local":
        return 1
    if master.startswith("local[") and master.endswith("]"):
        inner = master[6:-1].split(",")[0]
        return (os.cpu_count() or 1) if inner == "*" else int(inner)
    return None


def get_spark(master: str = "local[2]", *, app_name: str = "ltvkit",
              conf: dict[str, Any] | None = None) -> SparkSession:
    """The active SparkSession, or a new one on ``master`` with ltvkit's settings.

    ``conf`` adds or overrides Spark settings of a new session (e.g. ``spark.driver.memory``).
    An active session is returned as it is (Spark has one per process), with its time zone set
    to UTC and the runtime settings of ``conf`` applied. Without pyspark or Java, or when the
    JVM does not start: :class:`SparkUnavailableError`, one line saying why.
    """
    reason = spark_unavailable()
    if reason:
        raise SparkUnavailableError(f"Spark cannot run here: {reason}")
    from pyspark.sql import SparkSession

    # Spark's Python workers run this interpreter (the one ltvkit is installed in).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        for key, value in (conf or {}).items():
            active.conf.set(key, str(value))  # runtime (SQL) settings only, as Spark allows
        return active
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = dict(SESSION_CONF)
    cores = local_cores(master)
    if cores is not None:
        settings["spark.sql.shuffle.partitions"] = str(max(2 * cores, 2))
        settings["spark.default.parallelism"] = str(max(2 * cores, 2))
    settings.update({k: str(v) for k, v in (conf or {}).items()})
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say so in one line
        raise SparkUnavailableError(f"could not start Spark on {master}: {exc}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark
