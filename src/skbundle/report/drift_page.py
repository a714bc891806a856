"""The drift report as one self-contained HTML page (plots embedded as base64 PNG).

For each drifted feature, the reference and current share of each reference bin side by side;
for the predictions, each class's probability histogram. Nothing is fetched when the page is
opened: no scripts, no fonts, no external images. ``templates/drift.html.j2`` lays it out.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from skbundle.core import atomic
from skbundle.monitor.report import DriftReport, FeatureDrift
from skbundle.report import plots, templates


def _bin_labels(edges: Sequence[float], with_missing: bool) -> list[str]:
    if not edges:
        labels = ["all"]
    else:
        labels = [f"≤{edges[0]:.3g}"]
        labels += [f"{a:.3g}–{b:.3g}" for a, b in itertools.pairwise(edges)]
        labels.append(f">{edges[-1]:.3g}")
    return [*labels, "missing"] if with_missing else labels


def _feature_plot(f: FeatureDrift) -> bytes:
    with_missing = f.reference_share[-1] > 0 or f.current_share[-1] > 0
    n = len(f.reference_share) - (0 if with_missing else 1)
    title = f"{f.name}: PSI {f.psi:.3f} (noise floor {f.noise:.3f}), {f.level}"
    # A categorical feature's bins are its categories (then unseen), not value ranges.
    labels = _bin_labels(f.edges, with_missing) if f.labels is None else [*f.labels, "missing"]
    return plots.shares_png(
        title,
        labels[:n],
        f.reference_share[:n],
        f.current_share[:n],
    )


def render(report: DriftReport) -> str:
    """The whole page as a string."""
    p = report.prediction
    labels = _bin_labels(p.edges, False)
    class_plots = [
        (
            name,
            plots.shares_png(
                f"P({name}): PSI {p.psi[name]:.3f}",
                labels,
                p.reference_share[name],
                p.current_share[name],
            ),
        )
        for name in p.psi
    ]
    if p.values is not None:  # a regressor: the predicted values' histogram
        class_plots.append(("predicted value", _feature_plot(p.values)))
    return templates.render(
        "drift.html.j2",
        r=report,
        drifted=[(f, _feature_plot(f)) for f in report.drifted],
        class_plots=class_plots,
    )


def write_html(report: DriftReport, path: str | os.PathLike[str]) -> Path:
    """Write the page to ``path`` atomically (a temporary sibling, then a rename)."""
    target = Path(path)
    with atomic.write_file(target) as fh:
        fh.write(render(report).encode("utf-8"))
    return target
