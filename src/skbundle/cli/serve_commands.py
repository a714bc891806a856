"""``skbundle serve``: put a bundle behind HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from skbundle.cli._common import (
    MismatchOpt,
    RuntimeOpt,
    TrustOpt,
    TrustTypesOpt,
    console,
    errors_to_exit,
    plain,
    print_warning,
)


def serve(
    spec: Annotated[
        str,
        typer.Argument(
            help="What to serve: a bundle directory, a link to one (flip it to swap versions), "
            "or a registry name models:/NAME@ALIAS or models:/NAME/VERSION.",
        ),
    ],
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
            help="Require 'Authorization: Bearer KEY' on the prediction endpoints. Visible to "
            "every local user in the process list (/proc/PID/cmdline): prefer the "
            "SKBUNDLE_API_KEY environment variable or --api-key-file.",
        ),
    ] = None,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file",
            help="Read the API key from the first line of this file (keep it chmod 600: a "
            "file others can read is served with a warning). The key can also come from the "
            "SKBUNDLE_API_KEY environment variable; give it one way only.",
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
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            envvar="SKBUNDLE_REGISTRY",
            metavar="DIR_OR_URL",
            help="The model registry that models:/ names are looked up in (a directory or a "
            "database URL).",
        ),
    ] = None,
    poll: Annotated[
        float,
        typer.Option(
            "--poll",
            min=0,
            metavar="SECONDS",
            help="Check SPEC every SECONDS for a new version and swap it in without dropping "
            "a request; 0 checks only on SIGHUP.",
        ),
    ] = 2.0,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs throughput).")
    ] = False,
) -> None:
    """Serve a bundle over HTTP: /predict, Open Inference Protocol v2, /metrics, a web page.

    The bundle is verified and loaded once per worker. Every worker follows SPEC: when it
    names a new version (checked every --poll seconds, and at once on SIGHUP), the version is
    verified and loaded with the same options, then swapped in between requests; one that
    fails to load is not served, and /health says so. Every answer names its version
    (X-Model-Version).

    Open http://HOST:PORT/ to try the model in a browser, and /docs for the API.

    An API key is taken from SKBUNDLE_API_KEY, --api-key-file or --api-key (one of them);
    an empty key is refused.
    """
    from skbundle.serve.runner import ServeConfig, api_key_from, key_file_is_shared, run

    with errors_to_exit():
        key = api_key_from(option=api_key, file=api_key_file)
    if api_key_file is not None and key_file_is_shared(api_key_file):
        print_warning(
            f"the API key file {api_key_file} can be read by other users; restrict it with "
            f"'chmod 600 {api_key_file}'."
        )

    config = ServeConfig(
        path=spec,
        registry=registry,
        poll=poll,
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
    if host not in ("127.0.0.1", "localhost", "::1") and not key:
        print_warning(
            f"listening on {host} without an API key: anyone who can reach this address can "
            "use the model."
        )

    def announce(what: str) -> None:
        # ``what`` names the bundle (from its manifest): plain text.
        console.print(
            Text.assemble(
                "serving ",
                plain(what, "bold"),
                plain(
                    f" on http://{host}:{port}/ with {workers} worker{'s' if workers != 1 else ''}"
                    + ("; API key required" if key else "")
                ),
            )
        )

    with errors_to_exit():
        run(
            config,
            host=host,
            port=port,
            workers=workers,
            api_key=key,
            log_level=log_level,
            access_log=access_log,
            on_start=announce,
        )


def register(app: Any) -> None:
    app.command()(serve)
