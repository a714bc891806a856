"""Commands for deployment readiness: bench, check, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skbundle.cli._common import (
    BundlePath,
    MaxP99Opt,
    MaxRmseOpt,
    MinAccuracyOpt,
    MinR2Opt,
    RequestsOpt,
    TrustOpt,
    TrustTypesOpt,
    console,
    err_console,
    errors_to_exit,
    json_for_terminal,
    number,
    plain,
    print_warning,
)

if TYPE_CHECKING:
    from skbundle.bench import BenchResult
    from skbundle.core.update import UpdateResult
    from skbundle.report.checklist import Checklist

_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "not measured": "dim"}


def render_bench(result: BenchResult, *, persistence: bool = True) -> None:
    from skbundle.report.html import SINGLE_ROW_COLUMNS

    table = Table(
        *SINGLE_ROW_COLUMNS,
        title=f"single-row latency over {result.n} calls; load = verify + construct, "
        "in a fresh process",
    )
    for name, r in result.runtimes.items():
        s = r.single
        table.add_row(
            plain(name),
            number(r.load_ms, ".1f"),
            number(r.rss_added_mb, ".1f"),
            *(number(s.get(k), ".3f") for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
            number(r.artifact_bytes / 1024, ".1f"),
        )
    console.print(table)
    table = Table("runtime", "batch size", "latency (ms)", "rows/s", title="batch prediction")
    for name, r in result.runtimes.items():
        for b in r.batches:
            table.add_row(
                plain(name),
                plain(b.get("size")),
                number(b.get("latency_ms"), ".2f"),
                number(b.get("rows_per_s"), ",.0f"),
            )
    console.print(table)
    for name, why in result.skipped.items():
        console.print(Text.assemble("  ", plain(f"{name} skipped:", "yellow"), " ", plain(why)))
    if persistence and result.persistence:
        table = Table(
            "method", "files", "size (KiB)", "save (ms)", "load (ms)", title="persistence"
        )
        for row in result.persistence:
            size = row.get("bytes")
            table.add_row(
                plain(row.get("method")),
                plain(row.get("files")),
                number(size / 1024 if isinstance(size, (int, float)) else size, ".1f"),
                number(row.get("save_ms"), ".1f"),
                number(row.get("load_ms"), ".1f"),
            )
        console.print(table)
    table = Table("artifact", "size (KiB)", title="artifacts")
    for path, size in result.artifacts.items():
        table.add_row(plain(path), number(size / 1024, ".1f"))
    console.print(table)


def render_update(path: Path, update: UpdateResult | None, what: str) -> None:
    if update is None:
        return
    err_console.print(plain(f"{what} stored in {path}/ ({', '.join(update.written)} rewritten)"))
    if update.signature_stale:
        print_warning(update.note)


def render_checklist(checklist: Checklist, *, strict: bool) -> None:
    from skbundle.report.checklist import GROUPS

    # Titles and evidence quote the bundle (feature names, classes, benchmark figures).
    table = Table("group", "item", "status", "evidence", title="deployment checklist")
    for group in GROUPS:
        for item in (i for i in checklist.items if i.group == group):
            status = plain(item.status, _STYLE.get(item.status, ""))
            title = item.title + ("" if item.required else " (advisory)")
            table.add_row(plain(group), plain(title), status, plain(item.evidence))
    console.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in checklist.counts().items() if n)
    strictly = " (strict)" if strict else ""
    if checklist.ok(strict=strict):
        console.print(
            Text.assemble(("READY", "bold green"), plain(f" to deploy{strictly}: {counts}"))
        )
    else:
        blocking = [
            i.title for i in checklist.items if (i.status != "pass" if strict else i.blocking)
        ]
        console.print(
            Text.assemble(
                ("NOT READY", "bold red"),
                plain(f"{strictly}: {counts}; blocking: " + "; ".join(blocking)),
            )
        )


def bench(
    path: BundlePath,
    runtime: Annotated[
        list[str] | None,
        typer.Option("--runtime", help="A runtime to measure (repeatable); default: all."),
    ] = None,
    n: Annotated[
        int, typer.Option("--n", min=1, help="Single-row calls timed per runtime.")
    ] = 1000,
    trust_pickle: TrustOpt = False,
    trust_type: TrustTypesOpt = None,
    store: Annotated[
        bool,
        typer.Option(
            "--store/--no-store", help="Store the results in the bundle (manifest and report)."
        ),
    ] = True,
) -> None:
    """Measure load time, memory, single-row latency percentiles, batch throughput and sizes.

    Results are stored in the bundle's manifest (benchmarks section) and shown by 'skbundle
    check' and the report.
    """
    from skbundle import bench as bench_lib

    with errors_to_exit(), err_console.status("measuring..."):
        result = bench_lib.run(
            path, runtimes=runtime, n=n, trust_pickle=trust_pickle, trusted_types=trust_type or ()
        )
        update = bench_lib.store(path, result) if store else None
    render_bench(result)
    render_update(path, update, "benchmark")


def check(
    path: BundlePath,
    min_accuracy: MinAccuracyOpt = None,
    min_r2: MinR2Opt = None,
    max_rmse: MaxRmseOpt = None,
    max_p99_ms: MaxP99Opt = 100.0,
    requests: RequestsOpt = 2000,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Load probe requests in flight at once.")
    ] = 32,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of a table.")
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail on any item that is not a pass (warn, not measured)."),
    ] = False,
    runtime: Annotated[
        str, typer.Option("--runtime", help="Runtime the probes load: auto, or a format name.")
    ] = "auto",
    trust_pickle: TrustOpt = False,
    trust_type: TrustTypesOpt = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write/--no-write",
            help="Write checklist.md and re-render the model card and report in the bundle.",
        ),
    ] = True,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Verify signature.json with this public key file."),
    ] = None,
) -> None:
    """Compute the deployment checklist; exit 0 when every required item passes, 1 otherwise.

    Every item is measured (metrics, hashes, parity, probes of bad and boundary inputs,
    requirements, benchmark, load probe, docs) and shown with its evidence. Use the exit code
    to gate a deployment in CI. A classifier takes --min-accuracy, a regressor --min-r2 and
    --max-rmse; a threshold of the other task is refused (exit 1).
    """
    import orjson

    from skbundle.readiness.check import check as check_lib

    with errors_to_exit():
        outcome = check_lib(
            path,
            min_accuracy=min_accuracy,
            min_r2=min_r2,
            max_rmse=max_rmse,
            max_p99_ms=max_p99_ms,
            requests=requests,
            concurrency=concurrency,
            runtime=runtime,
            trust_pickle=trust_pickle,
            trusted_types=trust_type or (),
            write=write,
            public_key=key,
        )
    if json_output:
        text = orjson.dumps(outcome.checklist.to_dict(strict=strict), option=orjson.OPT_INDENT_2)
        sys.stdout.write(json_for_terminal(text.decode()) + "\n")
    else:
        render_checklist(outcome.checklist, strict=strict)
    render_update(path, outcome.update, "checklist")
    if not outcome.ok(strict=strict):
        raise typer.Exit(1)


def report(
    path: BundlePath,
    open_: Annotated[
        bool, typer.Option("--open", help="Open report.html in the default browser.")
    ] = False,
) -> None:
    """Re-render report.html, model_card.md and checklist.md from the data in the bundle.

    Loads no model: everything comes from bundle.json and readiness.json.
    """
    from skbundle.core.layout import REPORT_NAME
    from skbundle.readiness.refresh import refresh

    with errors_to_exit():
        update = refresh(path)
    target = (path / REPORT_NAME).resolve()
    console.print(plain(f"wrote {target}"))
    render_update(path, update, "report")
    if open_:
        import webbrowser

        webbrowser.open(target.as_uri())


def importance_lines(path: Path, top: int = 10) -> list[str]:
    """The top features as text lines for 'skbundle inspect' (from readiness.json)."""
    from skbundle.errors import ReadinessError
    from skbundle.readiness.refresh import read_readiness

    try:
        importance: dict[str, Any] | None = read_readiness(path).get("importance")
    except ReadinessError:
        return []
    # readiness.json is not verified by 'inspect' (it reads no hashes): take nothing on trust.
    if not isinstance(importance, dict) or not isinstance(importance.get("features"), list):
        return []
    lines = [f"top {top} features ({importance.get('method')}):"]
    for i, entry in enumerate(importance["features"][:top], start=1):
        name, value = entry if isinstance(entry, list) and len(entry) == 2 else (entry, None)
        lines.append(f"  {i:>2}. {name!s:<28} {number(value, '.4f')}")
    return lines


def register(app: Any) -> None:
    app.command()(bench)
    app.command()(check)
    app.command("report")(report)


def render_demo_readiness(report: Any) -> None:
    """The demo's last steps: the benchmark and the checklist it stored in the bundle."""
    measured = report.extras.get("bench")
    checklist = report.extras.get("checklist")
    if measured is None or checklist is None:
        return
    console.print("\n[bold]9. Benchmarked[/] (stored in bundle.json, shown in report.html)")
    render_bench(measured, persistence=False)
    console.print("\n[bold]10. Deployment checklist[/] (every item measured; checklist.md)")
    render_checklist(checklist, strict=False)
    path = report.bundle_path
    console.print(
        plain(
            f"\nReport: {path}/report.html   Model card: {path}/model_card.md   "
            f"CI gate: skbundle check {path} --trust-pickle --min-accuracy 0.9",
            multiline=True,
        )
    )
