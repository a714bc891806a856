"""Runtimes: what turns a validated float array into the model's output.

A runtime is built by a format handler from verified bytes (see ``skbundle.formats``) and is
private to one ``Bundle``. Every runtime takes a C-contiguous float64 array whose columns are in
schema order (categorical features as codes, see :mod:`skbundle.core.codes`) and returns one
float64 row per input row, shaped by the bundle's ``output`` (:data:`OUTPUTS`):

- ``probabilities``: one column per class, in manifest class order;
- ``labels``: the class index in column 0, then the estimator's decision scores (one column
  for two classes, one per class otherwise; none when it has no ``decision_function``);
- ``values``: a regressor's prediction, one column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from skbundle.core.codes import Codec
from skbundle.core.manifest import FeatureSpec, Manifest, Output

OUTPUTS: tuple[Output, ...] = ("probabilities", "labels", "values")


class Predictor(Protocol):
    """The one method the rest of skbundle calls on a loaded model."""

    def predict_output(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class RuntimeInfo:
    """Which runtime a bundle runs on, and why it was chosen."""

    format: str
    engine: str
    reason: str


@dataclass(frozen=True)
class Signature:
    """What a runtime needs to know besides the model: the input schema and the output kind."""

    features: tuple[FeatureSpec, ...]
    output: Output

    @classmethod
    def of(cls, manifest: Manifest) -> Signature:
        return cls(tuple(manifest.features), manifest.output)


def qualified_name(obj: object) -> str:
    """``module.QualName`` of an object's class: how skbundle recognises a scikit-learn step
    (a class of the user's own named ``RandomForestClassifier`` is not scikit-learn's)."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


COLUMN_TRANSFORMER = "sklearn.compose._column_transformer.ColumnTransformer"


def _reachable(estimator: Any) -> list[Any]:
    """The estimator and every estimator among its parameters, at any depth."""
    params = estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ()
    return [estimator, *(p for p in params if hasattr(p, "get_params"))]


def _is_meta(step: Any) -> bool:
    """Whether a step holds other estimators (a search, a calibrator, an ensemble of steps)."""
    if not hasattr(step, "get_params"):
        return False
    for value in step.get_params(deep=False).values():
        if hasattr(value, "get_params"):
            return True
        if isinstance(value, list) and any(
            isinstance(v, tuple) and any(hasattr(e, "get_params") for e in v) for v in value
        ):
            return True
    return False


def first_step(estimator: Any) -> Any:
    """The step that sees the raw input: the first real step of (nested) Pipelines."""
    first = estimator
    while hasattr(first, "steps"):
        steps = [s for _, s in first.steps if s is not None and s != "passthrough"]
        if not steps:
            return None
        first = steps[0]
    return first


def needs_frame(estimator: Any, features: Sequence[FeatureSpec]) -> bool:
    """Whether the estimator must be given a DataFrame with the training columns.

    Yes for a categorical or boolean feature; no for an estimator fitted on a bare array;
    otherwise yes for a ``ColumnTransformer`` anywhere (it may select columns by name), a step
    set to output pandas, or a first step that wraps other estimators (their own fitted column
    names would be checked). Else a float array is enough, and faster.
    """
    if any(f.kind != "numeric" for f in features):
        return True
    first = first_step(estimator)
    if first is None or getattr(first, "feature_names_in_", None) is None:
        return False  # fitted on a bare array: it must be given one
    for step in _reachable(estimator):
        if qualified_name(step) == COLUMN_TRANSFORMER:
            return True
        config = getattr(step, "_sklearn_output_config", None) or {}
        if config.get("transform") not in (None, "default"):
            return True
    return _is_meta(first)


def _flat_steps(estimator: Any) -> list[Any]:
    if not hasattr(estimator, "steps"):
        return [estimator]
    out = []
    for _, step in estimator.steps:
        if step is not None and step != "passthrough":
            out.extend(_flat_steps(step))
    return out


def _drop_input_names(estimator: Any) -> None:
    """Forget the column names the steps that see the raw input saw at fit time.

    The validator has already put columns in schema order and checked their names, so
    scikit-learn's own name check would only force a DataFrame onto the hot path (or warn on
    a plain array). That is the first step, and every later step fitted on the very same
    columns (a step such as ``FunctionTransformer(np.log1p)`` hands its DataFrame on). Only
    the private, freshly loaded copy is changed.
    """
    steps = _flat_steps(estimator)
    first = steps[0] if steps else None
    names = getattr(first, "feature_names_in_", None)
    if names is None:
        return
    for step in steps:
        seen = vars(step).get("feature_names_in_")
        if seen is None or list(seen) != list(names):
            break
        del step.feature_names_in_


class SklearnPredictor:
    """A scikit-learn estimator (usually a Pipeline) deserialized from a bundle.

    Given a float array on the hot path, or the decoded DataFrame when the estimator needs
    its training columns (:func:`needs_frame`).
    """

    def __init__(self, estimator: Any, signature: Signature | None = None) -> None:
        self.estimator = estimator
        features = () if signature is None else signature.features
        self.output = own_output(estimator) if signature is None else signature.output
        self._codec = Codec(features)
        self._frame = needs_frame(estimator, features)
        if not self._frame:
            _drop_input_names(estimator)
        classes = getattr(estimator, "classes_", None)
        self._classes = None if classes is None else np.asarray(classes)

    def model_input(self, X: np.ndarray) -> Any:
        """What the estimator is given for rows ``X`` (codes, schema order)."""
        return self._codec.decode(X) if self._frame else X

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        return predict_output(self.estimator, self.model_input(X), self.output, self._classes)


def own_output(estimator: Any) -> Output:
    """The output an estimator offers: values (a regressor), probabilities, or labels."""
    from sklearn.base import is_regressor  # not on the ONNX path: start-up time

    try:
        regressor = is_regressor(estimator)
    except (AttributeError, TypeError):  # not a scikit-learn estimator at all (no tags)
        regressor = False
    if regressor:
        return "values"
    return "probabilities" if hasattr(estimator, "predict_proba") else "labels"


def predict_output(
    estimator: Any, X: Any, output: Output, classes: np.ndarray | None = None
) -> np.ndarray:
    """A scikit-learn estimator's answer for ``X`` in the runtime layout (module docstring)."""
    if output == "probabilities":
        return np.asarray(estimator.predict_proba(X), dtype=np.float64)
    if output == "values":
        return np.asarray(estimator.predict(X), dtype=np.float64).reshape(len(X), -1)[:, :1]
    known = np.asarray(estimator.classes_) if classes is None else classes
    index = np.searchsorted(known, np.asarray(estimator.predict(X)))
    columns = [index.astype(np.float64).reshape(-1, 1)]
    if hasattr(estimator, "decision_function"):
        scores = np.asarray(estimator.decision_function(X), dtype=np.float64)
        columns.append(scores.reshape(len(X), -1))
    return np.hstack(columns)
