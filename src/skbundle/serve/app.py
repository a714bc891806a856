"""The app factory: one bundle behind HTTP, loaded once, validated on every request.

Routes
------
``POST /predict``                     one record (object) or a list of records
                                      (``?ignore_unknown=true`` drops fields that are not features)
``GET  /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}[/ready]``
``POST /v2/models/{name}[/versions/{version}]/infer``   the Open Inference Protocol
``GET  /health``, ``/metadata``, ``/metrics``, ``/openapi.json``, ``/docs``, ``/``

The two prediction endpoints are plain ASGI callables (see ``skbundle.serve.http``); the rest
are ordinary Starlette handlers. Predictions run on the event loop: they are short and
CPU-bound, so a thread hop would only add latency; concurrency comes from worker processes.
Only large batches (``THREAD_ROWS`` rows or more) go to a thread, to keep the loop responsive.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from skbundle.bundle import AUTO, Bundle, load
from skbundle.core.environment import skbundle_version
from skbundle.errors import HttpError, InputValidationError
from skbundle.serve import openapi, page, v2
from skbundle.serve.http import ApiKey, Receive, Scope, Send, parse_json, read_body, send_json
from skbundle.serve.metrics import CONTENT_TYPE, ServerMetrics, value_buckets

if TYPE_CHECKING:
    from skbundle.monitor.predlog import PredictionLogger

log = logging.getLogger("skbundle.serve")

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
THREAD_ROWS = 1000
"""Requests with at least this many rows are predicted in a thread, so that a large batch
does not hold up health checks and small requests on the same worker."""

PredictionHook = Callable[[np.ndarray, np.ndarray], None]
"""Called as ``hook(X, output)`` after each successful prediction (e.g. a prediction logger):
the validated codes and the runtime output, whose layout follows ``Manifest.output``
(probabilities per class; class index then decision scores; a regressor's value)."""


@dataclass(frozen=True)
class ServeOptions:
    """How the server treats requests; see :func:`create_app`."""

    api_key: str | None = None
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, got {self.max_rows}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be a non-empty string, or None for no authentication")


class Service:
    """What every endpoint shares once the bundle is loaded."""

    def __init__(
        self,
        bundle: Bundle,
        options: ServeOptions,
        on_prediction: PredictionHook | None,
        prediction_log: PredictionLogger | None = None,
    ) -> None:
        self.bundle = bundle
        self.options = options
        self.on_prediction = on_prediction
        self.prediction_log = prediction_log
        self.auth = ApiKey(options.api_key) if options.api_key else None
        self.example = bundle.validator.example()
        # One prediction at start-up, of the typical record: its width says whether a label
        # classifier has decision scores (v2 outputs), a regressor's value centres the metrics'
        # histogram, and the first client request does not pay for a cold runtime.
        probe = bundle.predict_validated(bundle.validate(self.example))
        output = bundle.manifest.output
        self.metrics = ServerMetrics(
            bundle.classes,
            bundle.feature_names,
            output=output,
            buckets=_value_buckets(bundle, float(probe[0, 0])) if output == "values" else (),
        )
        if prediction_log is not None:
            self.metrics.watch_prediction_log(prediction_log)
        self.v2_metadata = v2.model_metadata(bundle, probe.shape[1])
        self.v2_outputs = tuple(t["name"] for t in self.v2_metadata["outputs"])
        self.openapi = openapi.build(
            bundle, options.max_rows, auth=self.auth is not None, outputs=self.v2_outputs
        )

    @functools.cached_property
    def page(self) -> str:
        """The web page, rendered on its first request: a worker that is never asked for it
        never imports Jinja2 (start-up time)."""
        return page.render(self.bundle, self.example, auth=self.auth is not None)

    def predict(
        self, X_source: Any, ignore_unknown: bool = False
    ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
        """Validate, predict, count and call the hook; returns X, the runtime output (see
        :mod:`skbundle.core.runtime`) and the warnings."""
        try:
            checked = self.bundle.validate(X_source, ignore_unknown=ignore_unknown)
        except InputValidationError as exc:
            self.metrics.invalid(exc.problems)
            raise
        output = self.bundle.predict_validated(checked)
        self.metrics.predicted(output)
        if self.on_prediction is not None:
            try:
                self.on_prediction(checked.X, output)
            except Exception:
                # The client still gets its prediction; the failure is logged and counted.
                self.metrics.hook_errors.inc()
                log.exception("the on_prediction hook raised; the prediction was still returned")
        return checked.X, output, checked.warnings


def _value_buckets(bundle: Bundle, center: float) -> tuple[float, ...]:
    """A regressor's histogram buckets: around its prediction for the typical record
    (``center``), in steps of its interval's half-width (the test RMSE without one)."""
    interval = bundle.manifest.interval
    rmse = bundle.manifest.metrics.get("test", {}).get("rmse")
    scale = interval.half_width if interval is not None else rmse
    return value_buckets(center, float(scale) if isinstance(scale, (int, float)) else 0.0)


class _State:
    """Filled by the lifespan; read by the endpoints."""

    service: Service | None = None


class _ModelEndpoint:
    """A plain ASGI prediction endpoint: readiness, the API key, timing and metrics, and the
    mapping of errors to status codes live here; each protocol supplies its body shapes."""

    name = ""
    validation_status = 422

    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle(self, service: Service, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    def not_ready_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def validation_body(self, exc: InputValidationError) -> dict[str, Any]:
        raise NotImplementedError

    def http_error_body(self, exc: HttpError) -> dict[str, Any]:
        raise NotImplementedError

    def internal_body(self) -> dict[str, Any]:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        service = self.state.service
        if service is None:
            await send_json(send, 503, self.not_ready_body())
            return
        status = 200
        try:
            if service.auth is not None:
                service.auth.check(scope)
            await self.handle(service, scope, receive, send)
        except InputValidationError as exc:
            status = self.validation_status
            await send_json(send, status, self.validation_body(exc))
        except HttpError as exc:
            status = exc.status
            await send_json(send, status, self.http_error_body(exc), exc.headers)
        except Exception:
            status = 500
            log.exception("unexpected error in %s", self.name)
            await send_json(send, status, self.internal_body())
        service.metrics.observe(self.name, status, time.perf_counter() - start)


class _PredictEndpoint(_ModelEndpoint):
    """``POST /predict``: a record or a list of records in, result objects out."""

    name = "/predict"

    def not_ready_body(self) -> dict[str, Any]:
        return {"error": "not_ready", "message": "the model is loading"}

    async def handle(self, service: Service, scope: Scope, receive: Receive, send: Send) -> None:
        data = parse_json(await read_body(scope, receive, service.options.max_body_bytes))
        single = type(data) is dict
        if not single:
            if type(data) is not list:
                raise HttpError.simple(
                    422,
                    "input_validation",
                    f"the body is a JSON {_json_type(data)}",
                    "an object (one record) or a list of objects (records)",
                )
            if len(data) > service.options.max_rows:
                raise _too_many_rows(len(data), service.options.max_rows)
        ignore = _ignore_unknown(scope)
        if single or len(data) < THREAD_ROWS:
            _, output, warnings = service.predict(data, ignore)
        else:
            _, output, warnings = await run_in_threadpool(service.predict, data, ignore)
        results = service.bundle.results(output, warnings)
        await send_json(send, 200, results[0] if single else results)

    def validation_body(self, exc: InputValidationError) -> dict[str, Any]:
        return exc.to_dict()

    def http_error_body(self, exc: HttpError) -> dict[str, Any]:
        return exc.body()

    def internal_body(self) -> dict[str, Any]:
        return _internal_body()


class _InferEndpoint(_ModelEndpoint):
    """``POST /v2/models/{name}[/versions/{version}]/infer``."""

    name = "/v2/models/{name}/infer"
    validation_status = 400

    def not_ready_body(self) -> dict[str, Any]:
        return {"error": "the model is loading"}

    async def handle(self, service: Service, scope: Scope, receive: Receive, send: Send) -> None:
        _check_model(service.bundle, scope["path_params"])
        payload = parse_json(await read_body(scope, receive, service.options.max_body_bytes))
        rows, outputs, request_id = v2.parse_request(
            payload, service.bundle, service.options.max_rows, service.v2_outputs
        )
        if len(rows) < THREAD_ROWS:
            _, output, _ = service.predict(rows)
        else:
            _, output, _ = await run_in_threadpool(service.predict, rows)
        await send_json(send, 200, v2.response(service.bundle, output, outputs, request_id))

    def validation_body(self, exc: InputValidationError) -> dict[str, Any]:
        return {"error": str(exc), **_problems(exc)}

    def http_error_body(self, exc: HttpError) -> dict[str, Any]:
        return {"error": exc.message, "problems": exc.problems}

    def internal_body(self) -> dict[str, Any]:
        return {"error": "internal server error; see the server log"}


def _ignore_unknown(scope: Scope) -> bool:
    """``?ignore_unknown=true``: drop fields that are not features instead of refusing them."""
    query = scope.get("query_string", b"")
    if not query:
        return False
    values = parse_qs(query.decode("latin-1")).get("ignore_unknown", [])
    if not values:
        return False
    if values[-1].lower() in ("1", "true", "yes"):
        return True
    if values[-1].lower() in ("0", "false", "no"):
        return False
    raise HttpError.simple(
        400,
        "bad_request",
        f"ignore_unknown is {values[-1]!r}",
        "true or false",
        field="ignore_unknown",
    )


def _problems(exc: InputValidationError) -> dict[str, Any]:
    return {"problems": [p.to_dict() for p in exc.problems]}


def _internal_body() -> dict[str, Any]:
    return {
        "error": "internal",
        "message": "the server failed to answer this request; the details are in its log",
        "problems": [],
    }


def _json_type(value: object) -> str:
    names = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _too_many_rows(n: int, limit: int) -> HttpError:
    return HttpError.simple(
        413,
        "too_many_rows",
        f"the request holds {n} records",
        f"at most {limit} records per request (the server's max_rows); split them into "
        "several requests",
    )


def _check_model(bundle: Bundle, params: dict[str, Any]) -> None:
    name = params.get("name")
    version = params.get("version")
    if name != bundle.name or (version is not None and version != bundle.version):
        which = f"{name!r}" + (f" version {version!r}" if version is not None else "")
        raise HttpError.simple(
            404,
            "model_not_found",
            f"model {which} is not served here",
            f"model {bundle.name!r} (version {bundle.version!r})",
        )


def _both(first: PredictionHook, second: PredictionHook) -> PredictionHook:
    def hook(X: np.ndarray, output: np.ndarray) -> None:
        first(X, output)
        second(X, output)

    return hook


def create_app(
    bundle: Bundle | str | os.PathLike[str],
    *,
    api_key: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_prediction: PredictionHook | None = None,
    runtime: str = AUTO,
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    allow_version_mismatch: bool = False,
    log_predictions: str | os.PathLike[str] | PredictionLogger | None = None,
) -> Starlette:
    """An ASGI app serving one bundle.

    Parameters
    ----------
    bundle
        A loaded :class:`~skbundle.Bundle`, or the path of a bundle directory; a path is
        verified and loaded once, when the app starts (its lifespan), never per request.
    api_key
        When set, the prediction endpoints require ``Authorization: Bearer <api_key>``
        (401 otherwise); health, metadata, metrics and the page stay open.
    max_rows
        The most records one request may hold (413 above).
    max_body_bytes
        The largest request body accepted (413 above), checked before it is read whole.
    on_prediction
        Called as ``on_prediction(X, output)`` after every successful prediction, with the
        validated float array (codes for categorical features, see
        :mod:`skbundle.core.codes`) and the runtime output: the probabilities of a classifier
        that has them, the class index and decision scores of one that has not, a regressor's
        values in column 0 (see :mod:`skbundle.core.runtime`). An exception it raises is
        logged and counted, and the client still gets its prediction.
    runtime, trust_pickle, trusted_types, allow_version_mismatch
        Passed to :func:`skbundle.load` when ``bundle`` is a path.
    log_predictions
        Append every prediction's validated inputs and runtime output to this JSON-lines file
        (rotated by size; see :mod:`skbundle.monitor.predlog`), for ``skbundle drift --from-log``.
        The writing happens on a background thread: the request does not wait for the disk.
        Or a :class:`~skbundle.monitor.PredictionLogger` made by the caller (for its rotation
        options), which the caller closes. Either way its counts are in ``/metrics`` and
        ``/health``, so that a log that stopped writing is seen.

    Returns
    -------
    starlette.applications.Starlette

    Examples
    --------
    >>> app = create_app(skbundle.load("models/breast-cancer", trust_pickle=True))
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    options = ServeOptions(api_key=api_key, max_rows=max_rows, max_body_bytes=max_body_bytes)
    state = _State()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loaded = (
            bundle
            if isinstance(bundle, Bundle)
            else load(
                bundle,
                runtime=runtime,
                trust_pickle=trust_pickle,
                trusted_types=trusted_types,
                allow_version_mismatch=allow_version_mismatch,
            )
        )
        hook = on_prediction
        logger = None
        owned = False
        if isinstance(log_predictions, (str, os.PathLike)):
            # Start-up time: the monitoring package imports scipy; a server that logs no
            # predictions never needs it.
            from skbundle.monitor.predlog import PredictionLogger

            # Created here, inside the worker process, so its writer thread lives there too.
            logger = PredictionLogger.for_bundle(log_predictions, loaded)
            owned = True
        elif log_predictions is not None:
            logger = log_predictions
        if logger is not None:
            hook = logger.log if on_prediction is None else _both(logger.log, on_prediction)
        state.service = Service(loaded, options, hook, logger)
        app.state.bundle = loaded
        app.state.service = state.service
        try:
            yield
        finally:
            state.service = None
            if logger is not None and owned:
                logger.close()

    def service() -> Service:
        if state.service is None:
            raise HTTPException(503, "the model is loading")
        return state.service

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        ok = state.service is not None
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    async def model_ready(request: Request) -> Response:
        s = service()
        _check_model(s.bundle, dict(request.path_params))
        return JSONResponse({"name": s.bundle.name, "ready": True})

    async def server_metadata(request: Request) -> Response:
        return JSONResponse({"name": "skbundle", "version": skbundle_version(), "extensions": []})

    async def model_metadata(request: Request) -> Response:
        s = service()
        _check_model(s.bundle, dict(request.path_params))
        return JSONResponse(s.v2_metadata)

    async def health(request: Request) -> Response:
        """``GET /health``: 200 whenever the model is loaded, since it still answers.

        ``status`` is ``"ok"``, or ``"degraded"`` when the prediction log has stopped on a
        write error (a full disk, a rotation that failed): predictions are still served, so a
        load balancer keeps the server, but they are no longer logged, so an operator should
        look. Rows dropped because the writer fell behind are counted, not degrading (the log
        goes on). With a prediction log the body adds ``prediction_log``: ``{"file",
        "written", "dropped", "errors", "last_error"}``; the file's name only and the error
        without its path, as this endpoint needs no API key and shows no internal paths.
        """
        s = service()
        body: dict[str, Any] = {"status": "ok", "model": s.bundle.name, "version": s.bundle.version}
        if s.prediction_log is not None:
            status = _prediction_log_status(s.prediction_log)
            body["prediction_log"] = status
            if status["errors"]:
                body["status"] = "degraded"
        return JSONResponse(body)

    async def metadata(request: Request) -> Response:
        return JSONResponse(_metadata(service()))

    async def metrics(request: Request) -> Response:
        return Response(service().metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(service().openapi)

    async def docs(request: Request) -> Response:
        return HTMLResponse(openapi.DOCS_PAGE)

    async def index(request: Request) -> Response:
        return HTMLResponse(service().page)

    async def bundle_document(request: Request) -> Response:
        found = page.document(service().bundle, request.url.path)
        if found is None:
            raise HTTPException(404, "not in this bundle")
        return Response(found[0], media_type=found[1], headers=page.DOCUMENT_HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HttpError):
            body = (
                exc.body()
                if not request.url.path.startswith("/v2")
                else {
                    "error": exc.message,
                    "problems": exc.problems,
                }
            )
            return JSONResponse(body, status_code=exc.status)
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        message = {404: "no such endpoint", 405: "method not allowed"}.get(status, str(detail))
        expected = "one of the endpoints listed at GET /openapi.json"
        return JSONResponse(
            {"error": message}
            if request.url.path.startswith("/v2")
            else {
                "error": message.replace(" ", "_"),
                "message": f"{message}: {request.method} {request.url.path}",
                "problems": [
                    {"record": None, "field": None, "problem": message, "expected": expected}
                ],
            },
            status_code=status,
            headers=exc.headers if isinstance(exc, HTTPException) else None,
        )

    predict = _PredictEndpoint(state)
    infer = _InferEndpoint(state)
    routes = [
        Route("/predict", predict, methods=["POST"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metadata", metadata, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        Mount("/docs/static", app=StaticFiles(directory=openapi.swagger_ui_dir()), name="swagger"),
        Route("/", index, methods=["GET"]),
        *(Route(path, bundle_document, methods=["GET"]) for path in page.DOCUMENTS),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HttpError: http_error, HTTPException: http_error},
    )


def _prediction_log_status(logger: PredictionLogger) -> dict[str, Any]:
    error = logger.error
    text = None
    if isinstance(error, OSError) and error.strerror:
        text = f"{type(error).__name__}: [Errno {error.errno}] {error.strerror}"
    elif error is not None:
        text = type(error).__name__  # its message may hold a path
    return {
        "file": logger.path.name,
        "written": logger.written,
        "dropped": logger.dropped,
        "errors": 0 if error is None else 1,
        "last_error": text,
    }


def _metadata(service: Service) -> dict[str, Any]:
    """``GET /metadata``: identity, schema, metrics and runtime; no file system paths."""
    b = service.bundle
    m = b.manifest
    return {
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "created_at": m.created_at,
        "task": m.task,
        "output": m.output,
        "classes": m.classes,
        "interval": None if m.interval is None else m.interval.model_dump(mode="json"),
        "pipeline": m.pipeline,
        "features": [f.model_dump(mode="json") for f in m.features],
        "example": service.example,
        "metrics": m.metrics,
        "dataset": m.dataset.model_dump(mode="json"),
        "runtime": {"format": b.runtime.format, "engine": b.runtime.engine},
        "limits": {
            "max_rows": service.options.max_rows,
            "max_body_bytes": service.options.max_body_bytes,
            "api_key_required": service.auth is not None,
        },
    }
