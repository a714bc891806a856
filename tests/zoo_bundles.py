"""Bundles saved from zoo cases, once per test session, shared by the readiness test modules.

``zoo_bundle(tmp_path_factory, "diabetes-ridge")`` saves the case into the session's base
temporary folder the first time it is asked for and returns the same path after that, from
any module. Treat the bundle as read-only; copy it (``readiness_helpers.copy_bundle``) to
change it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import skbundle

from .zoo import Fitted, case

REGRESSOR = "diabetes-ridge"
"""A regressor on numbers only (the diabetes data)."""
CATEGORICAL_REGRESSOR = "penguins-mass-onehot-ridge"
"""A regressor with string columns one-hot encoded (unknown categories ignored)."""
LABELS = "cancer-svc"
"""A classifier without predict_proba: labels and decision scores only."""
CATEGORICAL = "penguins-onehot-forest"
"""A classifier with probabilities on string columns (unknown categories ignored)."""


def save_fitted(fitted: Fitted, path: Path, name: str) -> Path:
    """``skbundle.save`` of a fitted case as a user calls it (on one thread: histogram
    gradient boosting crawls under OpenMP on a loaded machine, with the same numbers)."""
    with threadpool_limits(1):
        skbundle.save(
            fitted.pipeline,
            path,
            X_train=fitted.X_train,
            y_train=fitted.y_train,
            X_test=fitted.X_test,
            y_test=fitted.y_test,
            name=name,
        )
    return path


def zoo_bundle(factory: pytest.TempPathFactory, case_id: str) -> Path:
    """The bundle of zoo case ``case_id``, saved once per session."""
    path = factory.getbasetemp() / "zoo-bundles" / case_id
    if not (path / "bundle.json").is_file():
        save_fitted(case(case_id).build(), path, case_id)
    return path
