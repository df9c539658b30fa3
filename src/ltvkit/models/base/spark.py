"""The Spark session of ltvkit's Spark work on models (batch scoring, distributed training).

pyspark is an optional dependency (the ``spark`` extra) and Spark needs Java; without either
:func:`spark_session` raises :class:`SparkUnavailableError`, one line naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from ltvkit.errors import LTVError


class SparkUnavailableError(LTVError, RuntimeError):
    """pyspark or Java is missing, or the Spark session could not start."""


def spark_session(master: str = "local[2]", app_name: str = "ltvkit",
                  conf: dict[str, str] | None = None) -> Any:
    """A Spark session (the active one when there is one, else a new one on ``master``) whose
    Python workers run this interpreter; :class:`SparkUnavailableError` without pyspark or
    Java."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailableError(
            "--engine spark needs pyspark: pip install 'ltvkit[spark]'") from None
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise SparkUnavailableError("--engine spark needs Java (no `java` on PATH and no "
                                    "JAVA_HOME)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in (conf or {}).items():
            active.conf.set(key, value)
        return active
    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC"))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: say so in one line
        raise SparkUnavailableError(f"could not start Spark on {master}: {exc}") from None
