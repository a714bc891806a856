"""The zoo (tests/zoo.py) is what it claims: enough cases, each one fitted, labelled truthfully.

Later tests trust a case's flags (categorical, missing, custom) to pick what to check, so a
flag that lies would silently skip a check; these tests make each flag fail when it lies.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, Ridge, RidgeClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeRegressor
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tests import custom_steps
from tests.zoo import CASES, Case, Fitted, case

DATASETS = {"breast_cancer", "iris", "wine", "digits", "diabetes", "penguins"}
FAMILIES = {"forest", "hgb", "boosting", "tree", "linear", "svm", "knn", "bayes", "neural", "meta"}
CUSTOM_CLASSES = {
    value
    for value in vars(custom_steps).values()
    if isinstance(value, type) and value.__module__ == custom_steps.__name__
}


def _parts(obj: Any) -> Iterator[Any]:
    """Every object a (possibly nested) estimator is made of, itself included."""
    yield obj
    if isinstance(obj, BaseEstimator):
        for value in obj.get_params(deep=False).values():
            yield from _parts(value)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _parts(item)


def _estimators(pipeline: Any) -> list[BaseEstimator]:
    return [part for part in _parts(pipeline) if isinstance(part, BaseEstimator)]


def _non_numeric(X: pd.DataFrame) -> list[str]:
    """Columns holding strings, categories or bools (pandas counts bool as numeric)."""
    return [
        str(column)
        for column, dtype in X.dtypes.items()
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype)
    ]


def _has_missing(fitted: Fitted) -> bool:
    return bool(fitted.X_train.isna().any().any() or fitted.X_test.isna().any().any())


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Fit and predict on one thread, as the zoo fits: on a shared 2-core machine OpenMP
    workers (HistGradientBoosting) spin waiting for each other, and a 69-row predict takes
    seconds. Results are the same on any number of threads."""
    with threadpool_limits(limits=1):
        yield


each_case = pytest.mark.parametrize("zoo_case", CASES, ids=[c.id for c in CASES])


# --- the table --------------------------------------------------------------------------------


def test_ids_are_unique_and_readable() -> None:
    ids = [c.id for c in CASES]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert [i for i in ids if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) or len(i) > 40] == []


def test_the_zoo_is_big_enough() -> None:
    assert len(CASES) >= 36
    assert sum(c.task == "regression" for c in CASES) >= 12
    assert sum(c.task == "classification" for c in CASES) >= 12
    assert sum(c.categorical for c in CASES) >= 10
    assert sum(c.missing for c in CASES) >= 5
    assert sum(c.custom for c in CASES) >= 1


def test_fields_take_known_values() -> None:
    bad = [
        c.id
        for c in CASES
        if c.task not in {"classification", "regression"}
        or c.family not in FAMILIES
        or c.dataset not in DATASETS
        or (c.task == "regression") != (c.dataset == "diabetes" or "-mass-" in c.id)
    ]
    assert bad == []


def test_an_id_starts_with_its_dataset() -> None:
    short = {"breast_cancer": "cancer"}
    assert [c.id for c in CASES if not c.id.startswith(short.get(c.dataset, c.dataset))] == []


def test_every_case_has_a_docstring_saying_what_it_is() -> None:
    assert [c.id for c in CASES if len(c.about) < 10] == []


def test_case_finds_by_id() -> None:
    assert case("cancer-demo-forest") is CASES[0]
    assert case("penguins-onehot-forest").dataset == "penguins"


def test_unknown_id_names_the_closest_ones() -> None:
    with pytest.raises(KeyError) as info:
        case("penguins-onehot-forst")
    assert info.value.args[0] == (
        f"No zoo case 'penguins-onehot-forst': expected one of the {len(CASES)} ids in"
        " tests.zoo.CASES (closest: ['penguins-onehot-forest', 'penguins-onehot-error-svc',"
        " 'penguins-onehot-lightgbm', 'penguins-mass-onehot-ridge',"
        " 'penguins-bool-logistic']). List them with [c.id for c in CASES]."
    )


# --- coverage of issue 11 ---------------------------------------------------------------------

REQUIRED_CLASSES = [
    LinearRegression,
    Ridge,
    Lasso,
    SVR,
    KNeighborsRegressor,
    DecisionTreeRegressor,
    RandomForestRegressor,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    TransformedTargetRegressor,
    SVC,
    LinearSVC,
    RidgeClassifier,
    HistGradientBoostingClassifier,
    GradientBoostingClassifier,
    CalibratedClassifierCV,
    GridSearchCV,
    KNeighborsClassifier,
    FunctionTransformer,
    StackingClassifier,
    RandomForestClassifier,
    ColumnTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    SimpleImputer,
    *sorted(CUSTOM_CLASSES, key=lambda cls: cls.__name__),
]


