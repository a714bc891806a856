"""Runtimes: what turns a validated float array into class probabilities.

A runtime is built by a format handler from verified bytes (see ``skbundle.formats``) and is
private to one ``Bundle``. Every runtime takes a C-contiguous float64 array whose columns are in
schema order, and returns probabilities with one column per class, in manifest class order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class Predictor(Protocol):
    """The one method the rest of skbundle calls on a loaded model."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class RuntimeInfo:
    """Which runtime a bundle runs on, and why it was chosen."""

    format: str
    engine: str
    reason: str


def qualified_name(obj: object) -> str:
    """``module.QualName`` of an object's class: how skbundle recognises a scikit-learn step
    (a class of the user's own named ``RandomForestClassifier`` is not scikit-learn's)."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _drop_input_names(estimator: Any) -> None:
    """Forget the column names the first step saw at fit time.

    The validator has already put columns in schema order and checked their names, so
    scikit-learn's own name check would only force a DataFrame onto the hot path (or warn on
    a plain array). Only the private, freshly loaded copy is changed.
    """
    first = estimator
    while hasattr(first, "steps"):
        first = first.steps[0][1]
    if "feature_names_in_" in vars(first):
        del first.feature_names_in_


class SklearnPredictor:
    """A scikit-learn estimator (usually a Pipeline) deserialized from a bundle."""

    def __init__(self, estimator: Any) -> None:
        _drop_input_names(estimator)
        self.estimator = estimator

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)
