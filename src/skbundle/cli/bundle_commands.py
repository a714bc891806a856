"""Commands for the bundle itself: demo, inspect, verify, predict."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.panel import Panel
from rich.table import Column, Table
from rich.text import Text

from skbundle.cli._common import (
    BundlePath,
    MismatchOpt,
    RuntimeOpt,
    TrustOpt,
    TrustTypesOpt,
    console,
    err_console,
    errors_to_exit,
    json_for_terminal,
    number,
    plain,
    print_error,
)

if TYPE_CHECKING:
    from skbundle.core.manifest import Manifest
    from skbundle.demo import DemoReport


class Engine(str, Enum):
    """Where ``predict`` scores: this process, or a Dask cluster."""

    local = "local"
    dask = "dask"


def _pct(x: float) -> str:
    return f"{x:.2%}"


def render_demo(report: DemoReport) -> None:
    d = report.dataset
    console.rule("[bold]skbundle demo: breast-cancer diagnosis, from fit to a verified bundle")
    console.print(Text.assemble("\n", ("1. Dataset", "bold"), "  ", plain(d.source)))
    console.print(
        plain(f"  samples: {d.n_samples}   features: {d.n_features}   classes: {d.classes}")
    )
    console.print(
        plain("  class balance: " + ", ".join(f"{k}={v}" for k, v in d.class_counts.items()))
    )
    console.print(plain("  first features: " + ", ".join(d.first_features)))

    s = report.split
    console.print("\n[bold]2. Stratified 80/20 split[/] (random_state=42)")
    console.print(f"  train: {s.n_train} rows, test: {s.n_test} rows")
    for name in d.classes:
        console.print(
            plain(
                f"  share of {name}: train {_pct(s.share_train[name])}, "
                f"test {_pct(s.share_test[name])}"
            )
        )

    console.print(
        Text.assemble(
            "\n", ("3. Pipeline fitted", "bold"), "  ", plain("  ->  ".join(report.steps))
        )
    )
    console.print(
        f"  train accuracy: {_pct(report.train_accuracy)}   "
        f"test accuracy: {_pct(report.test_accuracy)}"
    )

    m = report.manifest
    console.print(
        Text.assemble(
            "\n",
            ("4. Bundle saved", "bold"),
            plain(f" to {report.bundle_path}/ ({m.name} {m.version}, created {m.created_at})"),
        )
    )
    for artifact in m.artifacts:
        console.print(
            plain(
                f"  {artifact.path:<22} {artifact.bytes / 1024:8.1f} KB  "
                f"sha256 {artifact.sha256[:16]}..."
            )
        )
    console.print("  bundle.json              manifest: schema, metrics, environment, hashes")

    console.print("\n[bold]5. Reloaded and verified[/]")
    console.print(
        plain(
            f"  hashes verified before loading; runtime: {report.runtime} ({report.runtime_reason})"
        )
    )
    console.print(f"  accuracy after reload: {_pct(report.reloaded_accuracy)}")
    console.print(
        f"  predictions identical to the original: {report.identical} "
        f"(max |difference| = {report.max_abs_diff:g})"
    )
    console.print(
        Panel(
            "joblib/pickle files can run arbitrary code when loaded. This bundle was loaded "
            "without trusting model.joblib: skbundle chose a format that runs no code. Never "
            "pass trust_pickle=True for a bundle whose source you have not verified; sign "
            "bundles you publish (skbundle keygen / sign / verify --key).",
            title="security",
            border_style="yellow",
        )
    )

    console.print("[bold]6. New data predicted[/] (three test rows)")
    table = Table(
        "sample",
        "prediction",
        *[Column(plain(f"P({c})")) for c in d.classes],
        "confidence",
        "actual",
    )
    for i, sample in enumerate(report.samples, start=1):
        table.add_row(
            str(i),
            plain(sample["prediction"]),
            *[_pct(sample["probabilities"][c]) for c in d.classes],
            _pct(sample["confidence"]),
            plain(sample["actual"]),
        )
    console.print(table)

    console.print("\n[bold]7. Input validation[/] (a string value and a missing feature)")
    console.print(plain(report.invalid_input_error, "red", multiline=True))
    console.print("  a value ten times the training maximum is accepted with a warning:")
    for warning in report.out_of_range_warnings:
        console.print(Text.assemble("  ", ("warning:", "yellow"), " ", plain(warning)))

    console.print("\n[bold]8. Persistence compared[/] (best of 3, measured now)")
    table = Table("method", "files", "size (KB)", "save (ms)", "load (ms)")
    for row in report.persistence:
        table.add_row(
            plain(row.method),
            str(row.files),
            f"{row.bytes / 1024:.1f}",
            f"{row.save_ms:.1f}",
            f"{row.load_ms:.1f}",
        )
    console.print(table)


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bundle into.")] = Path(
        "models"
    ),
) -> None:
    """Run the breast-cancer workflow end to end: fit, bundle, reload, verify, predict.

    Writes OUT/breast-cancer/ (replacing an earlier demo bundle) and prints every step with
    figures measured in this run.
    """
    from skbundle.cli.drift_commands import render_demo_drift
    from skbundle.cli.readiness_commands import render_demo_readiness
    from skbundle.cli.registry_commands import render_demo_registry
    from skbundle.demo import run

    with errors_to_exit(), err_console.status("fitting, bundling and measuring..."):
        report = run(out)
    render_demo(report)
    render_demo_readiness(report)
    render_demo_drift(report.drift)
    render_demo_registry(report)
    path = report.bundle_path
    console.print(
        plain(
            f"\nNext: skbundle inspect {path}  |  skbundle predict {path} data.csv -o scored.csv"
            f"  |  skbundle serve {path}  |  skbundle drift {path} new.parquet",
            multiline=True,
        )
    )


def _summary(manifest: Manifest) -> None:
    # Everything here comes from bundle.json: printed as plain text (see cli/_common.py).
    m = manifest
    console.print(
        Text.assemble(
            plain(m.name, "bold"), plain(f" {m.version}  ({m.task}, format v{m.format_version})")
        )
    )
    if m.description:
        console.print(plain(f"  {m.description}"))
    from skbundle.core.metrics import REGRESSION_METRICS, SCALAR_METRICS
    from skbundle.report.model_card import output_text

    regression = m.task == "regression"
    classes = "" if regression else f"   classes: {m.classes}"
    console.print(plain(f"  created: {m.created_at}{classes}"))
    console.print(plain(f"  task: {m.task}, output: {m.output} ({output_text(m)})"))
    console.print(plain("  pipeline: " + "  ->  ".join(m.pipeline)))
    test = m.metrics.get("test", {})
    train = m.metrics.get("train", {})
    keys = REGRESSION_METRICS if regression else SCALAR_METRICS
    metrics = Text("  test metrics: ")
    for i, k in enumerate(k for k in keys if k in test):
        metrics.append_text(Text.assemble(", " if i else "", f"{k}=", number(test[k], ".4f")))
    metrics.append_text(plain(f" (n={test.get('n_rows')})"))
    console.print(metrics)
    headline = "r2" if regression else "accuracy"
    value = train.get(headline, float("nan")) if isinstance(train, dict) else None
    console.print(Text.assemble(f"  train {headline}: ", number(value, ".4f")))
    if m.output == "labels":
        console.print(plain("  no probabilities: labels only (no predict_proba, no confidence)"))
    if regression:
        iv = m.interval
        console.print(
            plain(
                "  interval: none calibrated"
                if iv is None
                else f"  interval: {iv.method}, prediction +/- {iv.half_width:.4g} at level "
                f"{iv.level:.2f}; measured coverage {iv.coverage:.3f} on held-out rows "
                f"({iv.n_calibration} calibration rows; marginal, not per record)"
            )
        )
    console.print(
        plain(
            f"  training data: {m.dataset.n_rows} rows x {m.dataset.n_features} features, "
            f"sha256 {m.dataset.sha256[:16]}..."
        )
    )


def inspect(path: BundlePath) -> None:
    """Show a bundle's identity, schema, metrics, artifacts and environment.

    Reads bundle.json only: nothing is deserialized, so it is safe on any bundle.
    """
    from skbundle.core.manifest import read_manifest
    from skbundle.report.model_card import category_preview

    with errors_to_exit():
        m = read_manifest(path)
    _summary(m)
    table = Table(title="schema", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("feature", overflow="fold", min_width=12)
    for heading in ("min", "max", "mean", "std"):
        table.add_column(heading, justify="right")
    table.add_column("missing")
    kinds = any(f.kind != "numeric" for f in m.features)
    if kinds:
        table.add_column("kind")
        table.add_column("categories", overflow="fold")
        table.add_column("unseen")
    for i, f in enumerate(m.features):
        row = [
            str(i),
            plain(f.name),
            *(f"{v:.4g}" if v is not None else "-" for v in (f.min, f.max, f.mean, f.std)),
            "allowed" if f.missing_allowed else "refused",
        ]
        if kinds:
            numeric = f.kind == "numeric"
            row += [
                f.kind,
                "-" if numeric else plain(category_preview(f)),
                "-" if numeric else "accepted" if f.unknown == "accept" else "refused",
            ]
        table.add_row(*row)
    console.print(table)
    table = Table("file", "role", "format", "bytes", "sha256", title="artifacts")
    for a in m.artifacts:
        table.add_row(
            plain(a.path),
            plain(a.role),
            plain(a.format),
            str(a.bytes),
            plain(a.sha256[:16] + "..."),
        )
    console.print(table)
    if m.parity:
        sets = sorted(
            {s for p in m.parity.values() for s in p.sets}, key=lambda s: (s != "test", s)
        )
        rows = "rows (" + " + ".join(sets) + ")" if sets else "rows"
        table = Table(
            "runtime", Column(plain(rows)), "max |diff|", "label agreement", "exact", title="parity"
        )
        for name, p in m.parity.items():
            n = " + ".join(str(p.sets[s].n_rows) if s in p.sets else "-" for s in sets)
            table.add_row(
                plain(name),
                n or str(p.n_rows),
                f"{p.max_abs_diff:g}",
                f"{p.label_agreement:.2%}",
                str(p.exact),
            )
        console.print(table)
    for name, why in m.unavailable_formats.items():
        console.print(Text.assemble("  ", plain(f"{name} unavailable:", "yellow"), " ", plain(why)))
    from skbundle.cli.readiness_commands import importance_lines

    for line in importance_lines(path):
        console.print(plain(line))
    env = m.environment
    console.print(
        plain(
            f"environment: Python {env.python} on {env.platform}; "
            + ", ".join(
                f"{k} {env.packages[k]}"
                for k in ("scikit-learn", "numpy", "scipy", "joblib", "pandas")
                if k in env.packages
            )
        )
    )


def verify(
    path: BundlePath,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Also check signature.json against this public key file."),
    ] = None,
) -> None:
    """Check every file of a bundle against the SHA-256 hashes in its manifest.

    Reads bytes only, never deserializes. With --key, the manifest's signature must also
    match that public key. Exit 0 when intact, 1 with the reasons.
    """
    from skbundle.core.integrity import verify as verify_bundle

    with errors_to_exit():
        result = verify_bundle(path)
        if key is not None:
            from skbundle.trust.signing import verify_signature

            signature = verify_signature(path, key, result.manifest)
            console.print(
                Text.assemble(
                    "  ",
                    ("ok", "green"),
                    plain(f"  signature by key {signature.key_fingerprint[:16]}..."),
                )
            )
    for artifact in result.checked:
        bad = next((p for p in result.problems if p.path == artifact.path), None)
        mark = ("FAIL", "red") if bad else ("ok", "green")
        console.print(Text.assemble("  ", mark, "  ", plain(artifact.path)))
    for problem in result.problems:
        print_error(problem.describe())
    if not result.ok:
        err_console.print(
            Text.assemble(
                plain(f"{path} failed verification", "bold red"),
                f" ({len(result.problems)} problem(s)); do not load it.",
            )
        )
        raise typer.Exit(1)
    console.print(
        Text.assemble(
            plain(f"{path} is intact:", "green"),
            f" {len(result.checked)} files match the manifest.",
        )
    )


def predict(
    path: BundlePath,
    input: Annotated[
        str,
        typer.Argument(
            help="Records to score: a .json/.jsonl/.csv/.parquet file, a directory of them, a "
            "glob pattern such as 'data/*.parquet' (quoted), inline JSON, or - for stdin.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write results here: a .json, .jsonl, .csv or .parquet file, or a directory "
            "(a name without extension, or ending in /) of Parquet parts. Default: print JSON.",
        ),
    ] = None,
    runtime: RuntimeOpt = "auto",
    trust_pickle: TrustOpt = False,
    trust_type: TrustTypesOpt = None,
    allow_version_mismatch: MismatchOpt = False,
    ignore_unknown: Annotated[
        bool,
        typer.Option(
            "--ignore-unknown", help="Drop fields that are not features instead of refusing them."
        ),
    ] = False,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", min=1, help="Records scored at a time (memory stays bounded)."
        ),
    ] = 10_000,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", min=1, help="Chunks scored at once, in threads. Default: every core."
        ),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            help="Output columns, comma-separated, from prediction, confidence, probabilities, "
            "decision, interval, warnings. Default: all that apply to the model.",
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="An input column carried through to the output, e.g. an id (repeat for several).",
        ),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="local: this process. dask: a Dask cluster (Parquet in, a directory of "
            "Parquet parts out, written atomically).",
        ),
    ] = Engine.local,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="--engine dask: local worker processes (default: cores)."
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="--engine dask: join a running cluster (tcp://HOST:8786); the bundle's "
            "files are sent to its workers, which verify them.",
        ),
    ] = None,
) -> None:
    """Predict with a bundle: one result per record (a class with its probabilities, or a
    regressor's value with its interval).

    Input of any size is scored in chunks on every core, with a progress bar; memory stays
    bounded by the chunk size. Invalid input exits 1 with every problem listed (file, record
    number, field), and nothing is written to --output. With --engine dask, INPUT is Parquet
    (a file, a glob or a directory of files) and --output a new directory of Parquet parts.
    """
    from skbundle import batch
    from skbundle.bundle import load

    if engine is Engine.dask:
        _predict_on_dask(
            path,
            input,
            output,
            workers=workers,
            scheduler=scheduler,
            runtime=runtime,
            trust_pickle=trust_pickle,
            trusted_types=trust_type or (),
            allow_version_mismatch=allow_version_mismatch,
            ignore_unknown=ignore_unknown,
            columns=_column_list(columns),
            keep=tuple(keep or ()),
        )
        return
    with errors_to_exit():
        options: dict[str, Any] = {
            "jobs": jobs,
            "chunk_size": chunk_size,
            "ignore_unknown": ignore_unknown,
            "keep": tuple(keep or ()),
        }
        if columns is not None:
            options["columns"] = _column_list(columns)
        if output is not None:
            batch.destination(output)
        sources = batch.open_inputs(input)
        bundle = load(
            path,
            runtime=runtime,
            trust_pickle=trust_pickle,
            trusted_types=trust_type or (),
            allow_version_mismatch=allow_version_mismatch,
        )
        total = batch.count_all(sources)
        show = total is not None and total > chunk_size
        with tempfile.TemporaryDirectory(prefix="skbundle-predict-") as tmp:
            target = output if output is not None else Path(tmp) / "results.json"
            with _rows_progress(total, show=show) as advance:
                summary = batch.score_files(bundle, sources, target, on_progress=advance, **options)
            if output is None:
                sys.stdout.write(json_for_terminal(target.read_text(encoding="utf-8")))
                return
    _print_summary(summary, output)


def _column_list(columns: str | None) -> tuple[str, ...] | None:
    """``--columns a,b`` as a tuple; None when not given (every column that applies)."""
    if columns is None:
        return None
    return tuple(c.strip() for c in columns.split(",") if c.strip())


def _print_summary(summary: Any, output: Path | None) -> None:
    """One line on stderr: what a batch run wrote, and what it predicted."""
    if summary.values is not None:
        low, mean, high = summary.values
        counts = f"predictions from {low:g} to {high:g}, mean {mean:g}"
    else:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(summary.by_class.items(), key=str))
    parts = f" in {summary.parts} Parquet part(s)" if summary.parts else ""
    err_console.print(
        plain(
            f"wrote {summary.rows} predictions to {output}{parts} ({counts}; "
            f"{summary.with_warnings} with warnings)"
        )
    )


@contextmanager
def _rows_progress(total: int | None, *, show: bool) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr: rows done (of the total when known) and rows/s."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not show,
        transient=True,
    ) as progress:
        task = progress.add_task("scoring", total=total, rate="-")
        start = time.perf_counter()

        def advance(done: int, total: int | None = None) -> None:
            elapsed = time.perf_counter() - start
            rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
            if total is not None:
                progress.update(task, total=total)
            progress.update(task, completed=done, rate=rate)

        yield advance

def _predict_on_dask(
    path: Path,
    input: str,
    output: Path | None,
    *,
    workers: int | None,
    scheduler: str | None,
    runtime: str,
    trusted_types: list[str] | tuple[str, ...],
    trust_pickle: bool,
    allow_version_mismatch: bool,
    ignore_unknown: bool,
    columns: tuple[str, ...] | None,
    keep: tuple[str, ...],
) -> None:
    """--engine dask: score Parquet on a Dask cluster into the directory --output."""
    from skbundle.batch import DEFAULT_COLUMNS
    from skbundle.bundle import load
    from skbundle.dask import score_files

    if output is None:
        print_error("--engine dask writes a directory of Parquet parts: give --output DIR.")
        raise typer.Exit(2)
    with errors_to_exit():
        bundle = load(
            path,
            runtime=runtime,
            trust_pickle=trust_pickle,
            trusted_types=trusted_types,
            allow_version_mismatch=allow_version_mismatch,
        )
        with _rows_progress(None, show=err_console.is_terminal) as advance:
            summary = score_files(
                bundle,
                [input],
                output,
                workers=workers,
                scheduler=scheduler,
                keep=keep,
                trust_pickle=trust_pickle,
                trusted_types=trusted_types,
                allow_version_mismatch=allow_version_mismatch,
                ignore_unknown=ignore_unknown,
                on_progress=lambda p: advance(p.done, p.total),
                columns=DEFAULT_COLUMNS if columns is None else columns,
            )
    _print_summary(summary, output)


def register(app: Any) -> None:
    app.command()(demo)
    app.command()(inspect)
    app.command()(verify)
    app.command()(predict)
