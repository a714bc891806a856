"""Running the app with uvicorn: one process, or several workers sharing the port.

With one worker the bundle is loaded here and handed to the app. With several, uvicorn starts
each worker from an import string, so the options travel in the environment
(``SKBUNDLE_SERVE_CONFIG``, and ``SKBUNDLE_API_KEY`` for the key) to :func:`app_from_env`,
and each worker loads the bundle once in its lifespan. Before any worker starts, the bundle
is checked here without deserializing anything (hashes, trust, runtime, environment), so a
bad bundle ends with one clear error instead of workers failing in a loop.

Swapping versions
-----------------
Every worker follows the model source itself (``ServeConfig.poll``, see
:mod:`skbundle.serve.app`), and SIGHUP makes it check at once. With one worker, the app's
lifespan takes SIGHUP (which would otherwise end the process). With several, uvicorn's
supervisor gets the signal and would restart every worker; :class:`_Supervisor` forwards it
to the workers instead, which reload in place: no request is dropped and no worker restarts.

The API key
-----------
A key on the command line (``--api-key``) is in ``/proc/PID/cmdline``, which every local user
can read. :func:`api_key_from` also takes it from ``SKBUNDLE_API_KEY`` (the environment of a
process is readable by its own user only) or from a file (``--api-key-file``). The same
variable carries the key to the workers: a worker is started by this process, never by a
user, so the two uses cannot disagree, and :func:`run` restores the variable when it ends.
"""

from __future__ import annotations

import os
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from starlette.applications import Starlette

from skbundle.bundle import AUTO, plan_load
from skbundle.errors import ApiKeyError
from skbundle.registry import SourceState
from skbundle.serve.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS, LoadOptions, create_app
from skbundle.serve.sources import ModelSource, open_source

ENV_CONFIG = "SKBUNDLE_SERVE_CONFIG"
ENV_API_KEY = "SKBUNDLE_API_KEY"
MAX_KEY_FILE_LINE = 4096
"""Bytes read from an API key file for its first line; a longer line is refused."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything a worker needs to build the app (the API key travels separately).

    ``path`` is what the user typed: a bundle directory (or a link to one) or ``models:/...``
    (looked up in ``registry``); ``poll`` is the seconds between checks of it (0: on SIGHUP
    only).
    """

    path: str
    runtime: str = AUTO
    trust_pickle: bool = False
    allow_version_mismatch: bool = False
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    trusted_types: tuple[str, ...] = ()
    log_predictions: str | None = None
    registry: str | None = None
    poll: float = 2.0

    @property
    def loading(self) -> LoadOptions:
        return LoadOptions(
            self.runtime, self.trust_pickle, self.trusted_types, self.allow_version_mismatch
        )

    def source(self) -> ModelSource:
        return open_source(self.path, registry=self.registry)


def app_from_env() -> Starlette:
    """The uvicorn factory each worker calls: ``skbundle.serve.runner:app_from_env``."""
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        raise RuntimeError(f"{ENV_CONFIG} is not set; start workers with 'skbundle serve'")
    data = orjson.loads(raw)
    config = ServeConfig(**{**data, "trusted_types": tuple(data.get("trusted_types", ()))})
    # Until the lifespan takes SIGHUP, one forwarded by the supervisor must not end the worker
    # (its default action): the lifespan loads what the source names then anyway.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return create_app(
        config.source(),
        api_key=os.environ.get(ENV_API_KEY) or None,
        max_rows=config.max_rows,
        max_body_bytes=config.max_body_bytes,
        runtime=config.runtime,
        trust_pickle=config.trust_pickle,
        trusted_types=config.trusted_types,
        allow_version_mismatch=config.allow_version_mismatch,
        log_predictions=config.log_predictions,
        poll=config.poll,
        reload_on_sighup=True,
    )


def read_api_key_file(path: str | os.PathLike[str]) -> str:
    """The API key in the first line of ``path``, stripped of surrounding whitespace.

    Raises
    ------
    ApiKeyError
        The file is missing, unreadable (a directory, no permission), not UTF-8, or its first
        line is empty or longer than ``MAX_KEY_FILE_LINE`` bytes.
    """
    source = f"--api-key-file {path}"
    try:
        # A pipe is fine too (--api-key-file <(pass show serve-key)): the read is bounded.
        with open(path, "rb") as fh:
            head = fh.read(MAX_KEY_FILE_LINE + 1)
    except FileNotFoundError:
        raise ApiKeyError(
            source, "no such file", "Pass a file whose first line is the key."
        ) from None
    except OSError as exc:
        raise ApiKeyError(
            source,
            f"cannot be read ({exc.strerror or exc})",
            "Check the path and its permissions.",
        ) from None
    first, newline, _ = head.partition(b"\n")
    if not newline and len(head) > MAX_KEY_FILE_LINE:
        raise ApiKeyError(
            source,
            f"the first line is longer than {MAX_KEY_FILE_LINE} bytes",
            "Put the key alone on the first line.",
        )
    try:
        key = first.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ApiKeyError(
            source, "the first line is not UTF-8 text", "Store the key as text."
        ) from None
    if not key:
        raise ApiKeyError(
            source, "the first line is empty", "Put the key on the file's first line."
        )
    return key


