"""``skbundle serve``: put a bundle behind HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from skbundle.cli._common import console, err_console, errors_to_exit
from skbundle.cli.bundle_commands import BundlePath, MismatchOpt, RuntimeOpt, TrustOpt


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
    allow_version_mismatch: MismatchOpt = False,
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
        allow_version_mismatch=allow_version_mismatch,
        max_rows=max_rows,
        max_body_bytes=max_body_bytes,
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
