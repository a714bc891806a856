"""What the report shows about the model, computed once at save time from the held-out data.

The result is stored in ``readiness.json`` so that the report, the model card and
``skbundle inspect`` can show it later without the data and without deserializing the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from skbundle.build.audience import positive_index
from skbundle.build.parity import FittedModel
from skbundle.core.codes import Codec
from skbundle.core.manifest import Output
from skbundle.core.runtime import own_output

READINESS_VERSION = 1
MAX_CURVE_POINTS = 200


def final_estimator(pipeline: Any) -> Any:
    """The last step of a Pipeline (the model itself), or the estimator when it has no steps."""
    steps = getattr(pipeline, "steps", None)
    return steps[-1][1] if steps else pipeline


def feature_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    codec: Codec,
    *,
    n_repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Importance of each input feature, largest first.

    The model's own ``feature_importances_`` (trees) or mean ``|coef_|`` (linear models) when
    they line up one-to-one with the input features; permutation importance on ``X, y``
    otherwise (e.g. after a step that changes the number of columns).
    """
    names = [str(c) for c in X.columns]
    model = final_estimator(pipeline)
    values: np.ndarray | None = None
    method = "permutation"
    own = getattr(model, "feature_importances_", None)
    if own is not None and np.asarray(own).shape == (len(names),):
        values, method = np.asarray(own, dtype=np.float64), "feature_importances_"
    coef = getattr(model, "coef_", None)
    if values is None and coef is not None:
        matrix = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        if matrix.shape[1] == len(names):
            values, method = np.abs(matrix).mean(axis=0), "mean |coef_|"
    if values is None:
        output = own_output(pipeline)
        values = permutation_drop(
            FittedModel(pipeline, codec, output), codec.encode(X), y, output, n_repeats, seed
        )
        score = "R²" if output == "values" else "accuracy"
        method = f"permutation ({score} drop, {n_repeats} repeats on the test split)"
    order = sorted(range(len(names)), key=lambda i: (-values[i], names[i]))
    return {"method": method, "features": [[names[i], float(values[i])] for i in order]}


def permutation_drop(
    model: FittedModel, codes: np.ndarray, y: np.ndarray, output: Output, n_repeats: int, seed: int
) -> np.ndarray:
    """Permutation importance: the mean drop of the score (accuracy, or R² for a regressor)
    when one feature's column is shuffled, ``n_repeats`` shuffles per feature.

    What ``sklearn.inspection.permutation_importance`` computes, with every shuffled copy
    predicted in ONE call: a pipeline's fixed cost per call (a forest's hundred trees, a
    ColumnTransformer's frames) is paid once, not once per feature and repeat.
    """
    n, width = codes.shape
    rng = np.random.default_rng(seed)
    blocks = [codes]
    for j in range(width):
        for _ in range(n_repeats):
            shuffled = codes.copy()
            shuffled[:, j] = codes[rng.permutation(n), j]
            blocks.append(shuffled)
    out = model.predict_output(np.ascontiguousarray(np.vstack(blocks)))
    scores = np.array(
        [_score(out[k * n : (k + 1) * n], y, output, model) for k in range(len(blocks))]
    )
    drop: np.ndarray = scores[0] - scores[1:].reshape(width, n_repeats).mean(axis=1)
    return drop


def _score(out: np.ndarray, y: np.ndarray, output: Output, model: FittedModel) -> float:
    if output == "values":
        from sklearn.metrics import r2_score

        return float(r2_score(y, out[:, 0]))
    classes = np.asarray(model.pipeline.classes_)
    index = out[:, 0].astype(np.int64) if output == "labels" else out.argmax(axis=1)
    return float(np.mean(classes[index] == y))


def _thin(xs: np.ndarray, ys: np.ndarray) -> tuple[list[float], list[float]]:
    if len(xs) > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, MAX_CURVE_POINTS).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [float(v) for v in xs], [float(v) for v in ys]


