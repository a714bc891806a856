"""``report.html``: one self-contained page (inline CSS, images embedded as data URIs)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from skbundle.core.manifest import Manifest
from skbundle.core.metrics import SCALAR_METRICS
from skbundle.report import plots
from skbundle.report.checklist import Checklist

_METRICS = SCALAR_METRICS

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d1d1f;background:#fff;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #e5e5ea;padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #d2d2d7;
padding:.3rem .6rem;text-align:left;font-size:.9rem}th{background:#f5f5f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1rem}img{max-width:100%;
border:1px solid #e5e5ea}.muted{color:#6e6e73}
.pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}
.warn{color:#9a6700;font-weight:600}.not-measured{color:#6e6e73;font-weight:600}
.verdict{font-size:1.2rem;padding:.5rem 1rem;border-radius:6px;display:inline-block}
.ready{background:#dafbe1}.not-ready{background:#ffebe9}
"""

SINGLE_ROW_COLUMNS = (
    "runtime",
    "load (ms)",
    "RSS added (MiB)",
    "p50 (ms)",
    "p90 (ms)",
    "p99 (ms)",
    "max (ms)",
    "size (KiB)",
)
"""The single-row benchmark table's headings, the same in the terminal and the report."""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _benchmark(bench: dict[str, Any] | None) -> str:
    if not bench:
        return '<p class="muted">Not measured: run <code>skbundle bench PATH</code>.</p>'
    rows = []
    for name, r in bench.get("runtimes", {}).items():
        s = r["single"]
        rss = r.get("rss_added_mb")
        rows.append(
            [
                name,
                f"{r['load_ms']:.1f}",
                f"{rss:.1f}" if isinstance(rss, (int, float)) else "-",
                f"{s['p50_ms']:.3f}",
                f"{s['p90_ms']:.3f}",
                f"{s['p99_ms']:.3f}",
                f"{s['max_ms']:.3f}",
                f"{r['artifact_bytes'] / 1024:.1f}",
            ]
        )
    single = _table(
        list(SINGLE_ROW_COLUMNS),
        rows,
        numeric=set(range(1, 8)),
    )
    batch_rows = [
        [name, str(b["size"]), f"{b['latency_ms']:.2f}", f"{b['rows_per_s']:,.0f}"]
        for name, r in bench.get("runtimes", {}).items()
        for b in r["batches"]
    ]
    batches = _table(["runtime", "batch size", "latency (ms)", "rows/s"], batch_rows, {1, 2, 3})
    machine = bench.get("machine", {})
    return (
        f'<p class="muted">Measured {escape(str(bench.get("measured_at")))}, '
        f"{bench.get('n')} single-row calls, on {escape(str(machine.get('platform')))} "
        f"({machine.get('cpus')} CPUs), Python {escape(str(machine.get('python')))}.</p>"
        f"{single}{batches}"
    )


def _persistence(rows: list[dict[str, Any]] | None) -> str:
    if not rows:
        return (
            '<p class="muted">Not measured: run <code>skbundle bench PATH --trust-pickle</code> '
            "(it needs the fitted pipeline) or <code>skbundle demo</code>.</p>"
        )
    return _table(
        ["method", "files", "size (KiB)", "save (ms)", "load (ms)"],
        [
            [
                r["method"],
                str(r["files"]),
                f"{r['bytes'] / 1024:.1f}",
                f"{r['save_ms']:.1f}",
                f"{r['load_ms']:.1f}",
            ]
            for r in rows
        ],
        numeric={1, 2, 3, 4},
    )


def _checklist(checklist: Checklist | None) -> str:
    if checklist is None:
        return '<p class="muted">Not computed: run <code>skbundle check PATH</code>.</p>'
    ok = checklist.ok()
    verdict = (
        f'<p class="verdict {"ready" if ok else "not-ready"}">'
        f"{'Ready to deploy' if ok else 'Not ready to deploy'} "
        f'<span class="muted">(computed {escape(checklist.computed_at)})</span></p>'
    )
    rows = "".join(
        f"<tr><td>{escape(i.group)}</td><td>{escape(i.title)}"
        f"{'' if i.required else ' <span class=muted>(advisory)</span>'}</td>"
        f'<td class="{i.status.replace(" ", "-")}">{escape(i.status)}</td>'
        f"<td>{escape(i.evidence)}</td></tr>"
        for i in checklist.items
    )
    return (
        f"{verdict}<table><thead><tr><th>group</th><th>item</th><th>status</th>"
        f"<th>evidence</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def render(
    manifest: Manifest,
    data: dict[str, Any],
    checklist: Checklist | None,
    *,
    importance_png: bytes | None = None,
) -> str:
    """The report page for a bundle, from its manifest and ``readiness.json``."""
    m = manifest
    test = m.metrics.get("test", {})
    dataset = data.get("dataset", {})
    metric_rows = [[k, f"{test[k]:.4f}"] for k in _METRICS if k in test]
    per_class = [
        [
            name,
            f"{v['precision']:.4f}",
            f"{v['recall']:.4f}",
            f"{v['f1']:.4f}",
            str(v["support"]),
        ]
        for name, v in ((c, test.get("per_class", {}).get(c)) for c in m.classes)
        if v is not None
    ]
    figures = []
    if "confusion_matrix" in test:
        figures.append(_img(plots.confusion_png(test["confusion_matrix"], m.classes), "confusion"))
    if data.get("roc"):
        figures.append(_img(plots.roc_png(data["roc"]), "ROC curve"))
    if data.get("calibration"):
        figures.append(_img(plots.calibration_png(data["calibration"]), "calibration curve"))
    importance = data.get("importance")
    importance_html = '<p class="muted">No feature importance recorded.</p>'
    if importance:
        png = importance_png or plots.feature_importance_png(importance)
        importance_html = (
            f"<p>Method: {escape(importance['method'])}.</p>{_img(png, 'feature importance')}"
        )
    overview = _table(
        ["", "rows", *m.classes],
        [
            [
                "train",
                str(dataset.get("n_train", m.dataset.n_rows)),
                *[str(dataset.get("class_counts_train", {}).get(c, "-")) for c in m.classes],
            ],
            [
                "test",
                str(dataset.get("n_test", test.get("n_rows", "-"))),
                *[str(dataset.get("class_counts_test", {}).get(c, "-")) for c in m.classes],
            ],
        ],
        numeric={1, *range(2, 2 + len(m.classes))},
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(m.name)} {escape(m.version)}: skbundle report</title>
<style>{_CSS}</style></head><body>
<h1>{escape(m.name)} <span class="muted">{escape(m.version)}</span></h1>
<p>{escape(m.description) or '<span class="muted">No description.</span>'}</p>
<p class="muted">Built {escape(m.created_at)} with Python {escape(m.environment.python)};
pipeline: {escape(" -> ".join(m.pipeline))}</p>
<h2>Dataset overview</h2>
<p>{m.dataset.n_features} features; training data SHA-256 {escape(m.dataset.sha256[:16])}...</p>
{overview}
<h2>Metrics (held-out test split)</h2>
{_table(["metric", "value"], metric_rows, {1})}
{_table(["class", "precision", "recall", "f1", "support"], per_class, {1, 2, 3, 4})}
<h2>Plots</h2>
<div class="grid">{"".join(figures)}</div>
<h2>Feature importance (top 15)</h2>
{importance_html}
<h2>Persistence comparison</h2>
{_persistence(data.get("persistence"))}
<h2>Benchmark</h2>
{_benchmark(m.benchmarks)}
<h2>Deployment checklist</h2>
{_checklist(checklist)}
</body></html>
"""
