"""A transformer defined outside scikit-learn: no allowlist knows it, and no converter does."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class Log1p(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """log(1 + x), column by column."""

    def fit(self, X: Any, y: Any = None) -> Log1p:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return np.log1p(np.asarray(X, dtype=np.float64))
