"""The drift report as one self-contained HTML page (plots embedded as base64 PNG).

For each drifted feature, the reference and current share of each reference bin side by side;
for the predictions, each class's probability histogram. Nothing is fetched when the page is
opened: no scripts, no fonts, no external images.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skbundle.core import atomic
from skbundle.monitor.report import DriftReport, FeatureDrift

_COLORS = {"ok": "#1a7f37", "warn": "#9a6700", "alert": "#cf222e"}
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1f2328}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;
text-align:right}th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
.level{font-weight:bold}.note{color:#57606a;font-size:.9rem}figure{margin:1rem 0}
"""


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _bin_labels(edges: Sequence[float], with_missing: bool) -> list[str]:
    if not edges:
        labels = ["all"]
    else:
        labels = [f"≤{edges[0]:.3g}"]
        labels += [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(edges)]
        labels.append(f">{edges[-1]:.3g}")
    return [*labels, "missing"] if with_missing else labels


def _bars(
    title: str, labels: list[str], reference: Sequence[float], current: Sequence[float]
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], reference, width=0.4, label="reference", color="#8c959f")
    ax.bar([p + 0.2 for p in positions], current, width=0.4, label="current", color="#cf222e")
    ax.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    try:
        return _png(fig)
    finally:
        plt.close(fig)


def _feature_plot(f: FeatureDrift) -> str:
    with_missing = f.reference_share[-1] > 0 or f.current_share[-1] > 0
    n = len(f.reference_share) - (0 if with_missing else 1)
    title = f"{f.name}: PSI {f.psi:.3f} (noise floor {f.noise:.3f}), {f.level}"
    return _bars(
        title,
        _bin_labels(f.edges, with_missing),
        f.reference_share[:n],
        f.current_share[:n],
    )


def _level(level: str) -> str:
    return f'<span class="level" style="color:{_COLORS[level]}">{level}</span>'


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def render(report: DriftReport) -> str:
    """The whole page as a string."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Drift: {e(report.bundle)} {e(report.version)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Drift report: {e(report.bundle)} {e(report.version)}</h1>",
        f"<p>Verdict: {_level(report.verdict)} (exit code {report.exit_code}). "
        f"Source: {e(report.source)}; {report.n_rows} rows analysed, "
        f"{report.n_invalid} rows failed validation.</p>",
    ]
    drifted = report.drifted
    parts.append(f"<h2>Data drift ({len(drifted)} of {len(report.features)} features)</h2>")
    parts.append(
        "<table><tr><th>feature</th><th>level</th><th>PSI</th><th>noise floor</th>"
        "<th>KS</th><th>KS p-value</th><th>mean ref</th><th>mean now</th>"
        "<th>std ref</th><th>std now</th><th>missing</th></tr>"
    )
    for f in report.features:
        parts.append(
            f"<tr><td>{e(f.name)}</td><td>{_level(f.level)}</td><td>{f.psi:.3f}</td>"
            f"<td>{f.noise:.3f}</td><td>{f.ks_statistic:.3f}</td><td>{f.ks_pvalue:.2g}</td>"
            f"<td>{_fmt(f.reference_mean, '.4g')}</td><td>{_fmt(f.current_mean, '.4g')}</td>"
            f"<td>{_fmt(f.reference_std, '.4g')}</td><td>{_fmt(f.current_std, '.4g')}</td>"
            f"<td>{f.n_missing}</td></tr>"
        )
    parts.append("</table>")
    for f in drifted:
        parts.append(
            f"<figure><img alt='reference vs current histogram of {e(f.name)}' "
            f"src='data:image/png;base64,{_feature_plot(f)}'></figure>"
        )
    if not drifted:
        parts.append("<p>No feature drifted beyond its noise floor.</p>")

    p = report.prediction
    parts.append(f"<h2>Prediction drift: {_level(p.level)}</h2><table>")
    parts.append(
        "<tr><th>class</th><th>PSI of P(class)</th><th>predicted share (reference)</th>"
        "<th>predicted share (now)</th><th>change</th></tr>"
    )
    for name in p.psi:
        parts.append(
            f"<tr><td>{e(name)}</td><td>{p.psi[name]:.3f}</td>"
            f"<td>{p.reference_balance[name]:.1%}</td><td>{p.current_balance[name]:.1%}</td>"
            f"<td>{p.balance_change[name]:+.1%}</td></tr>"
        )
    parts.append(
        f"</table><p class='note'>Noise floor: {p.noise:.3f} (probabilities), "
        f"{p.balance_noise:.3f} (class balance PSI {p.balance_psi:.3f}).</p>"
    )
    labels = _bin_labels(p.edges, False)
    for name in p.psi:
        png = _bars(
            f"P({name}): PSI {p.psi[name]:.3f}",
            labels,
            p.reference_share[name],
            p.current_share[name],
        )
        parts.append(
            f"<figure><img alt='predicted probability of {e(name)}' "
            f"src='data:image/png;base64,{png}'></figure>"
        )

    perf = report.performance
    if perf is None:
        parts.append("<h2>Performance drift</h2><p>No labels given.</p>")
    else:
        parts.append(f"<h2>Performance drift: {_level(perf.level)}</h2>")
        parts.append(
            f"<p>Accuracy {perf.accuracy_current:.2%} on {perf.n_labelled} labelled rows, "
            f"{perf.accuracy_reference:.2%} on the bundle's test split: a drop of "
            f"{perf.accuracy_drop:+.2%} (alert above {perf.max_accuracy_drop:.2%}).</p><table>"
            "<tr><th>metric</th><th>test split</th><th>now</th><th>change</th></tr>"
        )
        for key, row in perf.metrics.items():
            parts.append(
                f"<tr><td>{e(key)}</td><td>{_fmt(row['reference'], '.4f')}</td>"
                f"<td>{_fmt(row['current'], '.4f')}</td><td>{_fmt(row['change'], '+.4f')}</td></tr>"
            )
        parts.append("</table>")
    if report.problems:
        parts.append("<h2>Rows left out</h2><ul>")
        parts.extend(f"<li>{e(problem.describe())}</li>" for problem in report.problems)
        parts.append("</ul>")
    parts.append("<h2>How to read this</h2><ul>")
    parts.extend(f"<li class='note'>{e(note)}</li>" for note in report.notes)
    parts.append("</ul></body></html>")
    return "\n".join(parts)


def write_html(report: DriftReport, path: str | os.PathLike[str]) -> Path:
    """Write the page to ``path`` atomically (a temporary sibling, then a rename)."""
    target = Path(path)
    with atomic.write_file(target) as fh:
        fh.write(render(report).encode("utf-8"))
    return target
