"""The report's figures, drawn with matplotlib's Agg backend into PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no global state, no
GUI backend, safe in a server thread. Every figure has a fixed pixel size (``SIZE`` at
``DPI``) so that a test can check it.
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


def _figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
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


def roc_png(roc: dict[str, Any]) -> bytes:
    """ROC curve of each class shown (the positive class of a binary task)."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in roc.items():
        ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve (test split)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _png(fig)


def calibration_png(calibration: dict[str, Any]) -> bytes:
    """Mean predicted probability against observed frequency, in ten bins."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, curve in calibration.items():
        ax.plot(curve["prob_pred"], curve["prob_true"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title("Calibration curve (test split)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return _png(fig)