def curves(
    y: np.ndarray,
    proba: np.ndarray,
    class_values: Sequence[Any],
    classes: Sequence[str],
    positive: str | None = None,
) -> dict[str, Any]:
    """ROC, precision-recall and calibration curves: for the positive class of a binary task
    (``positive``, else the second class), else one per class."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    index = {v: i for i, v in enumerate(class_values)}
    y_idx = np.array([index[v] for v in np.asarray(y).tolist()], dtype=np.int64)
    shown = [positive_index(classes, positive)] if len(classes) == 2 else list(range(len(classes)))
    roc: dict[str, Any] = {}
    pr: dict[str, Any] = {}
    calibration: dict[str, Any] = {}
    for k in shown:
        truth = (y_idx == k).astype(int)
        if truth.min() == truth.max():  # a class absent from the test split has no curve
            continue
        if not np.all(np.isfinite(proba[:, k])) or proba[:, k].min() < 0 or proba[:, k].max() > 1:
            continue  # not probabilities: the checklist's probes report it, no curve is drawn
        fpr, tpr, _ = roc_curve(truth, proba[:, k])
        xs, ys = _thin(fpr, tpr)
        roc[classes[k]] = {"fpr": xs, "tpr": ys, "auc": float(auc(fpr, tpr))}
        precision, recall, _ = precision_recall_curve(truth, proba[:, k])
        rs, ps = _thin(recall[::-1], precision[::-1])
        pr[classes[k]] = {
            "recall": rs,
            "precision": ps,
            "ap": float(average_precision_score(truth, proba[:, k])),
            "prevalence": float(truth.mean()),
        }
        prob_true, prob_pred = calibration_curve(truth, proba[:, k], n_bins=10)
        calibration[classes[k]] = {
            "prob_pred": [float(v) for v in prob_pred],
            "prob_true": [float(v) for v in prob_true],
        }
    return {"roc": roc, "pr": pr, "calibration": calibration}


def dataset_overview(
    y_train: np.ndarray, y_test: np.ndarray, class_values: Sequence[Any], classes: Sequence[str]
) -> dict[str, Any]:
    """Rows and class balance of each split."""

    def counts(y: np.ndarray) -> dict[str, int]:
        values = np.asarray(y).tolist()
        return {name: values.count(v) for v, name in zip(class_values, classes, strict=True)}

    return {
        "n_train": len(y_train),
        "n_test": len(y_test),
        "class_counts_train": counts(y_train),
        "class_counts_test": counts(y_test),
    }


def regression_overview(y_train: np.ndarray, y_test: np.ndarray) -> dict[str, Any]:
    """Rows of each split and a summary of the target in each."""

    def summary(y: np.ndarray) -> dict[str, float]:
        return {
            "mean": float(np.mean(y)),
            "std": float(np.std(y, ddof=1)) if len(y) > 1 else 0.0,
            "min": float(np.min(y)),
            "max": float(np.max(y)),
        }

    return {
        "n_train": len(y_train),
        "n_test": len(y_test),
        "target_train": summary(y_train),
        "target_test": summary(y_test),
    }


def residuals(y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Predicted against actual on the test split (at most ``MAX_CURVE_POINTS`` points, evenly
    thinned in target order), for the report's two regression plots."""
    order = np.argsort(y, kind="stable")
    actual, pred = _thin(np.asarray(y, dtype=np.float64)[order], predicted[order])
    return {"actual": actual, "predicted": pred}


def evaluate(
    pipeline: Any,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    class_values: Sequence[Any],
    classes: Sequence[str],
    *,
    codec: Codec,
    output: str,
    out_test: np.ndarray,
    positive: str | None = None,
) -> dict[str, Any]:
    """The content of ``readiness.json`` at save time (no checklist, benchmark or persistence).

    ``out_test`` is the fitted pipeline's output on ``X_test`` in the runtime layout;
    ``positive`` the positive class of a binary classifier (None: the second class).
    """
    base = {
        "readiness_version": READINESS_VERSION,
        "importance": feature_importance(pipeline, X_test, y_test, codec),
        "persistence": None,
        "checklist": None,
    }
    if output == "values":
        return {
            **base,
            "dataset": regression_overview(y_train, y_test),
            "residuals": residuals(y_test, out_test[:, 0]),
            "roc": {},
            "pr": {},
            "calibration": {},
        }
    shown = (
        curves(y_test, out_test, class_values, classes, positive)
        if output == "probabilities"
        else {
            "roc": {},
            "pr": {},
            "calibration": {},
        }
    )
    return {**base, "dataset": dataset_overview(y_train, y_test, class_values, classes), **shown}
