"""Running the app with uvicorn: one process, or several workers sharing the port.

With one worker the bundle is loaded here and handed to the app. With several, uvicorn starts
each worker from an import string, so the options travel in the environment
(``SKBUNDLE_SERVE_CONFIG``, and ``SKBUNDLE_API_KEY`` for the key) to :func:`app_from_env`,
and each worker loads the bundle once in its lifespan. Before any worker starts, the bundle
is checked here without deserializing anything (hashes, trust, runtime, environment), so a
bad bundle ends with one clear error instead of workers failing in a loop.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass

import orjson
from starlette.applications import Starlette

from skbundle.bundle import AUTO, load, plan_load
from skbundle.serve.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS, create_app

ENV_CONFIG = "SKBUNDLE_SERVE_CONFIG"
ENV_API_KEY = "SKBUNDLE_API_KEY"


@dataclass(frozen=True)
class ServeConfig:
    """Everything a worker needs to build the app (the API key travels separately)."""

    path: str
    runtime: str = AUTO
    trust_pickle: bool = False
    allow_version_mismatch: bool = False
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    trusted_types: tuple[str, ...] = ()
    log_predictions: str | None = None


def app_from_env() -> Starlette:
    """The uvicorn factory each worker calls: ``skbundle.serve.runner:app_from_env``."""
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        raise RuntimeError(f"{ENV_CONFIG} is not set; start workers with 'skbundle serve'")
    data = orjson.loads(raw)
    config = ServeConfig(**{**data, "trusted_types": tuple(data.get("trusted_types", ()))})
    return create_app(
        config.path,
        api_key=os.environ.get(ENV_API_KEY) or None,
        max_rows=config.max_rows,
        max_body_bytes=config.max_body_bytes,
        runtime=config.runtime,
        trust_pickle=config.trust_pickle,
        trusted_types=config.trusted_types,
        allow_version_mismatch=config.allow_version_mismatch,
        log_predictions=config.log_predictions,
    )


def preflight(config: ServeConfig) -> str:
    """Check that every worker will be able to load the bundle; deserializes nothing.

    Returns a one-line description of what will be served.

    Raises
    ------
    ManifestError, BundleIntegrityError, UntrustedArtifactError, RuntimeUnavailableError,
    IncompatibleEnvironmentError
        As :func:`skbundle.load` would.
    """
    plan = plan_load(
        config.path,
        runtime=config.runtime,
        trust_pickle=config.trust_pickle,
        allow_version_mismatch=config.allow_version_mismatch,
    )
    return f"{plan.manifest.name} {plan.manifest.version} (runtime {plan.handler.name})"


def run(
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    api_key: str | None = None,
    log_level: str = "info",
    access_log: bool = False,
    on_start: Callable[[str], None] | None = None,
) -> None:
    """Serve a bundle until interrupted.

    Parameters
    ----------
    config
        The bundle and the request limits.
    host, port
        Where to listen; 127.0.0.1 by default, so nothing outside this machine can connect
        unless asked for.
    workers
        Worker processes; each loads the bundle once.
    api_key
        Require ``Authorization: Bearer <api_key>`` on the prediction endpoints.
    log_level, access_log
        uvicorn logging; the access log is off by default (it costs throughput).
    on_start
        Called once with a description of what is served, before listening starts.
    """
    import uvicorn

    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and config.log_predictions is not None:
        raise ValueError(
            f"--log-predictions with {workers} workers: expected one worker, because every "
            "worker would rotate the same file. Serve with --workers 1 to log predictions."
        )
    common = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "lifespan": "on",
        "loop": "uvloop",
        "http": "httptools",
        # Nothing here reads the client address, so X-Forwarded-* parsing is pure cost; and
        # the server header only tells a scanner what to try.
        "proxy_headers": False,
        "server_header": False,
    }
    if workers == 1:
        bundle = load(
            config.path,
            runtime=config.runtime,
            trust_pickle=config.trust_pickle,
            trusted_types=config.trusted_types,
            allow_version_mismatch=config.allow_version_mismatch,
        )
        app = create_app(
            bundle,
            api_key=api_key,
            max_rows=config.max_rows,
            max_body_bytes=config.max_body_bytes,
            log_predictions=config.log_predictions,
        )
        if on_start is not None:
            on_start(f"{bundle.name} {bundle.version} (runtime {bundle.runtime.format})")
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    description = preflight(config)
    if on_start is not None:
        on_start(description)
    os.environ[ENV_CONFIG] = orjson.dumps(asdict(config)).decode()
    if api_key:
        os.environ[ENV_API_KEY] = api_key
    else:
        os.environ.pop(ENV_API_KEY, None)
    # Workers count into files in a private directory; /metrics adds them up.
    with tempfile.TemporaryDirectory(prefix="skbundle-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        try:
            uvicorn.run(
                "skbundle.serve.runner:app_from_env",
                factory=True,
                workers=workers,
                **common,  # type: ignore[arg-type]
            )
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
