"""The FastAPI application: endpoints, the API key, the body limit and the error bodies.

Every error body is ``{"detail": ...}``: a sentence (401, 404, 413, 500) or a list of
``{"field", "rule"}`` (422). No response carries a stack trace or a file path; unexpected
errors are logged on the server and answered with a plain 500.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ltvkit import __version__
from ltvkit.errors import LTVError
from ltvkit.service import schemas as s
from ltvkit.service.config import ServiceConfig
from ltvkit.service.heap import FrozenHeap
from ltvkit.service.scoring import Batcher, LoadedModel, RequestError, check_cutoff
from ltvkit.service.store import EventStore

log = logging.getLogger("ltvkit.service")
_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


class ModelHolder:
    """The current model. A reload loads the new version completely before it swaps the
    reference, and a request keeps the model it started with, so no request is dropped or
    sees half a model.

    With several worker processes, ``reload_file`` (one file shared by the workers) carries
    the reload to all of them: the worker that reloads rewrites it, and every worker compares
    the file's modification time and size with those it last saw before it hands out the
    model (one ``stat`` per request), reloading itself when they changed.

    ``heap`` keeps the long-lived objects out of the garbage collector's passes
    (:mod:`ltvkit.service.heap`): the application settles it once started, a reload thaws it
    until the replaced model is freed."""

    def __init__(self, directory, reload_file=None):
        self.directory = directory
        self.reload_file = None if reload_file is None else Path(reload_file)
        self.heap = FrozenHeap()
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self._current: LoadedModel = _warm(LoadedModel.load(directory))

    def _stamp(self):
        if self.reload_file is None:
            return None
        try:
            st = os.stat(self.reload_file)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    @property
    def current(self) -> LoadedModel:
        self.heap.check()
        if self.reload_file is not None and self._stamp() != self._seen:
            with self._lock:
                stamp = self._stamp()
                if stamp != self._seen:
                    log.info("model reloaded by another worker: loading %s again",
                             self.directory)
                    old, self._current = self._current, _warm(LoadedModel.load(self.directory))
                    self._seen = stamp
                    self.heap.replaced(old)
        return self._current

    def reload(self) -> tuple[LoadedModel, LoadedModel]:
        with self._lock:
            new = _warm(LoadedModel.load(self.directory))
            old, self._current = self._current, new
            if self.reload_file is not None:
                # Tell the other workers: a new size as well as a new time, so that two
                # reloads within the file system's time resolution still differ.
                previous = self.reload_file.read_text() if self.reload_file.exists() else ""
                count = int(previous.split()[0]) + 1 if previous.strip() else 1
                tmp = self.reload_file.with_name(self.reload_file.name + f".{os.getpid()}")
                tmp.write_text(f"{count} {new.version} {os.getpid()}\n" + "." * (count % 7))
                os.replace(tmp, self.reload_file)
                self._seen = self._stamp()
            self.heap.replaced(old)
        return old, new


def _warm(loaded: LoadedModel) -> LoadedModel:
    """Score one generated customer so compiled kernels are ready before the first request."""
    day = dt.date(2020, 6, 30)
    loaded.score([{"customer_id": "warm-up", "transactions": [
        {"timestamp": dt.datetime(2020, 1, 5), "amount": 10.0},
        {"timestamp": dt.datetime(2020, 3, 5), "amount": 20.0}]}], day)
    return loaded


class BodyLimit:
    """ASGI middleware: 413 for a body above ``limit`` bytes (by Content-Length, or counted
    while a chunked body streams in)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        if length is not None:
            return await self.app(scope, receive, send)
        # No Content-Length (a chunked upload): read it here, up to the limit, then replay it.
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return await _too_large(self.limit)(scope, receive, send)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body larger than {limit} bytes (rule: body size "
                                   "limit)"}, status_code=413)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _unprocessable(items: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse({"detail": items}, status_code=422)


def _json_body(model: type[BaseModel]):
    """A dependency that reads the request body as ``model``: pydantic parses and validates
    the JSON bytes in one pass (FastAPI's own body parameter decodes the JSON with the
    standard library, then validates the Python objects: twice the work, a fifth of a
    one-customer score's time). Its errors are the 422 body of any other invalid request."""

    async def body(request: Request) -> BaseModel:
        return await _parsed(request, model)

    return body


async def _parsed(request: Request, model: type[BaseModel]) -> BaseModel:
    """The request body as ``model`` (see :func:`_json_body`)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def _body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads ``model`` with :func:`_json_body`."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def _with_body_schemas(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Add the request models of :func:`_json_body` routes to the OpenAPI components (FastAPI
    lists only the models of the parameters it parses itself)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()  # cached by FastAPI as app.openapi_schema
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, nested in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, nested)
                schemas[model.__name__] = schema
        return app.openapi_schema

    app.openapi = openapi


def create_app(config: ServiceConfig) -> FastAPI:
    """The application for ``config``: loads the model (and opens the store) at startup."""
    state: dict[str, Any] = {"holder": None, "store": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state["holder"] = ModelHolder(config.model_dir, config.reload_file)
        state["batcher"] = Batcher(state["holder"], config.max_customers,
                                   threads=config.score_threads)
        if config.store is not None:
            state["store"] = EventStore(config.store)
        state["holder"].heap.settle()
        log.info("ltvkit service ready: model %s %s", state["holder"].current.name,
                 state["holder"].current.version)
        yield
        if state["store"] is not None:
            state["store"].close()

    app = FastAPI(title="ltvkit scoring service", version=__version__, lifespan=lifespan,
                  description="Customer lifetime value scores from transaction histories.")
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)

    # The dependencies are coroutines: a plain function would cost each request a trip
    # through the thread pool.
    async def api_key(key: str | None = Depends(_key_header)) -> None:
        given = (key or "").encode()
        if not hmac.compare_digest(given, config.api_key.encode()):
            raise StarletteHTTPException(401, "missing or invalid API key (header X-API-Key)")

    # Without a configured key the /v1 routes carry no key dependency at all (solving it,
    # with its header sub-dependency, is a tenth of a one-customer score's time).
    guarded = [Depends(api_key)] if config.api_key is not None else []

    async def model() -> LoadedModel:
        return state["holder"].current

    async def store() -> EventStore:
        if state["store"] is None:
            raise StarletteHTTPException(404, "no event store configured (start with --store)")
        return state["store"]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return _unprocessable([{"field": "body" if e.get("type") == "json_invalid" else
                                _field(tuple(e.get("loc", ()))),
                                "rule": str(e.get("msg", "invalid"))} for e in exc.errors()])

    @app.exception_handler(RequestError)
    async def _bad_request(request: Request, exc: RequestError):
        return _unprocessable([{"field": exc.field, "rule": str(exc)}])

    @app.exception_handler(LTVError)
    async def _ltv_error(request: Request, exc: LTVError):
        # The data checks of `ltv prepare` (one line: column, rule, count); no paths in them.
        column = getattr(exc, "column", None) or "customers.transactions"
        return _unprocessable([{"field": str(column), "rule": str(exc).splitlines()[0]}])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    errors = {401: {"model": s.ErrorBody}, 413: {"model": s.ErrorBody},
              422: {"model": s.ErrorBody}}

    @app.get("/healthz", response_model=s.Health, tags=["health"])
    def healthz():
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=s.Ready, tags=["health"],
             responses={503: {"model": s.Ready}})
    def readyz():
        """Readiness: the model (and the store, when configured) are loaded."""
        m = state["holder"] is not None
        st = None if config.store is None else state["store"] is not None
        body = {"ready": m and st is not False, "model": m, "store": st}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/v1/model", response_model=s.ModelInfo, dependencies=guarded,
             responses=errors, tags=["model"])
    def model_info(loaded: LoadedModel = Depends(model)):
        """The served model: name, version, horizons, training schema and metrics."""
        m, info = loaded.model, loaded.info
        return {"name": m.name, "version": loaded.version, "horizons": list(m.horizons_),
                "feature_names": list(m.feature_names_),
                "categorical_names": list(m.categorical_names_),
                "sequence_shape": list(m.sequence_shape_), "task": info.get("task"),
                "cleaning": info.get("cleaning"),
                "validation_metrics": info.get("validation_metrics"),
                "saved_at": info.get("saved_at"), "loaded_at": loaded.loaded_at,
                "worker": os.getpid(),
                "ltvkit_version": loaded.config.get("ltvkit_version")}

    @app.post("/v1/score", response_model=s.ScoreResponse, dependencies=guarded,
              responses=errors, tags=["scores"], openapi_extra=_body_doc(s.ScoreRequest))
    async def score(request: Request):
        """Scores of up to ``max_customers`` customers from their transactions."""
        # The body is parsed here rather than by a dependency, and the response is sent as
        # built (every field of ScoreResponse, in JSON types) rather than validated against
        # the response model again: FastAPI's machinery for each was a tenth of a
        # one-customer score's time.
        body = await _parsed(request, s.ScoreRequest)
        if len(body.customers) > config.max_customers:
            raise RequestError(f"customers: {len(body.customers)} given (rule: at most "
                               f"{config.max_customers} per request)", field="customers",
                               rule=f"at most {config.max_customers}")
        cutoff = check_cutoff(body.cutoff)
        # Scored on a scoring thread (with the requests waiting beside it); the event loop
        # goes on reading requests meanwhile.
        loaded, scores = await state["batcher"].score_async(body.customers, cutoff)
        return JSONResponse({"model": {"name": loaded.name, "version": loaded.version},
                             "cutoff": cutoff.isoformat(), "customers": scores})

    @app.post("/v1/events", response_model=s.EventsResponse, dependencies=guarded,
              responses=errors, tags=["events"], openapi_extra=_body_doc(s.EventsRequest))
    def events(body: s.EventsRequest = Depends(_json_body(s.EventsRequest)),
               st: EventStore = Depends(store)):
        """Append transactions; acknowledged after the write is committed. The same event id
        twice is stored once."""
        if len(body.events) > config.max_events:
            raise RequestError(f"events: {len(body.events)} given (rule: at most "
                               f"{config.max_events} per request)", field="events",
                               rule=f"at most {config.max_events}")
        stored, duplicates = st.append([e.model_dump() for e in body.events])
        return {"stored": stored, "duplicates": duplicates, "durable": True}

    @app.get("/v1/customers/{customer_id}", response_model=s.CustomerResponse,
             dependencies=guarded, responses={**errors, 404: {"model": s.ErrorBody}},
             tags=["scores"])
    def customer(customer_id: str, cutoff: dt.date | None = None,
                 st: EventStore = Depends(store)):
        """The customer's score now (or at ``cutoff``) from the stored events."""
        history = st.history(customer_id)
        if not history:
            raise StarletteHTTPException(404, "no stored events for this customer")
        day = check_cutoff(cutoff)
        if any(t["order_id"] is None for t in history):
            history = [{**t, "order_id": None} for t in history]
        loaded, result = state["batcher"].score(
            [{"customer_id": customer_id, "transactions": history}], day)
        return {"customer_id": customer_id, "n_events": len(history), "cutoff": day,
                "model": {"name": loaded.name, "version": loaded.version},
                "score": result[0]}

    @app.post("/v1/admin/reload", response_model=s.ReloadResponse,
              dependencies=guarded, responses=errors, tags=["admin"])
    def reload():
        """Load the model directory again (a new version saved there); requests in flight
        finish on the model they started with."""
        old, new = state["holder"].reload()
        return {"previous": {"name": old.name, "version": old.version},
                "current": {"name": new.name, "version": new.version}}

    _with_body_schemas(app, (s.ScoreRequest, s.EventsRequest))
    # The router tries the routes in order (the documentation pages come first): the
    # scoring route is tried first, as the one called most (the paths do not overlap).
    routes = app.router.routes
    routes.insert(0, routes.pop(next(i for i, r in enumerate(routes)
                                     if getattr(r, "path", None) == "/v1/score")))
    return app


def app_from_env() -> FastAPI:
    """The application configured by ``LTVKIT_SERVE_*`` (uvicorn factory of ``ltv serve``)."""
    logging.basicConfig(level=logging.INFO)
    return create_app(ServiceConfig.from_env())
