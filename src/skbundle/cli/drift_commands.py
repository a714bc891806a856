"""``skbundle drift``: data, prediction and performance drift of new data or logged traffic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

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
    plain,
    progress_bar,
)

if TYPE_CHECKING:
    from skbundle.monitor.report import DriftReport

ERROR_EXIT = 3
"""Exit code when drift could not be computed (0, 1, 2 are the verdicts ok, warn, alert)."""

_STYLE = {"ok": "green", "warn": "yellow", "alert": "bold red"}
SHOWN = 10
"""Features listed in the terminal unless --all: every drifted one, and at least this many."""


def _level(level: str) -> Text:
    return plain(level, _STYLE.get(level, ""))


def render_demo_drift(scenarios: list[tuple[str, DriftReport]]) -> None:
    """The demo's drift step: one line per scenario, with what drove its verdict."""
    console.print("\n[bold]11. Drift monitored[/] (against reference.json; no training data)")
    for label, report in scenarios:
        found = []
        if report.drifted:
            names = ", ".join(f"{f.name} PSI {f.psi:.2f}" for f in report.drifted[:3])
            found.append(f"data drift: {names}")
        if report.prediction.level != "ok":
            found.append(f"prediction drift ({report.prediction.level})")
        perf = report.performance
        if perf is not None and perf.accuracy_current is not None:
            found.append(
                f"accuracy {perf.accuracy_current:.2%} vs {perf.accuracy_reference or 0:.2%} at "
                f"save time ({perf.level})"
            )
        elif perf is not None:
            found.append(
                f"RMSE {perf.rmse_current or 0:.4g} vs {perf.rmse_reference or 0:.4g} at save "
                f"time ({perf.level})"
            )
        detail = "; ".join(found) if found else "nothing moved"
        console.print(
            Text.assemble(
                plain(f"  {label}: "),
                _level(report.verdict),
                plain(f" (exit {report.exit_code}) - {detail}"),
            )
        )


def render_drift(report: DriftReport, *, show_all: bool = False) -> None:
    # Names, classes, the source and the problems quote the bundle and the input: plain text.
    console.print(
        Text.assemble(
            plain(report.bundle, "bold"),
            plain(
                f" {report.version}: drift of {report.source} ({report.n_rows} rows analysed, "
                f"{report.n_invalid} left out as invalid)"
            ),
        )
    )
    table = Table(
        "feature",
        "level",
        "PSI",
        "noise",
        "KS",
        "KS p",
        "mean ref",
        "mean now",
        "std ref",
        "std now",
        title="Data drift, most severe first",
    )
    shown = report.features if show_all else report.features[: max(SHOWN, len(report.drifted))]
    for f in shown:
        table.add_row(
            plain(f.name),
            _level(f.level),
            f"{f.psi:.3f}",
            f"{f.noise:.3f}",
            "-" if f.ks_statistic is None else f"{f.ks_statistic:.3f}",
            "-" if f.ks_pvalue is None else f"{f.ks_pvalue:.2g}",
            *(
                "-" if v is None else f"{v:.4g}"
                for v in (f.reference_mean, f.current_mean, f.reference_std, f.current_std)
            ),
        )
    console.print(table)
    hidden = len(report.features) - len(shown)
    if hidden:
        console.print(f"  ... and {hidden} more features, all ok (--all, --json or --html: all)")
    for f in shown:
        if f.chi_square is None or f.level == "ok":
            continue
        moved = "; ".join(
            f"{c.category} {c.reference_share:.1%} -> {c.current_share:.1%}" for c in f.top_changes
        )
        console.print(
            plain(
                f"  {f.name}: chi-square {f.chi_square.statistic:.3g} (dof {f.chi_square.dof}, "
                f"p {f.chi_square.pvalue:.2g}), {f.n_unseen} unseen; moved most: {moved}"
            )
        )

    p = report.prediction
    if p.values is not None:
        v = p.values
        console.print(
            Text.assemble(
                "Prediction drift: ",
                _level(p.level),
                plain(
                    f" (predicted values: PSI {v.psi:.3f}, noise floor {v.noise:.3f}, KS "
                    f"{v.ks_statistic or 0:.3f}, mean {v.reference_mean or 0:.4g} -> "
                    f"{v.current_mean or 0:.4g})"
                ),
            )
        )
    table = Table(
        "class",
        "PSI of P(class)",
        "predicted (ref)",
        "predicted (now)",
        "change",
        title=Text.assemble("Prediction drift: ", _level(p.level), f" (noise floor {p.noise:.3f})"),
    )
    for name in p.reference_balance:
        table.add_row(
            plain(name),
            f"{p.psi[name]:.3f}" if name in p.psi else "-",
            f"{p.reference_balance[name]:.1%}",
            f"{p.current_balance[name]:.1%}",
            f"{p.balance_change[name]:+.1%}",
        )
    if p.reference_balance:
        console.print(table)

    perf = report.performance
    if perf is not None:
        rule = (
            f"RMSE grows more than {perf.max_rmse_growth or 0:.0%}"
            if perf.task == "regression"
            else f"accuracy drops more than {perf.max_accuracy_drop:.2%}"
        )
        table = Table(
            "metric",
            "test split",
            "now",
            "change",
            title=Text.assemble(
                "Performance drift: ",
                _level(perf.level),
                f" ({perf.n_labelled} labelled rows, alert when {rule})",
            ),
        )
        for key, row in perf.metrics.items():
            table.add_row(
                plain(key),
                *("-" if row[k] is None else f"{row[k]:.4f}" for k in ("reference", "current")),
                "-" if row["change"] is None else f"{row['change']:+.4f}",
            )
        console.print(table)
    for problem in report.problems:
        console.print(Text.assemble("  ", ("left out:", "yellow"), " ", plain(problem.describe())))
    for note in report.notes:
        console.print(plain(f"note: {note}", "dim"))
    drifted = ", ".join(f.name for f in report.drifted) or "none"
    console.print(
        Text.assemble(
            "verdict: ",
            _level(report.verdict),
            plain(
                f" (exit {report.exit_code}); drifted features: {drifted}; predictions: {p.level}"
                + (f"; performance: {perf.level}" if perf is not None else "")
            ),
        )
    )