def key_file_is_shared(path: str | os.PathLike[str]) -> bool:
    """Whether users other than the owner may read the key file (group or other bits)."""
    return bool(Path(path).stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def api_key_from(
    *,
    option: str | None = None,
    file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The server's API key from exactly one source, or None when none is given.

    Parameters
    ----------
    option
        ``--api-key``: visible to every local user in the process list; prefer the others.
    file
        ``--api-key-file``: the key is the file's first line.
    environ
        Where ``SKBUNDLE_API_KEY`` is looked up; ``os.environ`` by default.

    Raises
    ------
    ApiKeyError
        More than one source is given, a source is empty, or the file cannot be read. An
        empty key is refused rather than read as "no authentication": a secret that failed
        to arrive must not open the server.

    Examples
    --------
    >>> api_key_from(environ={"SKBUNDLE_API_KEY": "s3cret"})
    's3cret'
    """
    env = os.environ if environ is None else environ
    given = [
        name
        for name, present in (
            ("--api-key", option is not None),
            ("--api-key-file", file is not None),
            (ENV_API_KEY, ENV_API_KEY in env),
        )
        if present
    ]
    if len(given) > 1:
        raise ApiKeyError(
            " and ".join(given),
            "expected one source of the key",
            f"Give the key one way only (unset {ENV_API_KEY} to use an option).",
        )
    if file is not None:
        return read_api_key_file(file)
    source, value = (
        ("--api-key", option) if option is not None else (ENV_API_KEY, env.get(ENV_API_KEY))
    )
    if value is None:
        return None
    if not value.strip():
        raise ApiKeyError(
            source, "it is empty", f"Give a non-empty key, or unset {ENV_API_KEY} for none."
        )
    return value.strip()


@contextmanager
def _environment(**values: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables, and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def preflight(config: ServeConfig) -> str:
    """Check that every worker will be able to load the bundle; deserializes nothing.

    Returns a one-line description of what will be served.

    Raises
    ------
    ModelSourceError
        The source cannot be opened (``models:/`` without a registry).
    ManifestError, BundleIntegrityError, UntrustedArtifactError, RuntimeUnavailableError,
    IncompatibleEnvironmentError
        As :func:`skbundle.load` would.
    """
    state = config.source().current()
    plan = plan_load(
        state.path,
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
    if config.poll < 0:
        raise ValueError(f"poll must be 0 (no polling) or more seconds, got {config.poll}")
    if workers == 1:
        # Loaded here, before listening, so a bad bundle ends with its own clear error.
        source = config.source()
        state: SourceState = source.current()
        bundle = config.loading.load(state.path)
        app = create_app(
            source,
            api_key=api_key,
            max_rows=config.max_rows,
            max_body_bytes=config.max_body_bytes,
            log_predictions=config.log_predictions,
            runtime=config.runtime,
            trust_pickle=config.trust_pickle,
            trusted_types=config.trusted_types,
            allow_version_mismatch=config.allow_version_mismatch,
            poll=config.poll,
            reload_on_sighup=True,
            loaded=(state, bundle),
        )
        if on_start is not None:
            on_start(f"{bundle.name} {bundle.version} (runtime {bundle.runtime.format})")
        # SIGHUP while uvicorn starts must not end the process; the lifespan takes it over.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        uvicorn.run(app, **common)  # type: ignore[arg-type]
        return
    description = preflight(config)
    if on_start is not None:
        on_start(description)
    # Workers count into files in a private directory; /metrics adds them up.
    with (
        tempfile.TemporaryDirectory(prefix="skbundle-metrics-") as metrics_dir,
        _environment(
            **{
                ENV_CONFIG: orjson.dumps(asdict(config)).decode(),
                ENV_API_KEY: api_key or None,
                "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            }
        ),
    ):
        _serve_workers(workers, common)


def _serve_workers(workers: int, common: dict[str, object]) -> None:
    """What ``uvicorn.run(..., workers=N)`` does, with a supervisor that forwards SIGHUP."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    class _Supervisor(Multiprocess):
        """uvicorn's supervisor, but SIGHUP reaches the workers (each reloads in place)
        instead of restarting them all."""

        def handle_hup(self) -> None:
            for process in self.processes:
                if process.pid is not None and process.exitcode is None:
                    os.kill(process.pid, signal.SIGHUP)

    config = uvicorn.Config(
        "skbundle.serve.runner:app_from_env",
        factory=True,
        workers=workers,
        **common,  # type: ignore[arg-type]
    )
    sock = config.bind_socket()
    try:
        _Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
