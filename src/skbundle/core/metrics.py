"""Metrics, computed the same way at save time and when checking for drift.

Both take the runtime output (:mod:`skbundle.core.runtime`): probabilities, labels (class index
in column 0) or values (column 0), so that the metrics describe exactly what
``Bundle.predict`` returns.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

SCALAR_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "log_loss",
)
"""The single-number metrics of a classifier, in the order every table shows them."""
REGRESSION_METRICS = ("r2", "mae", "rmse", "median_ae", "max_error")
"""The single-number metrics of a regressor, in the order every table shows them."""


def classification_metrics(
    y_true: Sequence[Any] | np.ndarray,
    proba: np.ndarray,
    class_values: Sequence[Any],
    class_names: Sequence[str],
    output: str = "probabilities",
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, ROC AUC, log loss, confusion matrix, per class.

    Labels are those the bundle itself predicts (highest probability, or the label of a
    classifier without probabilities, which has no ROC AUC and no log loss).
    """
    from sklearn import metrics as skm  # the build extra: a server never calls this

    values = list(class_values)
    index = {v: i for i, v in enumerate(values)}
    # Work on class indices: labels may be ints, strings or a mix that sklearn cannot type.
    y = np.array([index[v] for v in np.asarray(y_true).tolist()], dtype=np.int64)
    y_pred = proba[:, 0].astype(np.int64) if output == "labels" else proba.argmax(axis=1)
    labels = list(range(len(values)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, y_pred, labels=labels, zero_division=0
    )
    present = set(y.tolist())
    result: dict[str, Any] = {
        "n_rows": len(y),
        "accuracy": float(skm.accuracy_score(y, y_pred)),
        "balanced_accuracy": float(np.mean([recall[i] for i in sorted(present)]))
        if present
        else 0.0,
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
        "confusion_matrix": skm.confusion_matrix(y, y_pred, labels=labels).tolist(),
        "per_class": {
            str(name): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
    }
    if output == "probabilities" and len(present) == len(values) and len(values) >= 2:
        with warnings.catch_warnings():
            # XGBoost's probabilities are float32: their rows sum to one within float32
            # rounding, not within the float64 tolerance log_loss checks
            warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
            result["log_loss"] = float(skm.log_loss(y, proba, labels=labels))
        if len(values) == 2:
            result["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        else:
            result["roc_auc"] = float(
                skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
            )
    return result


def regression_metrics(y_true: Sequence[Any] | np.ndarray, output: np.ndarray) -> dict[str, Any]:
    """R², MAE, RMSE, median and largest absolute error of a regressor's predictions."""
    from sklearn import metrics as skm  # the build extra: a server never calls this

    y = np.asarray(y_true, dtype=np.float64)
    pred = output[:, 0]
    error = np.abs(y - pred)
    return {
        "n_rows": len(y),
        "r2": float(skm.r2_score(y, pred)) if len(y) >= 2 else float("nan"),
        "mae": float(error.mean()),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "median_ae": float(np.median(error)),
        "max_error": float(error.max()),
    }
