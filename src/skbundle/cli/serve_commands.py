"""``skbundle serve``: put a bundle behind HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from skbundle.cli._common import (
    BundlePath,
    MismatchOpt,
    RuntimeOpt,
    TrustOpt,
    TrustTypesOpt,
    console,
    err_console,
    errors_to_exit,
)


def serve(
    path: BundlePath,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes, each with the model.")
    ] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="SKBUNDLE_API_KEY",
            show_envvar=True,
            help="Require 'Authorization: Bearer KEY' on the prediction endpoints.",
        ),
    ] = None,
    runtime: RuntimeOpt = "auto",
    trust_pickle: TrustOpt = False,
    trust_type: TrustTypesOpt = None,
    allow_version_mismatch: MismatchOpt = False,
    log_predictions: Annotated[
        Path | None,
        typer.Option(
            "--log-predictions",
            help="Append each prediction's inputs and probabilities to this JSON-lines file "
            "(rotated at 100 MB, 5 backups) for 'skbundle drift PATH --from-log FILE'. "
            "Needs --workers 1.",
        ),
    ] = None,
    max_rows: Annotated[
        int, typer.Option("--max-rows", min=1, help="Most records in one request (413 above).")
    ] = 10_000,
    max_body_bytes: Annotated[
        int,
        typer.Option("--max-body-bytes", min=1, help="Largest request body (413 above)."),
    ] = 10 * 1024 * 1024,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs throughput).")
    ] = False,
) -> None:
    """Serve a bundle over HTTP: /predict, Open Inference Protocol v2, /metrics, a web page.

    The bundle is verified and loaded once per worker.

    Open http://HOST:PORT/ to try the model in a browser, and /docs for the API.
    """
    from skbundle.serve.runner import ServeConfig, run

    config = ServeConfig(
        path=str(Path(path)),
        runtime=runtime,
        trust_pickle=trust_pickle,
        trusted_types=tuple(trust_type or ()),
        allow_version_mismatch=allow_version_mismatch,
        log_predictions=str(log_predictions) if log_predictions is not None else None,
        max_rows=max_rows,
        max_body_bytes=max_body_bytes,
    )
    if log_predictions is not None and workers > 1:
        raise typer.BadParameter(
            f"expected --workers 1 with --log-predictions, got {workers}: every worker would "
            "rotate the same file.",
            param_hint="--log-predictions",
        )
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        err_console.print(
            f"[yellow]warning:[/] listening on {escape(host)} without --api-key: anyone who "
            "can reach this address can use the model."
        )

    def announce(what: str) -> None:
        console.print(
            f"serving [bold]{escape(what)}[/] on http://{escape(host)}:{port}/ "
            f"with {workers} worker{'s' if workers != 1 else ''}"
            + ("; API key required" if api_key else "")
        )

    with errors_to_exit():
        run(
            config,
            host=host,
            port=port,
            workers=workers,
            api_key=api_key,
            log_level=log_level,
            access_log=access_log,
            on_start=announce,
        )


def register(app: Any) -> None:
    app.command()(serve)
