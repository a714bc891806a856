"""Classification metrics, computed the same way at save time and when checking for drift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

SCALAR_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "roc_auc",
    "log_loss",
)
"""The single-number metrics, in the order every table shows them."""


def classification_metrics(
    y_true: Sequence[Any] | np.ndarray,
    proba: np.ndarray,
    class_values: Sequence[Any],
    class_names: Sequence[str],
) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1, ROC AUC, log loss, confusion matrix, per class.

    Labels are those the bundle itself predicts (highest probability), so the metrics describe
    exactly what ``Bundle.predict`` returns.
    """
    values = list(class_values)
    index = {v: i for i, v in enumerate(values)}
    # Work on class indices: labels may be ints, strings or a mix that sklearn cannot type.
    y = np.array([index[v] for v in np.asarray(y_true).tolist()], dtype=np.int64)
    y_pred = proba.argmax(axis=1)
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
    if len(present) == len(values) and len(values) >= 2:
        result["log_loss"] = float(skm.log_loss(y, proba, labels=labels))
        if len(values) == 2:
            result["roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
        else:
            result["roc_auc"] = float(
                skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
            )
    return result
