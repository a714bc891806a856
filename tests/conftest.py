"""Shared fixtures: real pipelines fitted on scikit-learn's bundled datasets, real bundles.

Bundles are built once per session into a read-only-by-convention folder; a test that changes
a bundle (tampering, overwriting) takes its own copy with ``bundle_copy``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import skbundle
from skbundle import demo


@dataclass(frozen=True)
class Case:
    """A fitted pipeline with its data and the bundle built from it."""

    name: str
    pipeline: Any
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    path: Path

    def save_kwargs(self) -> dict[str, Any]:
        return {
            "X_train": self.X_train,
            "y_train": self.y_train,
            "X_test": self.X_test,
            "y_test": self.y_test,
            "name": self.name,
            "class_names": self.class_names,
        }


def _cancer() -> tuple[Any, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    f = demo.fit()
    return f.pipeline, f.X_train, f.X_test, f.y_train, f.y_test, f.names


def _wine_with_missing() -> tuple[
    Any, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, list[str]
]:
    """Three classes; 5% of two columns knocked out, so the imputer has real work to do."""
    data = load_wine(as_frame=True)
    X = data.data.copy()
    rng = np.random.default_rng(0)
    for column in ("alcohol", "magnesium"):
        X.loc[rng.random(len(X)) < 0.05, column] = np.nan
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target.to_numpy(), test_size=0.25, random_state=0, stratify=data.target
    )
    pipe = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("model", RandomForestClassifier(n_estimators=50, random_state=0)),
        ]
    ).fit(X_train, y_train)
    return pipe, X_train, X_test, y_train, y_test, [str(n) for n in data.target_names]


def _iris_linear() -> tuple[Any, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """String labels and a linear model: nothing may assume integer classes or trees."""
    data = load_iris(as_frame=True)
    names = [str(n) for n in data.target_names]
    y = np.array([names[i] for i in data.target])
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, y, test_size=0.3, random_state=1, stratify=y
    )
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(X_train, y_train)
    return pipe, X_train, X_test, y_train, y_test, names


BUILDERS = {"breast-cancer": _cancer, "wine": _wine_with_missing, "iris": _iris_linear}


@pytest.fixture(scope="session")
def bundles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundles")


def _case(name: str, root: Path) -> Case:
    pipe, X_train, X_test, y_train, y_test, names = BUILDERS[name]()
    path = root / name
    skbundle.save(
        pipe,
        path,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        name=name,
        class_names=names if name != "iris" else None,
    )
    return Case(name, pipe, X_train, X_test, y_train, y_test, names, path)


@pytest.fixture(scope="session")
def cancer(bundles_dir: Path) -> Case:
    """The demo pipeline (breast cancer, StandardScaler -> RandomForest) and its bundle."""
    return _case("breast-cancer", bundles_dir)


@pytest.fixture(scope="session")
def wine(bundles_dir: Path) -> Case:
    """Wine, 3 classes, missing values handled by a SimpleImputer."""
    return _case("wine", bundles_dir)


@pytest.fixture(scope="session")
def iris(bundles_dir: Path) -> Case:
    """Iris with string labels and a LogisticRegression."""
    return _case("iris", bundles_dir)


@pytest.fixture(params=["breast-cancer", "wine", "iris"])
def any_case(request: pytest.FixtureRequest) -> Case:
    fixture = {"breast-cancer": "cancer", "wine": "wine", "iris": "iris"}[request.param]
    case: Case = request.getfixturevalue(fixture)
    return case


@pytest.fixture
def bundle_copy(cancer: Case, tmp_path: Path) -> Path:
    """A private copy of the demo bundle, for tests that change it."""
    target = tmp_path / "copy"
    shutil.copytree(cancer.path, target)
    return target
