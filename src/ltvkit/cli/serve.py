"""``ltv serve``: the HTTP scoring service (needs the ``serve`` extra: FastAPI, uvicorn).

The command checks its arguments, puts the settings into ``LTVKIT_SERVE_*`` environment
variables and starts uvicorn on the application factory ``ltvkit.service.app:app_from_env``
(an import string, which is also what uvicorn's worker processes need).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ltvkit.cli._common import cli_errors, console
from ltvkit.errors import LTVError

PREFIX = "LTVKIT_SERVE_"


@cli_errors
def serve(
    model: Annotated[Path, typer.Option(help="Model directory saved by `ltv train`.")],
    store: Path | None = typer.Option(None, help="DuckDB event store file (enables "
                                                 "/v1/events and /v1/customers)."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, help="Port."),
    api_key_env: str | None = typer.Option(None, help="Environment variable holding the API "
                                                      "key; requests then need X-API-Key."),
    api_key_file: Path | None = typer.Option(None, help="File whose first line is the API key."),
    workers: int = typer.Option(1, help="Worker processes (1 with --store: DuckDB has one "
                                        "writer); a reload reaches every worker."),
    max_customers: int = typer.Option(10_000, help="Most customers per /v1/score request."),
    max_events: int = typer.Option(10_000, help="Most events per /v1/events request."),
    max_body_mb: float = typer.Option(64.0, help="Largest request body (MB); larger gets 413."),
    score_threads: int = typer.Option(min(2, os.cpu_count() or 1),
                                      help="Scoring threads per worker (requests waiting "
                                           "together are scored in one call)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve a saved model over HTTP: scores, events, customer scores, reload (FastAPI)."""
    try:
        import uvicorn
    except ImportError:
        raise LTVError("ltv serve needs the serve extra: pip install 'ltvkit[serve]'") from None
    if not (model / "config.json").is_file():
        raise LTVError(f"--model: {model} has no config.json (save a model with `ltv train`)")
    if workers < 1:
        raise LTVError(f"--workers must be >= 1, got {workers}")
    if workers > 1 and store is not None:
        raise LTVError(f"--workers {workers} with --store: a DuckDB file has one writer "
                       "process; run one worker with the store, or several without it")
    if api_key_env and api_key_file:
        raise LTVError("give --api-key-env or --api-key-file, not both")
    if api_key_env and not os.environ.get(api_key_env, "").strip():
        raise LTVError(f"--api-key-env: the environment variable {api_key_env} is empty or "
                       "not set")
    if api_key_file and not Path(api_key_file).is_file():
        raise LTVError(f"--api-key-file: {api_key_file} is not a file")
    for name, value in (("max-customers", max_customers), ("max-events", max_events),
                        ("score-threads", score_threads)):
        if value < 1:
            raise LTVError(f"--{name} must be >= 1, got {value}")
    if max_body_mb <= 0:
        raise LTVError(f"--max-body-mb must be > 0, got {max_body_mb}")
    env = {"MODEL": str(model.resolve()), "MAX_CUSTOMERS": str(max_customers),
           "MAX_EVENTS": str(max_events), "MAX_BODY_BYTES": str(int(max_body_mb * 2**20)),
           "SCORE_THREADS": str(score_threads)}
    if store is not None:
        env["STORE"] = str(store.resolve())
    if api_key_env:
        env["API_KEY_ENV"] = api_key_env
    if api_key_file:
        env["API_KEY_FILE"] = str(Path(api_key_file).resolve())
    reload_dir = None
    if workers > 1:
        # The workers' shared reload signal (see ltvkit.service.app.ModelHolder).
        import tempfile

        reload_dir = tempfile.mkdtemp(prefix="ltvkit-serve-")
        env["RELOAD_FILE"] = str(Path(reload_dir) / "reload")
    for key in ("STORE", "API_KEY_ENV", "API_KEY_FILE", "RELOAD_FILE"):
        os.environ.pop(PREFIX + key, None)
    os.environ.update({PREFIX + k: v for k, v in env.items()})
    console.print(f"serving {model} on http://{host}:{port} (docs at /docs)")
    try:
        uvicorn.run("ltvkit.service.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level=log_level, access_log=False)
    finally:
        if reload_dir is not None:
            import shutil

            shutil.rmtree(reload_dir, ignore_errors=True)
