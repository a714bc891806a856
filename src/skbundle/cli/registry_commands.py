"""``skbundle registry``: push bundles, list and show versions, move aliases through their gate,
pull, roll back, delete, and read the audit log.

Every command takes ``--registry DIR_OR_URL`` (env ``SKBUNDLE_REGISTRY``, default
``./skbundle-registry``) and ``--blobs DIR_OR_URL`` for a database registry's blob store
(env ``SKBUNDLE_REGISTRY_BLOBS``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skbundle.cli._common import (
    MaxP99Opt,
    MaxRmseOpt,
    MinAccuracyOpt,
    MinR2Opt,
    RequestsOpt,
    console,
    err_console,
    errors_to_exit,
    json_for_terminal,
    number,
    plain,
    print_error,
)

if TYPE_CHECKING:
    from skbundle.registry import AliasEvent, ModelVersion, Registry

registry_app = typer.Typer(
    name="registry",
    help="A model registry: versions, aliases such as @production (moved only through a "
    "readiness gate), and an audit log of every move.",
    no_args_is_help=True,
)

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        envvar="SKBUNDLE_REGISTRY",
        help="The registry: a directory (SQLite + blobs inside) or a database URL such as "
        "postgresql+psycopg://user@host/db. Default: ./skbundle-registry.",
        show_default=False,
    ),
]
BlobsOpt = Annotated[
    str | None,
    typer.Option(
        "--blobs",
        envvar="SKBUNDLE_REGISTRY_BLOBS",
        help="Where a database registry keeps its files: a directory or an fsspec URL.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def _opened(location: str | None, blobs: str | None, *, create: bool) -> Iterator[Registry]:
    """The registry, open for one command; our errors become exit 1 with a message."""
    with errors_to_exit():
        try:
            # Start-up time: SQLAlchemy and Alembic load only for registry commands.
            from skbundle.registry import Registry
        except ImportError as exc:
            print_error(
                f"the registry needs its extra dependencies ({exc.name} is missing): "
                "pip install 'skbundle[registry]'"
            )
            raise typer.Exit(1) from None
        with Registry.open(location, blobs=blobs, create=create) as registry:
            yield registry


def _json(data: Any) -> None:
    import orjson

    text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    sys.stdout.write(json_for_terminal(text.decode()) + "\n")


def _headline(version: ModelVersion) -> Text:
    test = version.metrics.get("test", {}) if isinstance(version.metrics, dict) else {}
    key = "r2" if version.task == "regression" else "accuracy"
    value = test.get(key) if isinstance(test, dict) else None
    return Text.assemble(f"{key} ", number(value, ".4f"))


def _gate_text(event: AliasEvent) -> Text:
    style = "green" if event.gate.passed else "bold red"
    if not event.gate.checked:
        style = "dim"
    forced = Text.assemble(("FORCED ", "bold yellow")) if event.forced else Text("")
    return Text.assemble(forced, plain(event.gate.summary, style))


def push(
    bundle_dir: Annotated[Path, typer.Argument(help="The bundle directory to push.")],
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Verify a bundle and store it as NAME@VERSION (from its manifest); prints NAME@VERSION.

    Each file is stored once by its SHA-256. Pushing a version again with the same bytes does
    nothing; with other bytes it is refused (a version never changes).
    """
    with _opened(registry, blobs, create=True) as reg, errors_to_exit():
        version = reg.push(bundle_dir)
    if json_output:
        _json(version.to_dict())
    else:
        console.print(plain(version.ref))


