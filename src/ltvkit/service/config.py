"""The service's settings: given directly to ``create_app`` or read from ``LTVKIT_SERVE_*``
environment variables (how ``ltv serve`` hands them to uvicorn's workers)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ltvkit.errors import LTVError

ENV_PREFIX = "LTVKIT_SERVE_"


class ServiceConfigError(LTVError, ValueError):
    """A service setting is missing or malformed."""


@dataclass
class ServiceConfig:
    """Settings of one service.

    model_dir : a model saved by ``ltv train`` (``config.json`` + weights + ``training.json``).
    store : the DuckDB event store file; ``None`` runs without ``/v1/events`` and
        ``/v1/customers``.
    api_key : when set, every ``/v1`` request needs it in the ``X-API-Key`` header.
    max_customers : most customers in one ``/v1/score`` request.
    max_events : most events in one ``/v1/events`` request.
    max_body_bytes : larger request bodies get 413.
    score_threads : threads that score (each takes every request waiting and scores them
        together).
    reload_file : a file the worker processes share (``ltv serve --workers N`` makes one): a
        reload in one worker rewrites it and the others reload when they see it change.
    """

    model_dir: Path
    store: Path | None = None
    api_key: str | None = None
    max_customers: int = 10_000
    max_events: int = 10_000
    max_body_bytes: int = 64 * 1024 * 1024
    score_threads: int = min(2, os.cpu_count() or 1)
    reload_file: Path | None = None

    def __post_init__(self) -> None:
        self.model_dir = Path(self.model_dir)
        self.reload_file = None if self.reload_file in (None, "") else Path(self.reload_file)
        self.store = None if self.store in (None, "") else Path(self.store)
        for name in ("max_customers", "max_events", "max_body_bytes", "score_threads"):
            if int(getattr(self, name)) < 1:
                raise ServiceConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceConfig:
        env = dict(os.environ if env is None else env)

        def get(name: str) -> str | None:
            return env.get(ENV_PREFIX + name) or None

        model = get("MODEL")
        if model is None:
            raise ServiceConfigError(f"{ENV_PREFIX}MODEL is not set: give the model directory")
        return cls(model_dir=Path(model), store=get("STORE"), api_key=read_api_key(
            env_name=get("API_KEY_ENV"), file=get("API_KEY_FILE"), env=env),
            max_customers=int(get("MAX_CUSTOMERS") or 10_000),
            max_events=int(get("MAX_EVENTS") or 10_000),
            max_body_bytes=int(get("MAX_BODY_BYTES") or 64 * 1024 * 1024),
            score_threads=int(get("SCORE_THREADS") or min(2, os.cpu_count() or 1)),
            reload_file=get("RELOAD_FILE"))

    def to_env(self, api_key_env: str | None = None, api_key_file: str | None = None
               ) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads (the key itself is never put
        there: only the name of the variable or the file that holds it)."""
        out = {ENV_PREFIX + "MODEL": str(self.model_dir),
               ENV_PREFIX + "MAX_CUSTOMERS": str(self.max_customers),
               ENV_PREFIX + "MAX_EVENTS": str(self.max_events),
               ENV_PREFIX + "MAX_BODY_BYTES": str(self.max_body_bytes),
               ENV_PREFIX + "SCORE_THREADS": str(self.score_threads)}
        if self.store is not None:
            out[ENV_PREFIX + "STORE"] = str(self.store)
        if self.reload_file is not None:
            out[ENV_PREFIX + "RELOAD_FILE"] = str(self.reload_file)
        if api_key_env:
            out[ENV_PREFIX + "API_KEY_ENV"] = api_key_env
        if api_key_file:
            out[ENV_PREFIX + "API_KEY_FILE"] = str(api_key_file)
        return out


def read_api_key(env_name: str | None = None, file: str | Path | None = None,
                 env: dict[str, str] | None = None) -> str | None:
    """The API key from the environment variable ``env_name`` or the first line of ``file``;
    ``None`` when neither is given. A named but empty source is an error, never "no key"."""
    env = dict(os.environ if env is None else env)
    if env_name and file:
        raise ServiceConfigError("give the API key by an environment variable or a file, not both")
    if env_name:
        key = env.get(env_name, "").strip()
        if not key:
            raise ServiceConfigError(f"--api-key-env: the environment variable {env_name} is "
                                     "empty or not set")
        return key
    if file:
        path = Path(file)
        if not path.is_file():
            raise ServiceConfigError(f"--api-key-file: {path} is not a file")
        key = path.read_text().strip().splitlines()[0].strip() if path.read_text().strip() else ""
        if not key:
            raise ServiceConfigError(f"--api-key-file: {path} is empty")
        return key
    return None
