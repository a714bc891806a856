"""``report.html``: one self-contained page (inline CSS, images embedded as data URIs).

This module turns the manifest and ``readiness.json`` into rows of text;
``templates/report.html.j2`` lays them out, escaping every value.
"""

from __future__ import annotations

from typing import Any

from skbundle.core.manifest import Manifest
from skbundle.core.metrics import REGRESSION_METRICS, SCALAR_METRICS
from skbundle.report import plots, templates
from skbundle.report.checklist import Checklist
from skbundle.report.model_card import (
    NO_PROBABILITIES,
    NOT_A_SUBSTITUTE,
    category_preview,
    interval_lines,
    output_text,
    positive_lines,
    unseen_text,
)

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
    n_train = str(dataset.get("n_train", m.dataset.n_rows))
    n_test = str(dataset.get("n_test", test.get("n_rows", "-")))
    if m.task == "regression":
        keys = ("mean", "std", "min", "max")

        def target(split: str) -> list[str]:
            summary = dataset.get(f"target_{split}")
            if not isinstance(summary, dict):
                return ["-"] * len(keys)
            return [templates.fmt(summary.get(k), ".4g") for k in keys]

        rows = [["train", n_train, *target("train")], ["test", n_test, *target("test")]]
        return ["", "rows", *(f"target {k}" for k in keys)], rows, [1, 2, 3, 4, 5]

    def counts(split: str) -> list[str]:
        return [str(dataset.get(f"class_counts_{split}", {}).get(c, "-")) for c in m.classes]

    rows = [["train", n_train, *counts("train")], ["test", n_test, *counts("test")]]
    return ["", "rows", *m.classes], rows, [1, *range(2, 2 + len(m.classes))]


def _metrics(m: Manifest) -> tuple[Any, ...]:
    """Header, rows and numeric columns of the metrics table."""
    test = m.metrics.get("test", {})
    if m.task != "regression":
        return (
            ["metric", "value"],
            [[k, f"{test[k]:.4f}"] for k in SCALAR_METRICS if k in test],
            [1],
        )
    train = m.metrics.get("train", {})

    def cell(split: dict[str, Any], key: str) -> str:
        value = split.get(key)
        return templates.fmt(value, ".4f") if isinstance(value, (int, float)) else "-"

    rows = [[k, cell(test, k), cell(train, k)] for k in REGRESSION_METRICS if k in test]
    return ["metric", "test", "train"], rows, [1, 2]


def schema_header(m: Manifest) -> list[str]:
    """The input schema table's headings; description and unit only when some feature has
    them."""
    described = ["description", "unit"] if _described(m) else []
    return ["feature", *described, "kind", "values seen in training", "missing", "unseen category"]


def _described(m: Manifest) -> bool:
    return any(f.description or f.unit for f in m.features)


def _schema(m: Manifest) -> list[list[str]]:
    """One row per feature: name, (description, unit,) kind, what it takes, missing values,
    unseen categories."""
    described = _described(m)

    def takes(f: Any) -> str:
        if f.kind != "numeric":
            return category_preview(f)
        if f.min is None or f.max is None:
            return "numbers"
        return f"{f.min:.4g} .. {f.max:.4g} (mean {templates.fmt(f.mean, '.4g')})"

    return [
        [
            f.name,
            *([f.description or "-", f.unit or "-"] if described else []),
            f.kind if f.kind == "numeric" else f"{f.kind} ({len(f.categories or [])})",
            takes(f),
            "accepted" if f.missing_allowed else "refused",
            "-" if f.kind == "numeric" else unseen_text(f),
        ]
        for f in m.features
    ]


def _figures(
    m: Manifest, data: dict[str, Any], test: dict[str, Any]
) -> list[tuple[bytes, str, str]]:
    """Each figure's PNG, alt text and caption (the alt text as a sentence)."""
    captions = {"confusion": "Confusion matrix: rows the actual class, columns the predicted."}
    return [
        (png, alt, captions.get(alt, f"{alt[:1].upper()}{alt[1:]}."))
        for png, alt in _plots(m, data, test)
    ]


def _plots(m: Manifest, data: dict[str, Any], test: dict[str, Any]) -> list[tuple[bytes, str]]:
    figures = []
    residuals = data.get("residuals")
    if m.task == "regression" and isinstance(residuals, dict) and residuals.get("actual"):
        figures.append((plots.predicted_vs_actual_png(residuals), "predicted vs actual"))
        figures.append((plots.residuals_png(residuals), "residuals vs predicted"))
    if "confusion_matrix" in test:
        figures.append((plots.confusion_png(test["confusion_matrix"], m.classes), "confusion"))
    about = _curves_about(m)
    if data.get("roc"):
        figures.append((plots.roc_png(data["roc"], positive=about), f"ROC curve{_for(about)}"))
    if data.get("pr"):
        figures.append(
            (plots.pr_png(data["pr"], positive=about), f"precision-recall curve{_for(about)}")
        )
    if data.get("calibration"):
        figures.append(
            (
                plots.calibration_png(data["calibration"], positive=about),
                f"calibration curve{_for(about)}",
            )
        )
    return figures


def _for(positive: str | None) -> str:
    return f" for {positive} (the positive class)" if positive is not None else ""


def _curves_about(m: Manifest) -> str | None:
    """The class a binary classifier's curves are about (None for any other model)."""
    if m.task != "classification" or len(m.classes) != 2:
        return None
    return m.positive_class if m.positive_class is not None else m.classes[1]


def render(
    manifest: Manifest,
    data: dict[str, Any],
    checklist: Checklist | None,
    *,
    importance_png: bytes | None = None,
) -> str:
    """The report page for a bundle (a classifier, with or without probabilities, or a
    regressor), from its manifest and ``readiness.json``."""
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
    importance = data.get("importance")
    if importance:
        importance = {
            "method": importance["method"],
            "png": importance_png or plots.feature_importance_png(importance),
        }
    return templates.render(
        "report.html.j2",
        m=m,
        gives=output_text(m),
        overview=_overview(m, data.get("dataset", {}), test),
        metrics=_metrics(m),
        notes=[NO_PROBABILITIES] if m.output == "labels" else [],
        interval=interval_lines(m) if m.task == "regression" else None,
        per_class=per_class,
        schema=_schema(m),
        schema_header=schema_header(m),
        positive=positive_lines(m),
        figures=_figures(m, data, test),
        importance=importance,
        persistence=_persistence(data.get("persistence")),
        bench=_benchmark(m.benchmarks),
        single_row_columns=SINGLE_ROW_COLUMNS,
        checklist=checklist,
        not_a_substitute=NOT_A_SUBSTITUTE,
    )
