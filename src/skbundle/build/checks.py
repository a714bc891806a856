"""What ``save()`` checks before it writes anything: the pipeline, the data, the labels.

Every refusal is a :class:`~skbundle.errors.PipelineError` naming the argument, what was
expected, what was given and how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skbundle.core.manifest import Output
from skbundle.core.runtime import own_output
from skbundle.errors import PipelineError, preview


def as_frame(X: object, which: str, feature_names: Sequence[str] | None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        bad = [c for c in X.columns if not isinstance(c, str)]
        if bad:
            raise PipelineError(
                f"{which} columns",
                "feature names as strings",
                f"{preview(bad)}",
                "Name the columns, or pass a 2-D array with feature_names=[...].",
            )
        frame = X
    elif isinstance(X, np.ndarray) and X.ndim == 2:
        if feature_names is None:
            raise PipelineError(
                which,
                "a DataFrame, or a 2-D array with feature_names=[...]",
                "a 2-D array and no feature_names",
                "Pass feature_names= so that the bundle can name its inputs.",
            )
        if len(feature_names) != X.shape[1]:
            raise PipelineError(
                "feature_names",
                f"{X.shape[1]} names (one per column of {which})",
                f"{len(feature_names)} names",
            )
        frame = pd.DataFrame(X, columns=list(feature_names))
    else:
        got = f"a {X.ndim}-D array" if isinstance(X, np.ndarray) else type(X).__name__
        raise PipelineError(which, "a pandas DataFrame or a 2-D numpy array", got)
    if frame.shape[0] == 0:
        raise PipelineError(which, "at least one row", "no rows")
    for column in frame.columns:
        problem = _column_problem(frame[column])
        if problem is not None:
            raise PipelineError(
                f"{which} column {column!r}",
                "numbers (int or float), booleans, or categories (strings, or a pandas "
                "'category' column)",
                problem,
                "Convert the column (e.g. df[col].astype(str) for labels, pd.to_numeric for "
                "numbers), or drop it before the data reaches the pipeline.",
            )
    return frame


def _column_problem(column: pd.Series) -> str | None:
    """Why a training column cannot be a feature, or None."""
    dtype = column.dtype
    if dtype.kind in "fiub" or str(dtype) == "boolean":
        return None
    if dtype.kind in "mMc" or str(dtype).startswith(("datetime", "period", "interval")):
        return f"dtype {dtype}"
    if str(dtype) == "category":
        values = column.cat.categories.tolist()
    else:
        values = column.dropna().tolist()
    kinds = sorted({type(v.item() if isinstance(v, np.generic) else v).__name__ for v in values})
    if not kinds:
        return "no values at all (every value is missing)"
    if len(kinds) > 1:
        return f"values of mixed types {kinds}"
    if kinds[0] not in ("str", "int") or (kinds[0] == "int" and str(dtype) != "category"):
        return f"values of type {kinds[0]}"
    return None


def as_target(y: object, which: str, n_rows: int, x_name: str, task: str) -> np.ndarray:
    """The labels (classification) or finite numeric targets (regression) as a 1-D array."""
    labels = np.asarray(y)
    what = "class labels" if task == "classification" else "numeric targets"
    if labels.ndim != 1:
        raise PipelineError(which, f"a 1-D sequence of {what}", f"shape {labels.shape}")
    if len(labels) != n_rows:
        raise PipelineError(
            which, f"{n_rows} {what[:-1]}s, one per row of {x_name}", f"{len(labels)} values"
        )
    if task == "regression":
        if labels.dtype.kind not in "fiu":
            raise PipelineError(which, "numeric targets", f"dtype {labels.dtype}")
        labels = labels.astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(labels))
        if len(bad):
            raise PipelineError(
                which,
                "finite numeric targets",
                f"{len(bad)} missing or infinite values (first at row {int(bad[0])})",
                "Drop the rows whose target is unknown before saving.",
            )
    return labels


def task_of(pipeline: Any) -> tuple[str, Output]:
    """The task (``classification``/``regression``) and the runtime output of a pipeline."""
    output = own_output(pipeline)
    return ("regression" if output == "values" else "classification"), output


def check_pipeline(pipeline: Any) -> None:
    if not hasattr(pipeline, "fit") or not hasattr(pipeline, "get_params"):
        raise PipelineError(
            "pipeline", "a fitted scikit-learn estimator or Pipeline", type(pipeline).__name__
        )
    try:
        check_is_fitted(pipeline)
    except NotFittedError as exc:
        raise PipelineError(
            "pipeline",
            "a fitted estimator",
            f"an unfitted {type(pipeline).__name__}",
            "Call pipeline.fit(X_train, y_train) before saving it.",
        ) from exc
    if not is_classifier(pipeline) and not is_regressor(pipeline):
        raise PipelineError(
            "pipeline",
            "a classifier or a regressor",
            f"a {type(pipeline).__name__} that is neither",
            "End the pipeline with a scikit-learn classifier or regressor (its _estimator_type "
            "says which).",
        )


def check_columns(pipeline: Any, frame: pd.DataFrame, which: str) -> None:
    columns = [str(c) for c in frame.columns]
    fitted = getattr(pipeline, "feature_names_in_", None)
    if fitted is not None:
        expected = [str(c) for c in fitted]
        if columns != expected:
            missing = sorted(set(expected) - set(columns))
            extra = sorted(set(columns) - set(expected))
            got = (
                f"missing {preview(missing)}, unexpected {preview(extra)}"
                if missing or extra
                else "the same columns in another order"
            )
            raise PipelineError(
                f"{which} columns",
                f"the {len(expected)} columns the pipeline was fitted on, in the same order",
                got,
                "Pass the data the pipeline was trained on, with its columns as they were.",
            )
    n_in = getattr(pipeline, "n_features_in_", None)
    if n_in is not None and n_in != len(columns):
        raise PipelineError(
            f"{which} columns",
            f"{n_in} features (the pipeline's n_features_in_)",
            f"{len(columns)} columns",
        )


def class_names(pipeline: Any, class_names: Sequence[str] | None) -> tuple[list[Any], list[str]]:
    values = [v.item() if isinstance(v, np.generic) else v for v in pipeline.classes_]
    if class_names is None:
        return values, [str(v) for v in values]
    names = [str(n) for n in class_names]
    if len(names) != len(values):
        raise PipelineError(
            "class_names", f"{len(values)} names, one per class in {values}", f"{len(names)} names"
        )
    if len(set(names)) != len(names):
        raise PipelineError("class_names", "distinct names", f"{names}")
    return values, names


def check_labels(y: np.ndarray, values: list[Any], which: str) -> None:
    unknown = sorted({str(v) for v in set(y.tolist()) - set(values)})
    if unknown:
        raise PipelineError(
            which,
            f"labels among the pipeline's classes {values}",
            f"unknown labels {preview(unknown)}",
        )
