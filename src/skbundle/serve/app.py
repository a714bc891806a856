"""The app factory: one bundle behind HTTP, loaded once, validated on every request.

Routes
------
``POST /predict``                     one record (object) or a list of records
                                      (``?ignore_unknown=true`` drops fields that are not features)
``GET  /v2``, ``/v2/health/live``, ``/v2/health/ready``, ``/v2/models/{name}[/ready]``
``POST /v2/models/{name}[/versions/{version}]/infer``   the Open Inference Protocol
``GET  /health``, ``/metadata``, ``/metrics``, ``/openapi.json``, ``/docs``, ``/``

The two prediction endpoints are plain ASGI callables (see ``skbundle.serve.http``); the rest
are ordinary Starlette handlers. Every prediction response names the version that answered it:
``model_version`` in the body and an ``X-Model-Version`` header. Predictions run on the
event loop: they are short and CPU-bound, so a thread hop would only add latency; concurrency
comes from worker processes. Only large batches (``THREAD_ROWS`` rows or more) go to a thread,
to keep the loop responsive.

Following a model source
------------------------
Everything that depends on the bundle (the bundle itself, its validator, the metrics' class
and feature labels, the page, the OpenAPI document, the v2 metadata, the prediction log's
identity) lives in one :class:`Service`, and the app holds the served one behind one
reference. A request takes that reference once and finishes on that version. When the app
follows a source (``create_app(path_or_source, poll=...)``, ``skbundle serve``), a background
task asks ``source.current()`` off the event loop every ``poll`` seconds (and on SIGHUP with
``reload_on_sighup``); when the token changes it loads and verifies the new version in a
thread, with the same load options as at start-up, builds its Service there, and swaps the
reference on the event loop, between requests. A version that fails to verify or load is not
swapped in: the old one goes on serving, ``/health`` says ``"reload": {"status": "failed",
...}`` and ``/metrics`` counts it; that token is not tried again until the source changes (or
SIGHUP asks). A new version must be of the same model (name) and output kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
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
from skbundle.errors import HttpError, InputValidationError, ModelSourceError
from skbundle.registry import SourceState
from skbundle.serve import openapi, page, v2
from skbundle.serve.http import (
    ApiKey,
    Receive,
    Scope,
    Send,
    header,
    parse_json,
    read_body,
    send_bytes,
    send_json,
)
from skbundle.serve.metrics import CONTENT_TYPE, ServerMetrics, value_buckets
from skbundle.serve.sources import DirectorySource, ModelSource

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


@dataclass(frozen=True)
class LoadOptions:
    """How every version is loaded, at start-up and at each swap: the same trust flags."""

    runtime: str = AUTO
    trust_pickle: bool = False
    trusted_types: tuple[str, ...] = ()
    allow_version_mismatch: bool = False

    def load(self, path: str | os.PathLike[str]) -> Bundle:
        """:func:`skbundle.load` with these options (hashes verified before anything else)."""
        return load(
            path,
            runtime=self.runtime,
            trust_pickle=self.trust_pickle,
            trusted_types=self.trusted_types,
            allow_version_mismatch=self.allow_version_mismatch,
        )


class Service:
    """Everything the endpoints need of one served version; swapped as one reference.

    ``metrics`` is the served version's metrics when this Service replaces it: the new one
    counts on the same series (see :meth:`ServerMetrics.for_model`).
    """

    def __init__(
        self,
        bundle: Bundle,
        options: ServeOptions,
        on_prediction: PredictionHook | None,
        prediction_log: PredictionLogger | None = None,
        *,
        metrics: ServerMetrics | None = None,
        token: str = "",
    ) -> None:
        self.bundle = bundle
        self.version = bundle.version
        self.version_header = [(b"x-model-version", bundle.version.encode("ascii"))]
        self.token = token
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
        if metrics is not None:
            self.metrics = metrics.for_model(bundle.classes, bundle.feature_names, output=output)
        else:
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
    """Filled by the lifespan; read by the endpoints. ``service`` is the one reference to the
    served version: a request reads it once."""

    service: Service | None = None


def _now() -> str:
    """UTC, to the millisecond: when a worker swapped, for comparing workers' switch times."""
    moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Follower:
    """Follows a model source: polls it, loads a new version in a thread, swaps it in."""

    def __init__(
        self,
        source: ModelSource,
        state: _State,
        build: Callable[[SourceState, Service], Service],
        on_swap: Callable[[Service], None],
        poll: float,
    ) -> None:
        self.source = source
        self.state = state
        self.build = build
        self.on_swap = on_swap
        self.poll = poll
        self.failed_token: str | None = None
        self.status: dict[str, Any] = {}
        self._wake: asyncio.Event | None = None
        self._force = False

    def started(self, service: Service) -> None:
        self.status = {"status": "ok", "version": service.version, "error": None, "at": _now()}
        service.metrics.serving(service.version)

    def wake(self, force: bool = True) -> None:
        """Check the source now (SIGHUP); ``force`` retries a version that failed before."""
        self._force = self._force or force
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll if self.poll > 0 else None)
            force, self._force = self._force, False
            self._wake.clear()
            try:
                await self.check(force=force)
            except Exception:  # the task's boundary: following must outlive a bug in one check
                log.exception("checking the model source %s failed", self.source.spec)

    async def check(self, *, force: bool = False) -> bool:
        """Ask the source once; swap when it names a new version. True when swapped."""
        served = self.state.service
        if served is None:
            return False
        try:
            current = await run_in_threadpool(self.source.current)
        except Exception as exc:  # a source's boundary: a database, a file system, a link
            self._failed(served, None, exc, None)
            return False
        if current.token == served.token:
            if self.status.get("status") != "ok":  # the source is back on what is served
                self.failed_token = None
                self.status = {"status": "ok", "version": served.version, "error": None,
                               "at": _now()}  # fmt: skip
                served.metrics.reload_failed.set(0)
            return False
        if current.token == self.failed_token and not force:
            return False
        log.info("model source %s names version %s: loading it", self.source.spec, current.version)
        try:
            new = await run_in_threadpool(self.build, current, served)
        except Exception as exc:  # a version that fails to load is reported, never served
            self._failed(served, current.version, exc, current)
            return False
        if self.state.service is not served:  # the app stopped while the version loaded
            return False
        # On the event loop, between requests: the reference, the metrics' version and the
        # prediction log's identity change together.
        self.state.service = new
        self.failed_token = None
        self.status = {"status": "ok", "version": new.version, "error": None, "at": _now()}
        new.metrics.serving(new.version)
        new.metrics.reloads.inc()
        new.metrics.reload_failed.set(0)
        self.on_swap(new)
        log.info("now serving %s %s (was %s)", new.bundle.name, new.version, served.version)
        return True

    def _failed(
        self, served: Service, version: str | None, exc: Exception, state: SourceState | None
    ) -> None:
        if state is not None:
            self.failed_token = state.token
            served.metrics.reload_failures.inc()
        served.metrics.reload_failed.set(1)
        self.status = {
            "status": "failed",
            "version": version,
            "error": self._public(exc, state),
            "at": _now(),
        }
        log.error(
            "model source %s: version %s was not swapped in, %s %s goes on serving: %s",
            self.source.spec, version, served.bundle.name, served.version, exc,
        )  # fmt: skip

    def _public(self, exc: Exception, state: SourceState | None) -> str:
        """The error for /health, which needs no key: without the server's paths."""
        text = f"{type(exc).__name__}: {exc}"
        for path in sorted(
            {str(state.path) if state else "", str(Path(self.source.spec).resolve())}
            | ({self.source.spec} if not self.source.spec.startswith("models:/") else set()),
            key=len,
            reverse=True,
        ):
            if path and path != ".":
                text = text.replace(path, "<bundle>")
        return text


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
            await send_json(send, status, self.validation_body(exc), service.version_header)
        except HttpError as exc:
            status = exc.status
            headers = service.version_header + (exc.headers or [])
            await send_json(send, status, self.http_error_body(exc), headers)
        except Exception:
            status = 500
            log.exception("unexpected error in %s", self.name)
            await send_json(send, status, self.internal_body(), service.version_header)
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
        version = service.version
        for result in results:
            result["model_version"] = version
        await send_json(send, 200, results[0] if single else results, service.version_header)

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
        body = await read_body(scope, receive, service.options.max_body_bytes, v2.MEDIA_TYPES)
        request = v2.parse_request(
            body,
            header(scope, v2.HEADER_LENGTH),
            service.bundle,
            service.options.max_rows,
            service.v2_outputs,
        )
        rows = request.rows
        if len(rows) < THREAD_ROWS:
            _, output, _ = service.predict(rows)
        else:
            _, output, _ = await run_in_threadpool(service.predict, rows)
        # v2.response fills model_version from service.bundle: the version that answered.
        answer = v2.response(service.bundle, output, request.outputs, request.id)
        payload, headers = v2.encode(answer, request.binary)
        await send_bytes(send, 200, payload, headers + service.version_header)

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
    bundle: Bundle | str | os.PathLike[str] | ModelSource,
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
    poll: float = 0.0,
    reload_on_sighup: bool = False,
    loaded: tuple[SourceState, Bundle] | None = None,
) -> Starlette:
    """An ASGI app serving one bundle, or following a model source from version to version.

    Parameters
    ----------
    bundle
        A loaded :class:`~skbundle.Bundle` (served as it is), the path of a bundle directory
        (or of a link to one), or a :class:`~skbundle.serve.sources.ModelSource` such as
        ``open_source("models:/cancer@prod")``. A path or a source is verified and loaded
        when the app starts (its lifespan), never per request, and followed (see ``poll``).
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
        Passed to :func:`skbundle.load` for a path or a source, at start-up and for every
        new version.
    log_predictions
        Append every prediction's validated inputs and runtime output to this JSON-lines file
        (rotated by size; see :mod:`skbundle.monitor.predlog`), for ``skbundle drift --from-log``.
        The writing happens on a background thread: the request does not wait for the disk.
        Or a :class:`~skbundle.monitor.PredictionLogger` made by the caller (for its rotation
        options), which the caller closes. Either way its counts are in ``/metrics`` and
        ``/health``, so that a log that stopped writing is seen. When a new version is
        swapped in, the log starts a new file whose header names it.
    poll
        With a path or a source: ask it every ``poll`` seconds which version to serve, and
        swap a new one in between requests (see the module docstring). 0 (the default here;
        ``skbundle serve`` polls every 2 s) asks only on SIGHUP, if ``reload_on_sighup``.
    reload_on_sighup
        Check the source at once on SIGHUP, retrying a version that failed before (this
        takes the process's SIGHUP handler: for a server process, not a library caller).
    loaded
        The source's current state and that version already loaded by the caller (so that a
        bad bundle fails before the server listens); the app then does not load it again.

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    ValueError
        ``poll`` is negative.

    Examples
    --------
    >>> app = create_app(skbundle.load("models/breast-cancer", trust_pickle=True))
    >>> app = create_app("models/current", poll=2.0)     # follows the link models/current
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    options = ServeOptions(api_key=api_key, max_rows=max_rows, max_body_bytes=max_body_bytes)
    if not poll >= 0:
        raise ValueError(f"poll must be 0 (no polling) or more seconds, got {poll}")
    loading = LoadOptions(runtime, trust_pickle, tuple(trusted_types), allow_version_mismatch)
    source: ModelSource | None = (
        None
        if isinstance(bundle, Bundle)
        else DirectorySource(bundle)
        if isinstance(bundle, (str, os.PathLike))
        else bundle
    )
    state = _State()
    follower: list[_Follower] = []  # set by the lifespan; read by /health

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        token = ""
        if isinstance(bundle, Bundle):
            first = bundle
        elif loaded is not None:
            token, first = loaded[0].token, loaded[1]
        else:
            assert source is not None
            current = source.current()
            token, first = current.token, loading.load(current.path)
        hook = on_prediction
        logger = None
        owned = False
        if isinstance(log_predictions, (str, os.PathLike)):
            # Start-up time: the monitoring package imports scipy; a server that logs no
            # predictions never needs it.
            from skbundle.monitor.predlog import PredictionLogger

            # Created here, inside the worker process, so its writer thread lives there too.
            logger = PredictionLogger.for_bundle(log_predictions, first)
            owned = True
        elif log_predictions is not None:
            logger = log_predictions
        if logger is not None:
            hook = logger.log if on_prediction is None else _both(logger.log, on_prediction)
        state.service = Service(first, options, hook, logger, token=token)
        app.state.bundle = first
        app.state.service = state.service

        def build(current: SourceState, served: Service) -> Service:
            new = loading.load(current.path)
            _check_replaces(new, served.bundle, current)
            return Service(new, options, hook, logger, metrics=served.metrics, token=current.token)

        def on_swap(new: Service) -> None:
            app.state.bundle = new.bundle
            app.state.service = new
            if logger is not None:
                logger.switch(new.bundle)

        task: asyncio.Task[None] | None = None
        sighup = False
        if source is not None:
            follow = _Follower(source, state, build, on_swap, poll)
            follow.started(state.service)
            follower.append(follow)
            app.state.follower = follow
            if reload_on_sighup:
                sighup = _on_sighup(follow.wake)
            if poll > 0 or sighup:
                task = asyncio.create_task(follow.run())
        try:
            yield
        finally:
            state.service = None
            if sighup:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
        return JSONResponse(
            {"name": "skbundle", "version": skbundle_version(), "extensions": list(v2.EXTENSIONS)}
        )

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

        ``version`` is the version served now, ``pid`` the worker process that answered. An
        app that follows a model source adds ``reload``: ``{"status": "ok" | "failed",
        "version", "error", "at"}``, the last version the source named and what became of
        it; ``"failed"`` (the old version goes on serving) also makes ``status``
        ``"degraded"``, until the source names a version that loads.
        """
        s = service()
        body: dict[str, Any] = {
            "status": "ok",
            "model": s.bundle.name,
            "version": s.version,
            "pid": os.getpid(),
        }
        if s.prediction_log is not None:
            status = _prediction_log_status(s.prediction_log)
            body["prediction_log"] = status
            if status["errors"]:
                body["status"] = "degraded"
        if follower:
            body["reload"] = dict(follower[0].status)
            if body["reload"]["status"] != "ok":
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


def _on_sighup(wake: Callable[[], None]) -> bool:
    """Make SIGHUP check the source now; False where signals cannot be caught (a thread)."""
    if threading.current_thread() is not threading.main_thread():
        log.warning("reload_on_sighup needs the main thread; SIGHUP will not reload")
        return False
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, wake)
    return True


def _check_replaces(new: Bundle, served: Bundle, current: SourceState) -> None:
    """A swap replaces a version of the served model, not the model: clients address it by
    name (``/v2/models/NAME``) and read its kind of result."""
    for what, got, expected in (
        ("model", new.name, served.name),
        ("output", new.manifest.output, served.manifest.output),
    ):
        if got != expected:
            raise ModelSourceError(
                f"version {current.version}",
                f"its {what} is {got!r}, and the server serves {what} {expected!r}",
                "A server swaps versions of one model; start another server for this one.",
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
