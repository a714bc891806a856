"""``report.html``: one self-contained page (inline CSS, images embedded as data URIs).

This module turns the manifest and ``readiness.json`` into rows of text;
``templates/report.html.j2`` lays them out, escaping every value.
"""

from __future__ import annotations

from typing import Any

from skbundle.core.manifest import Manifest
from skbundle.core.metrics import SCALAR_METRICS
from skbundle.report import plots, templates
from skbundle.report.checklist import Checklist

_METRICS = SCALAR_METRICS

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


def _benchmark(bench: dict[str, Any] | None) -> dict[str, Any] | None:
    if not bench:
        return None
    single = []
    for name, r in bench.get("runtimes", {}).items():
        s = r["single"]
        rss = r.get("rss_added_mb")
        single.append(
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
    batches = [
        [name, str(b["size"]), f"{b['latency_ms']:.2f}", f"{b['rows_per_s']:,.0f}"]
        for name, r in bench.get("runtimes", {}).items()
        for b in r["batches"]
    ]
    machine = bench.get("machine", {})
    return {
        "measured_at": bench.get("measured_at"),
        "n": bench.get("n"),
        "platform": machine.get("platform"),
        "cpus": machine.get("cpus"),
        "python": machine.get("python"),
        "single": single,
        "batches": batches,
    }


def _persistence(rows: list[dict[str, Any]] | None) -> list[list[str]]:
    return [
        [
            r["method"],
            str(r["files"]),
            f"{r['bytes'] / 1024:.1f}",
            f"{r['save_ms']:.1f}",
            f"{r['load_ms']:.1f}",
        ]
        for r in rows or []
    ]


def _overview(m: Manifest, dataset: dict[str, Any], test: dict[str, Any]) -> tuple[Any, ...]:
    """Header, rows and numeric columns of the train/test table, for the ``table`` macro."""

    def counts(split: str) -> list[str]:
        return [str(dataset.get(f"class_counts_{split}", {}).get(c, "-")) for c in m.classes]

    rows = [
        ["train", str(dataset.get("n_train", m.dataset.n_rows)), *counts("train")],
        ["test", str(dataset.get("n_test", test.get("n_rows", "-"))), *counts("test")],
    ]
    return ["", "rows", *m.classes], rows, [1, *range(2, 2 + len(m.classes))]


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
        figures.append((plots.confusion_png(test["confusion_matrix"], m.classes), "confusion"))
    if data.get("roc"):
        figures.append((plots.roc_png(data["roc"]), "ROC curve"))
    if data.get("calibration"):
        figures.append((plots.calibration_png(data["calibration"]), "calibration curve"))
    importance = data.get("importance")
    if importance:
        importance = {
            "method": importance["method"],
            "png": importance_png or plots.feature_importance_png(importance),
        }
    return templates.render(
        "report.html.j2",
        m=m,
        overview=_overview(m, data.get("dataset", {}), test),
        metric_rows=[[k, f"{test[k]:.4f}"] for k in _METRICS if k in test],
        per_class=per_class,
        figures=figures,
        importance=importance,
        persistence=_persistence(data.get("persistence")),
        bench=_benchmark(m.benchmarks),
        single_row_columns=SINGLE_ROW_COLUMNS,
        checklist=checklist,
    )