def drift(
    path: BundlePath,
    new_data: Annotated[
        str | None,
        typer.Argument(
            help="New data: a .csv, .parquet, .jsonl or .json file (read in chunks).",
            show_default=False,
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels", help="Column of NEW_DATA with the true classes (a regressor: targets)."
        ),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML report.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every feature, not only the most severe.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of tables.")
    ] = False,
    from_log: Annotated[
        Path | None,
        typer.Option(
            "--from-log",
            help="Compute drift over a prediction log (skbundle serve --log-predictions).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="With --from-log: only traffic since an ISO time or an age such as 24h or 7d.",
        ),
    ] = None,
    warn: Annotated[float, typer.Option("--warn", help="PSI (above noise) that warns.")] = 0.1,
    alert: Annotated[float, typer.Option("--alert", help="PSI (above noise) that alerts.")] = 0.25,
    max_accuracy_drop: Annotated[
        float,
        typer.Option("--max-accuracy-drop", help="Accuracy drop below the test split that alerts."),
    ] = 0.05,
    max_rmse_growth: Annotated[
        float,
        typer.Option(
            "--max-rmse-growth",
            help="A regressor's relative RMSE growth above the test split that alerts.",
        ),
    ] = 0.2,
    runtime: RuntimeOpt = "auto",
    trust_pickle: TrustOpt = False,
    trust_type: TrustTypesOpt = None,
    allow_version_mismatch: MismatchOpt = False,
    ignore_unknown: Annotated[
        bool,
        typer.Option(
            "--ignore-unknown",
            help="Ignore columns that are not features (ids, timestamps) instead of refusing.",
        ),
    ] = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows read at a time.")
    ] = 100_000,
) -> None:
    """Data, prediction and performance drift against the statistics saved in the bundle.

    Exit code: 0 ok, 1 warn, 2 alert (for schedulers); 3 when drift could not be computed.
    Rows that fail validation are left out and listed, not fatal. With --from-log the model
    is not loaded (the log holds the served probabilities), so no trust option is needed.
    """
    # Everything, imports and rendering included, is inside: any failure exits ERROR_EXIT with
    # one line, never a traceback and never 1, which a scheduler would read as "warn".
    with errors_to_exit(ERROR_EXIT, unexpected=True):
        from skbundle import batch
        from skbundle.bundle import load
        from skbundle.errors import MonitoringError
        from skbundle.monitor.drift import BundleInfo, drift_log, drift_source
        from skbundle.monitor.report import Thresholds

        if (new_data is None) == (from_log is None):
            raise MonitoringError(
                "skbundle drift",
                "expected exactly one of NEW_DATA and --from-log",
                "Pass a data file, or --from-log FILE.",
            )
        if since is not None and from_log is None:
            raise MonitoringError("--since", "it only applies with --from-log")
        if labels is not None and from_log is not None:
            raise MonitoringError("--labels", "a prediction log holds no labels")
        thresholds = Thresholds(
            warn=warn,
            alert=alert,
            max_accuracy_drop=max_accuracy_drop,
            max_rmse_growth=max_rmse_growth,
        )
        source = batch.open_source(new_data) if new_data is not None else None
        # A log holds the served probabilities: no model to load, no pickle to trust.
        bundle: Any = (
            load(
                path,
                runtime=runtime,
                trust_pickle=trust_pickle,
                trusted_types=trust_type or (),
                allow_version_mismatch=allow_version_mismatch,
            )
            if source is not None
            else BundleInfo.open(path)
        )
        total = batch.count_records(source) if source is not None else None
        show = not as_json and err_console.is_terminal
        with progress_bar("reading", total, show=show) as advance:
            report: Any
            if source is not None:
                report = drift_source(
                    bundle,
                    source,
                    labels=labels,
                    thresholds=thresholds,
                    chunk_size=chunk_size,
                    ignore_unknown=ignore_unknown,
                    on_progress=advance,
                )
            else:
                report = drift_log(
                    bundle,
                    from_log,
                    since=since,
                    thresholds=thresholds,
                    chunk_size=chunk_size,
                    on_progress=advance,
                )
        if html is not None:
            from skbundle.report.drift_page import write_html

            write_html(report, html)
        if as_json:
            import orjson

            text = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode()
            sys.stdout.write(json_for_terminal(text) + "\n")
        else:
            render_drift(report, show_all=show_all)
            if html is not None:
                console.print(plain(f"HTML report: {html}"))
        code = report.exit_code
    raise typer.Exit(code)


class _DriftCommand(TyperCommand):
    """Usage errors exit 3 here, not click's 2: for a scheduler, 2 means "alert"."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            if getattr(exc, "exit_code", None) == 2:
                exc.exit_code = ERROR_EXIT  # type: ignore[attr-defined]
            raise


def register(app: Any) -> None:
    app.command(cls=_DriftCommand)(drift)
