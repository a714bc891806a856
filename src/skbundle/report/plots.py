"""Every figure skbundle draws, with matplotlib's Agg backend into PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no global state, no
GUI backend, safe in a server thread. The report's figures have a fixed pixel size (``SIZE``
at ``DPI``) so that a test can check it; the drift page's bar charts (:func:`shares_png`) are
smaller and cropped to their content.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

DPI = 100
TOP_FEATURES = 15
"""How many features the importance plot shows."""
SIZE = (8.0, 6.0)
"""Inches; at ``DPI`` every figure is 800 x 600 pixels."""


SHARES_SIZE = (7.0, 2.8)
SHARES_DPI = 80
"""The drift page's bar charts: inches and dots per inch (before cropping to the content)."""


def _figure(size: tuple[float, float] = SIZE, dpi: int = DPI) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any, *, crop: bool = False) -> bytes:
    """The one way a figure becomes PNG bytes (no timestamp or version in the metadata)."""
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format="png",
        dpi=fig.dpi,
        metadata={"Software": None},
        bbox_inches="tight" if crop else None,
    )
    return buffer.getvalue()


def feature_importance_png(importance: dict[str, Any], *, top: int = TOP_FEATURES) -> bytes:
    """The top features as horizontal bars, the most important at the top (as the seed draws it)."""
    features = importance["features"][:top]
    names = [name for name, _ in features][::-1]
    values = [value for _, value in features][::-1]
    fig = _figure()
    ax = fig.add_subplot()
    ax.barh(range(len(names)), values, color="#4c72b0")
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.set_xlabel(f"importance ({importance['method'].split(' (')[0]})")
    ax.set_title(f"Top {len(names)} features")
    fig.tight_layout()
    return _png(fig)


def confusion_png(matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> bytes:
    """The test split's confusion matrix, counts written in each cell."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            color = "white" if peak and count > peak / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=12)
    ax.set_xticks(range(len(classes)), labels=classes)
    ax.set_yticks(range(len(classes)), labels=classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Confusion matrix (test split)")
    fig.tight_layout()
    return _png(fig)


def _text(value: object) -> str:
    """Bundle text as matplotlib shows it literally: a ``$`` would start mathtext."""
    return str(value).replace("$", r"\$")


def _about(positive: str | None) -> str:
    return f"positive class: {_text(positive)}, " if positive is not None else ""


def roc_png(roc: dict[str, Any], *, positive: str | None = None) -> bytes:
    """ROC curve of each class shown (the positive class of a binary task, named in the
    title and on the axes)."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in roc.items():
        ax.plot(curve["fpr"], curve["tpr"], label=f"{_text(name)} (AUC {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    if positive is not None:
        ax.set_xlabel("false positive rate (1 - specificity)")
        ax.set_ylabel(f"true positive rate (sensitivity: {_text(positive)} cases found)")
    else:
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curve ({_about(positive)}test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _png(fig)


def pr_png(pr: dict[str, Any], *, positive: str | None = None) -> bytes:
    """Precision against recall of each class shown, with the chance level (its prevalence):
    for a rare positive class this shows what the ROC curve hides, the cost of false alarms."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in pr.items():
        label = f"{_text(name)} (AP {curve['ap']:.3f})"
        line = ax.plot(curve["recall"], curve["precision"], label=label)
        ax.axhline(
            curve["prevalence"],
            linestyle=":",
            color=line[0].get_color(),
            alpha=0.6,
            label=f"chance for {_text(name)} (its share, {curve['prevalence']:.2f})",
        )
    ax.set_xlabel("recall (sensitivity)" if positive is not None else "recall")
    ax.set_ylabel("precision (positive predictive value)" if positive is not None else "precision")
    ax.set_ylim(0.0, 1.02)
    ax.set_title(f"Precision-recall curve ({_about(positive)}test split)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return _png(fig)


def calibration_png(calibration: dict[str, Any], *, positive: str | None = None) -> bytes:
    """Mean predicted probability against observed frequency, in ten bins."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in calibration.items():
        ax.plot(curve["prob_pred"], curve["prob_true"], marker="o", label=_text(name))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    if positive is not None:
        ax.set_xlabel(f"mean predicted probability of {_text(positive)}")
        ax.set_ylabel(f"observed share of {_text(positive)}")
    else:
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed frequency")
    ax.set_title(f"Calibration curve ({_about(positive)}test split)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _png(fig)


def predicted_vs_actual_png(residuals: dict[str, Any]) -> bytes:
    """A regressor's prediction against the true value on the test split, with the line
    y = x where every point of a perfect model would lie."""
    actual, predicted = residuals["actual"], residuals["predicted"]
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=14, alpha=0.7, color="#4c72b0", label="test rows")
    values = [*actual, *predicted]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", label="predicted = actual")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"Predicted vs actual (test split, {len(actual)} rows)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _png(fig)


def residuals_png(residuals: dict[str, Any]) -> bytes:
    """Residuals (actual - predicted) against the prediction on the test split: a trend or a
    funnel shape shows where the model is biased or its errors grow."""
    actual, predicted = residuals["actual"], residuals["predicted"]
    errors = [a - p for a, p in zip(actual, predicted, strict=True)]
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(predicted, errors, s=14, alpha=0.7, color="#4c72b0")
    ax.axhline(0.0, linestyle="--", color="grey")
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (actual - predicted)")
    ax.set_title(f"Residuals vs predicted (test split, {len(actual)} rows)")
    fig.tight_layout()
    return _png(fig)


def shares_png(
    title: str, labels: Sequence[str], reference: Sequence[float], current: Sequence[float]
) -> bytes:
    """Reference and current share of rows per bin, side by side (the drift page's charts)."""
    fig = _figure(SHARES_SIZE, SHARES_DPI)
    ax = fig.add_subplot()
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], reference, width=0.4, label="reference", color="#8c959f")
    ax.bar([p + 0.2 for p in positions], current, width=0.4, label="current", color="#cf222e")
    ax.set_xticks(list(positions), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig, crop=True)