def list_(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """List the versions in the registry (of one model, or of all), with their aliases."""
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        versions = reg.list(name)
    if json_output:
        _json([v.to_dict() for v in versions])
        return
    table = Table("model", "version", "aliases", "test metric", "pushed by", "pushed at", "KiB")
    for v in versions:
        table.add_row(
            plain(v.name),
            plain(v.version),
            plain(", ".join(f"@{a}" for a in v.aliases)),
            _headline(v),
            plain(v.pushed_by),
            plain(v.pushed_at),
            number(v.size / 1024, ",.1f"),
        )
    console.print(table)


def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Show one version: identity, aliases, metrics, provenance and every file's SHA-256."""
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        v = reg.show(ref)
    if json_output:
        _json(v.to_dict())
        return
    console.print(plain(v.ref, "bold"))
    aliases = ", ".join(f"@{a}" for a in v.aliases) or "none"
    console.print(plain(f"  task: {v.task}   aliases: {aliases}"))
    console.print(plain(f"  pushed by {v.pushed_by} at {v.pushed_at}"))
    console.print(plain(f"  bundle.json sha256 {v.bundle_sha256}"))
    test = v.metrics.get("test", {}) if isinstance(v.metrics, dict) else {}
    if isinstance(test, dict):
        shown = [(k, x) for k, x in test.items() if isinstance(x, (int, float))]
        line = Text("  test metrics: ")
        for i, (k, x) in enumerate(shown):
            line.append_text(Text.assemble(", " if i else "", plain(f"{k}="), number(x, ".4g")))
        console.print(line)
    table = Table("file", "bytes", "sha256", title="files")
    for f in v.files:
        table.add_row(plain(f.path), f"{f.size:,}", plain(f.sha256))
    console.print(table)


def alias(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production.")],
    version: Annotated[str, typer.Argument(help="The version the alias should name.")],
    min_accuracy: MinAccuracyOpt = None,
    min_r2: MinR2Opt = None,
    max_rmse: MaxRmseOpt = None,
    max_p99_ms: MaxP99Opt = 100.0,
    requests: RequestsOpt = 2000,
    strict: Annotated[
        bool, typer.Option("--strict", help="Any item that is not a pass blocks the move.")
    ] = False,
    require_signature: Annotated[
        Path | None,
        typer.Option(
            "--require-signature",
            metavar="PUBLIC_KEY",
            help="Refuse unless the version is signed by this Ed25519 public key (PEM file).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Move even if the gate fails (recorded; needs --reason)."),
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Point NAME@ALIAS at VERSION, only if VERSION passes its gate.

    The gate is the version's deployment checklist (as 'skbundle check' computes it, with the
    thresholds given), and its signature when --require-signature is given. --force moves it
    anyway; the move, its gate result and the reason go to the audit log either way.
    """
    from skbundle import lifecycle

    checking = err_console.status(f"checking {name}@{version}...")
    with _opened(registry, blobs, create=False) as reg, errors_to_exit(), checking:
        event = lifecycle.promote(
            reg,
            name,
            alias_name,
            version,
            min_accuracy=min_accuracy,
            min_r2=min_r2,
            max_rmse=max_rmse,
            max_p99_ms=max_p99_ms,
            requests=requests,
            strict=strict,
            require_signature=require_signature,
            force=force,
            reason=reason,
        )
    if json_output:
        _json(event.to_dict())
        return
    _print_move(event)


def _print_move(event: AliasEvent) -> None:
    was = f" (was {event.from_version})" if event.from_version else " (new alias)"
    console.print(
        Text.assemble(
            plain(f"{event.name}@{event.alias} -> {event.to_version}{was}; gate: "),
            _gate_text(event),
        )
    )


def pull(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    out: Annotated[Path, typer.Option("--out", help="The bundle directory to write.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a bundle already at --out.")
    ] = False,
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
) -> None:
    """Write a version as a bundle directory, every file checked against its SHA-256."""
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        v = reg.pull(ref, out, overwrite=overwrite)
    console.print(plain(f"{v.ref} -> {out}"))


def rollback(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="e.g. production.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Move NAME@ALIAS back to the version it named before its latest move.

    The earlier version is read from the audit log; the rollback is recorded there too.
    Rolling back again goes one more move back.
    """
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        event = reg.rollback(name, alias_name, reason=reason)
    if json_output:
        _json(event.to_dict())
        return
    _print_move(event)


def delete(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION", help="The version to delete.")],
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
) -> None:
    """Delete a version from the registry; refused while an alias points at it."""
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        from skbundle.errors import RegistryError
        from skbundle.registry import parse_ref

        parsed = parse_ref(ref)
        if parsed.version is None:
            raise RegistryError(
                f"Cannot delete {ref!r}",
                "expected NAME@VERSION (an alias or a bare name could name another version "
                "tomorrow)",
                "Give the version, e.g. 'skbundle registry delete breast-cancer@1.0.0'.",
            )
        v = reg.delete(parsed.name, parsed.version)
    console.print(plain(f"deleted {v.ref}"))


def history(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias_name: Annotated[
        str | None, typer.Option("--alias", help="Only this alias's moves.")
    ] = None,
    registry: RegistryOpt = None,
    blobs: BlobsOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The audit log of a model's aliases: every move, who made it, its gate, forced or not."""
    with _opened(registry, blobs, create=False) as reg, errors_to_exit():
        events = reg.history(name, alias_name)
    if json_output:
        _json([e.to_dict() for e in events])
        return
    table = Table("#", "at", "who", "alias", "action", "from", "to", "gate", "reason")
    for e in events:
        table.add_row(
            str(e.id),
            plain(e.at),
            plain(e.actor),
            plain(f"@{e.alias}"),
            plain(e.action),
            plain(e.from_version or "-"),
            plain(e.to_version),
            _gate_text(e),
            plain(e.reason or "-"),
        )
    console.print(table)


def render_demo_registry(report: Any) -> None:
    """The demo's last step: where it pushed the bundle and how @production moved."""
    info = report.extras.get("registry")
    if info is None:
        return
    if isinstance(info, str):  # why the step was skipped
        console.print(plain(f"\nRegistry: skipped ({info})"))
        return
    console.print(Text("\nRegistry", style="bold"))
    console.print(plain(f"  pushed {info.version.ref} to {info.location}"))
    event = info.event
    if event is None:
        console.print(Text.assemble(("  @production not moved: ", "bold red"), plain(info.refused)))
    else:
        console.print(
            Text.assemble(
                plain(f"  @{event.alias} -> {event.to_version}; gate: "), _gate_text(event)
            )
        )
    console.print(
        plain(
            f"  see: skbundle registry list --registry {info.location}  |  skbundle registry "
            f"history {info.version.name} --registry {info.location}"
        )
    )


def register(app: Any) -> None:
    for command in (push, show, alias, pull, rollback, delete, history):
        registry_app.command()(command)
    registry_app.command("list")(list_)
    app.add_typer(registry_app)
