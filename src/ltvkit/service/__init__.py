"""``ltv serve``: an HTTP scoring service over a saved model and a durable event store.

A FastAPI application (:func:`ltvkit.service.app.create_app`) served by uvicorn. A request's
transactions go through the rules of ``ltv prepare`` (the Arrow engine of
``ltvkit.data.small_log``, which maps, validates and cleans as the DuckDB engine does, with the
training data's cleaning rules, then ``build_dataset`` with the training task at the request's
cutoff) and the model's ``predict``, so the service and ``ltv predict`` give the same
numbers on the same history and cutoff. Events pushed to ``/v1/events`` are written to a DuckDB
file in one transaction per request and acknowledged only after the commit.

The package sits on the top floor beside ``cli/``; the ``ltv serve`` command starts it through
uvicorn's import string (``ltvkit.service.app:app_from_env``), so neither imports the other.
"""

from __future__ import annotations

__all__ = ["ServiceConfig", "create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from ltvkit.service.app import create_app

        return create_app
    if name == "ServiceConfig":
        from ltvkit.service.config import ServiceConfig

        return ServiceConfig
    raise AttributeError(name)