@pytest.mark.parametrize("cls", REQUIRED_CLASSES, ids=[c.__name__ for c in REQUIRED_CLASSES])
def test_the_zoo_uses(cls: type) -> None:
    users = [c.id for c in CASES if any(type(p) is cls for p in _parts(c.build().pipeline))]
    assert users != [], f"no zoo case uses {cls.__name__}"


def test_one_hot_encoders_cover_every_handle_unknown() -> None:
    seen = {
        part.handle_unknown
        for c in CASES
        for part in _parts(c.build().pipeline)
        if isinstance(part, OneHotEncoder)
    }
    assert seen == {"ignore", "infrequent_if_exist", "error"}


def test_input_dtypes_cover_str_category_and_bool() -> None:
    kinds = {str(dtype) for c in CASES for dtype in c.build().X_train.dtypes}
    assert {"str", "category", "bool", "float64", "int64"} <= kinds


def test_a_pandas_output_case_hands_dataframes_between_steps() -> None:
    fitted = case("penguins-pandas-output-logistic").build()
    out = fitted.pipeline[:-1].transform(fitted.X_test)
    assert isinstance(out, pd.DataFrame)
    assert len(out) == len(fitted.X_test)


def test_the_demo_case_is_the_classic_demo() -> None:
    pipe = case("cancer-demo-forest").build().pipeline
    assert [type(step).__name__ for _, step in pipe.steps] == [
        "StandardScaler",
        "RandomForestClassifier",
    ]
    forest = pipe[-1]
    assert (forest.n_estimators, forest.random_state) == (100, 42)


def test_some_classifiers_have_integer_labels_and_some_string_labels() -> None:
    kinds = {c.build().y_train.dtype.kind for c in CASES if c.task == "classification"}
    assert {"i", "U", "O"} <= kinds


# --- each case --------------------------------------------------------------------------------


@each_case
def test_build_returns_a_fitted_pipeline_that_predicts(zoo_case: Case) -> None:
    fitted = zoo_case.build()
    assert isinstance(fitted.X_train, pd.DataFrame)
    assert isinstance(fitted.X_test, pd.DataFrame)
    assert list(fitted.X_train.columns) == list(fitted.X_test.columns)
    assert (fitted.X_train.dtypes == fitted.X_test.dtypes).all()
    assert isinstance(fitted.y_train, np.ndarray) and isinstance(fitted.y_test, np.ndarray)
    assert (len(fitted.y_train), len(fitted.y_test)) == (len(fitted.X_train), len(fitted.X_test))
    check_is_fitted(fitted.pipeline)
    predicted = np.asarray(fitted.pipeline.predict(fitted.X_test))
    assert predicted.shape == (len(fitted.X_test),)
    if zoo_case.task == "classification":
        assert set(predicted) <= set(fitted.y_train)
        assert hasattr(fitted.pipeline, "classes_")
    else:
        assert predicted.dtype.kind == "f" and np.isfinite(predicted).all()
        assert not hasattr(fitted.pipeline, "classes_")


@each_case
def test_split_is_80_20_and_stratified_for_classifiers(zoo_case: Case) -> None:
    fitted = zoo_case.build()
    n = len(fitted.X_train) + len(fitted.X_test)
    assert len(fitted.X_test) == math.ceil(0.2 * n)
    assert fitted.X_train.index.intersection(fitted.X_test.index).empty
    if zoo_case.task == "classification":
        train, test = Counter(fitted.y_train), Counter(fitted.y_test)
        off = {k: test[k] for k in train if abs(test[k] - 0.2 * (train[k] + test[k])) > 1}
        assert off == {}


@each_case
def test_categorical_flag_tells_the_truth(zoo_case: Case) -> None:
    non_numeric = _non_numeric(zoo_case.build().X_train)
    assert bool(non_numeric) == zoo_case.categorical, non_numeric


@each_case
def test_missing_flag_tells_the_truth(zoo_case: Case) -> None:
    assert _has_missing(zoo_case.build()) == zoo_case.missing


@each_case
def test_custom_flag_tells_the_truth(zoo_case: Case) -> None:
    custom = [p for p in _estimators(zoo_case.build().pipeline) if type(p) in CUSTOM_CLASSES]
    assert bool(custom) == zoo_case.custom


@each_case
def test_every_random_state_given_is_42(zoo_case: Case) -> None:
    seeds = {
        type(p).__name__: p.random_state
        for p in _estimators(zoo_case.build().pipeline)
        if getattr(p, "random_state", None) is not None
    }
    assert {name: seed for name, seed in seeds.items() if seed != 42} == {}


@each_case
def test_build_is_cached_and_a_refit_is_identical(zoo_case: Case) -> None:
    fitted = zoo_case.build()
    assert zoo_case.build() is fitted
    again = clone(fitted.pipeline).fit(fitted.X_train, fitted.y_train)
    np.testing.assert_array_equal(
        again.predict(fitted.X_test), fitted.pipeline.predict(fitted.X_test)
    )
