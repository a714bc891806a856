"""Parity: how exactly a runtime reproduces the fitted pipeline, measured at save time."""

from __future__ import annotations

import numpy as np

from skbundle.manifest import Parity
from skbundle.runtime import Predictor


def evaluation_set(X_test: np.ndarray) -> np.ndarray:
    """The rows every runtime must reproduce: the held-out data."""
    return np.ascontiguousarray(X_test, dtype=np.float64)


def measure(reference: np.ndarray, runtime: Predictor, X: np.ndarray) -> Parity:
    """Compare a runtime's probabilities and labels with the reference's on ``X``."""
    got = runtime.predict_proba(X)
    if got.shape != reference.shape:
        return Parity(n_rows=len(X), max_abs_diff=float("inf"), label_agreement=0.0, exact=False)
    diff = float(np.max(np.abs(got - reference))) if got.size else 0.0
    agree = float(np.mean(got.argmax(axis=1) == reference.argmax(axis=1))) if len(X) else 1.0
    return Parity(
        n_rows=len(X),
        max_abs_diff=diff,
        label_agreement=agree,
        exact=bool(diff == 0.0 and agree == 1.0),
    )
