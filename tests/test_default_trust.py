"""Ordinary scikit-learn models load with no trusted types, through skops and joblib alike.

One id per object: each is fitted on real data (scikit-learn's bundled datasets, and the
Palmer penguins with their string columns and missing values), written by the format handler
itself, loaded back with ``trusted=frozenset()`` and compared with the in-memory object on
every prediction method it has. Only a user's own classes need ``--trust-type``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from palmerpenguins import load_penguins
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.feature_selection import SelectKBest, f_classif, f_regression
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
)
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeRegressor

from skbundle import UntrustedArtifactError
from skbundle.formats import FORMATS
from skbundle.formats._protocol import SaveContext

METHODS = ("predict", "predict_proba", "decision_function")


# -- real data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    X_train: Any
    X_test: Any
    y_train: np.ndarray
    y_test: np.ndarray


def _split(X: Any, y: Any, *, stratify: bool) -> Data:
    # Numeric data as plain arrays, the way the runtime feeds a model (floats in schema order:
    # skbundle.core.runtime forgets the column names the first step saw); frames with string
    # columns stay frames, since their steps select columns by name.
    if all(pd.api.types.is_float_dtype(t) for t in X.dtypes):
        X = X.to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y if stratify else None
    )
    return Data(X_train, X_test, np.asarray(y_train), np.asarray(y_test))


@functools.cache
def cancer() -> Data:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return _split(X, y, stratify=True)


@functools.cache
def iris() -> Data:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return _split(X, y, stratify=True)


@functools.cache
def wine() -> Data:
    X, y = load_wine(return_X_y=True, as_frame=True)
    return _split(X, y, stratify=True)


@functools.cache
def diabetes() -> Data:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return _split(X, y, stratify=False)


NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
STRINGS = ["island", "sex"]


def _penguin_frame() -> pd.DataFrame:
    """String columns as plain objects with NaN where a value is missing (what a CSV gives)."""
    frame = load_penguins()
    for column in ("species", *STRINGS):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), np.nan)
    return frame


@functools.cache
def penguins() -> Data:
    """Species from island, sex and the four measurements (some of each missing)."""
    frame = _penguin_frame()
    return _split(frame[STRINGS + NUMERIC], frame["species"].to_numpy(), stratify=True)


@functools.cache
def penguins_category() -> Data:
    """The same, with island and sex as pandas ``category`` columns."""
    frame = _penguin_frame()
    X = frame[STRINGS + NUMERIC].copy()
    for column in STRINGS:
        X[column] = X[column].astype("category")
    return _split(X, frame["species"].to_numpy(), stratify=True)


@functools.cache
def penguins_mass() -> Data:
    """Body mass from the rest: a regression with string columns."""
    frame = _penguin_frame().dropna(subset=["body_mass_g"])
    X = frame[["species", *STRINGS, *NUMERIC[:3]]]
    return _split(X, frame["body_mass_g"].to_numpy(), stratify=False)


# -- the objects ----------------------------------------------------------------------------------
def _scaled(model: Any) -> Any:
    return make_pipeline(StandardScaler(), model)


def _strings_one_hot(**options: Any) -> Any:
    return ColumnTransformer(
        [
            ("cat", make_pipeline(
                SimpleImputer(strategy="most_frequent"), OneHotEncoder(**options)
            ), STRINGS),
            ("num", _numbers(), NUMERIC),
        ]
    )  # fmt: skip


def _numbers(**options: Any) -> Any:
    """The measurements, imputed and scaled (grams and millimetres differ 100-fold)."""
    return make_pipeline(SimpleImputer(**options), StandardScaler())


def _classify(columns: Any) -> Any:
    return make_pipeline(columns, LogisticRegression(max_iter=2000))


LOG = dict(max_iter=5000)
CASES: dict[str, tuple[Callable[[], Data], Callable[[], Any]]] = {
    # histogram gradient boosting, with and without categorical features
    "hgb-classifier": (cancer, lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0)),
    "hgb-regressor": (diabetes, lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0)),
    "hgb-categorical-ordinal": (penguins, lambda: make_pipeline(
        ColumnTransformer(
            [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
              STRINGS)],
            remainder="passthrough",
        ),
        HistGradientBoostingClassifier(max_iter=20, categorical_features=[0, 1], random_state=0),
    )),
    "hgb-categorical-from-dtype": (penguins_category, lambda: HistGradientBoostingClassifier(
        max_iter=20, categorical_features="from_dtype", random_state=0
    )),
    "gb-classifier": (cancer, lambda: GradientBoostingClassifier(n_estimators=20, random_state=0)),
    "gb-classifier-multiclass": (wine, lambda: GradientBoostingClassifier(
        n_estimators=10, random_state=0
    )),
    "gb-regressor": (diabetes, lambda: GradientBoostingRegressor(n_estimators=20, random_state=0)),
    # calibration and search
    "calibrated-linear-svc": (cancer, lambda: _scaled(CalibratedClassifierCV(LinearSVC()))),
    "calibrated-svc": (cancer, lambda: _scaled(CalibratedClassifierCV(SVC()))),
    "grid-search-pipeline": (cancer, lambda: GridSearchCV(
        _scaled(LogisticRegression(**LOG)), {"logisticregression__C": [0.1, 1.0]}, cv=3
    )),
    "randomized-search-pipeline": (wine, lambda: RandomizedSearchCV(
        _scaled(SVC()), {"svc__C": [0.1, 1.0, 10.0], "svc__gamma": ["scale", 0.01]},
        n_iter=3, cv=3, random_state=0,
    )),
    # neighbours: the KD-tree and the ball tree inside
    "knn-classifier-kd-tree": (cancer, lambda: _scaled(KNeighborsClassifier(algorithm="kd_tree"))),
    "knn-classifier-ball-tree": (wine, lambda: _scaled(
        KNeighborsClassifier(algorithm="ball_tree")
    )),
    "knn-regressor-kd-tree": (diabetes, lambda: KNeighborsRegressor(algorithm="kd_tree")),
    "knn-regressor-ball-tree": (diabetes, lambda: KNeighborsRegressor(algorithm="ball_tree")),
    # numpy ufuncs in function transformers and a transformed target
    **{
        f"function-transformer-{ufunc.__name__}": (iris, functools.partial(
            lambda f: make_pipeline(FunctionTransformer(f), LogisticRegression(**LOG)), ufunc
        ))
        for ufunc in (np.log1p, np.sqrt, np.log, np.exp, np.abs, np.expm1)
    },
    "function-transformer-inverse": (iris, lambda: make_pipeline(
        FunctionTransformer(np.log1p, inverse_func=np.expm1, check_inverse=True),
        LogisticRegression(**LOG),
    )),
    "transformed-target-regressor": (diabetes, lambda: TransformedTargetRegressor(
        regressor=Ridge(), func=np.log1p, inverse_func=np.expm1
    )),
    # column transformers and encoders over string columns with missing values
    "columns-by-name": (penguins, lambda: _classify(_strings_one_hot(handle_unknown="ignore"))),
    "columns-by-index": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), [0, 1]),
        ("num", _numbers(), [2, 3, 4, 5]),
    ]))),
    "columns-by-selector": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_include=object)),
        ("num", _numbers(), make_column_selector(dtype_include=np.number)),
    ]))),
    "columns-by-pattern": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(pattern="^(?:island|sex)$")),
        ("num", _numbers(), make_column_selector(dtype_exclude=object)),
    ]))),
    "remainder-passthrough": (penguins, lambda: make_pipeline(
        ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), STRINGS)],
                          remainder="passthrough"),
        SimpleImputer(), StandardScaler(), LogisticRegression(**LOG),
    )),
    "remainder-drop": (penguins, lambda: _classify(ColumnTransformer(
        [("num", _numbers(), NUMERIC)], remainder="drop"
    ))),
    "one-hot-infrequent": (penguins, lambda: _classify(_strings_one_hot(
        handle_unknown="infrequent_if_exist", min_frequency=20
    ))),
    "one-hot-error": (penguins, lambda: _classify(_strings_one_hot(handle_unknown="error"))),
    "ordinal-encoder-unknown": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                           encoded_missing_value=-2),
        ), STRINGS),
        ("num", _numbers(), NUMERIC),
    ]))),
    "target-encoder": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              TargetEncoder()), STRINGS),
        ("num", _numbers(), NUMERIC),
    ]))),
    "target-encoder-regression": (penguins_mass, lambda: make_pipeline(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              TargetEncoder(target_type="continuous")), ["species", *STRINGS]),
        ("num", _numbers(), NUMERIC[:3]),
    ]), Ridge())),
    "imputer-most-frequent-indicator": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent", add_indicator=True),
                              OneHotEncoder(handle_unknown="ignore")), STRINGS),
        ("num", _numbers(add_indicator=True), NUMERIC),
    ]))),
    "imputer-constant-indicator": (penguins, lambda: _classify(ColumnTransformer([
        ("cat", make_pipeline(
            SimpleImputer(strategy="constant", fill_value="missing", add_indicator=True),
            OneHotEncoder(handle_unknown="ignore"),
        ), STRINGS),
        ("num", _numbers(strategy="constant", fill_value=0.0), NUMERIC),
    ]))),
    # regressors
    **{
        f"regressor-{make().__class__.__name__}": (diabetes, make)
        for make in (
            LinearRegression, Ridge, Lasso, ElasticNet, SVR, KNeighborsRegressor,
            lambda: DecisionTreeRegressor(max_depth=5, random_state=0),
            lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
            lambda: ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0),
        )
    },
    # classifiers
    "classifier-SVC": (cancer, lambda: _scaled(SVC())),
    "classifier-LinearSVC": (cancer, lambda: _scaled(LinearSVC())),
    "classifier-RidgeClassifier": (wine, lambda: _scaled(RidgeClassifier())),
    "classifier-SGDClassifier": (cancer, lambda: _scaled(SGDClassifier(random_state=0))),
    "classifier-SGDClassifier-log-loss": (wine, lambda: _scaled(
        SGDClassifier(loss="log_loss", random_state=0)
    )),
    "classifier-MLPClassifier": (iris, lambda: _scaled(
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=0)
    )),
    "classifier-GaussianNB": (wine, GaussianNB),
    "classifier-Stacking": (cancer, lambda: StackingClassifier(
        [("svc", _scaled(LinearSVC())), ("nb", GaussianNB())],
        final_estimator=LogisticRegression(**LOG), cv=3,
    )),
    "classifier-Voting-soft": (wine, lambda: VotingClassifier(
        [("lr", _scaled(LogisticRegression(**LOG))), ("nb", GaussianNB()),
         ("svc", _scaled(CalibratedClassifierCV(SVC(), ensemble=False)))],
        voting="soft",
    )),
    # preprocessing
    **{
        f"preprocessing-{make().__class__.__name__}": (wine, lambda make=make: make_pipeline(
            make(), StandardScaler(), LogisticRegression(**LOG)
        ))
        for make in (
            MinMaxScaler, RobustScaler, PowerTransformer,
            lambda: QuantileTransformer(n_quantiles=50),
            lambda: KBinsDiscretizer(
                n_bins=4, encode="ordinal", quantile_method="averaged_inverted_cdf"
            ),
            PolynomialFeatures, lambda: PCA(n_components=5),
        )
    },
    "select-k-best-f-classif": (wine, lambda: make_pipeline(
        SelectKBest(f_classif, k=5), StandardScaler(), LogisticRegression(**LOG)
    )),
    "select-k-best-f-regression": (diabetes, lambda: make_pipeline(
        SelectKBest(f_regression, k=5), Ridge()
    )),
}  # fmt: skip


@functools.cache
def fitted(case: str) -> tuple[Any, Data]:
    data, make = CASES[case]
    return make().fit(data().X_train, data().y_train), data()


def round_trip(model: Any, data: Data, fmt: str, directory: Path) -> Any:
    """Written by the format's handler, read back by it with no trusted types: the estimator."""
    handler = FORMATS[fmt]
    width = data.X_train.shape[1]
    context = SaveContext(
        feature_names=tuple(f"x{i}" for i in range(width)),
        sample=np.zeros((1, width)),
        options=handler.check_options({}),
    )
    path = handler.save(model, directory, context)
    predictor = handler.load(path.read_bytes(), source=path.name, trusted=frozenset())
    return predictor.estimator  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
@pytest.mark.parametrize("case", list(CASES))
def test_loads_with_no_trusted_types_and_predicts_the_same(
    case: str, fmt: str, tmp_path: Path
) -> None:
    model, data = fitted(case)
    loaded = round_trip(model, data, fmt, tmp_path)
    compared = [m for m in METHODS if hasattr(model, m)]
    assert "predict" in compared
    for method in compared:
        want = getattr(model, method)(data.X_test)
        got = getattr(loaded, method)(data.X_test)
        assert np.array_equal(got, want), f"{case} via {fmt}: {method} differs"


# -- what still needs trust: the user's own code --------------------------------------------------
SKOPS_HINT = (
    "Nothing was constructed. If you trust those types, pass them as trusted_types=[...] to "
    "skbundle.load() (CLI: --trust-type NAME, once per type); never take that list from the file."
)
JOBLIB_HINT = (
    "Nothing was unpickled. If you wrote this model and trust those names, pass "
    "trusted_types=[...] with them to skbundle.load() (CLI: --trust-type NAME, once per name); "
    "otherwise do not load it."
)
REFUSED = {
    "skops": "it would construct 1 type outside skbundle's allowlist: {names}. " + SKOPS_HINT,
    "joblib": "the pickle would import 1 name outside skbundle's allowlist: {names}. "
    + JOBLIB_HINT,
}


def _write(model: Any, fmt: str, directory: Path) -> Path:
    handler = FORMATS[fmt]
    return handler.save(
        model, directory, SaveContext(("x",), np.zeros((1, 1)), handler.check_options({}))
    )


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_a_class_of_the_users_own_still_needs_trusted_types(fmt: str, tmp_path: Path) -> None:
    from tests.custom_steps import Log1p

    data = iris()
    model = make_pipeline(Log1p(), LogisticRegression(**LOG)).fit(data.X_train, data.y_train)
    path = _write(model, fmt, tmp_path)
    handler = FORMATS[fmt]
    with pytest.raises(UntrustedArtifactError) as info:
        handler.load(path.read_bytes(), source=path.name, trusted=frozenset())
    names = ["tests.custom_steps.Log1p"]
    assert str(info.value) == f"Refusing to load {path.name}: " + REFUSED[fmt].format(names=names)
    trusted = frozenset(names)
    loaded = handler.load(path.read_bytes(), source=path.name, trusted=trusted)
    got = loaded.estimator.predict_proba(data.X_test)  # type: ignore[attr-defined]
    assert np.array_equal(got, model.predict_proba(data.X_test))


def _function_hint(nothing: str, names: list[str]) -> str:
    return (
        f"{nothing} {names!r} is not importable by name (a lambda, a function defined inside "
        "another, or one of __main__): name the function in an importable module of your own "
        "and trust it with --trust-type module.function (Python: trusted_types=[...]), or use a "
        "numpy ufunc such as np.log1p."
    )


def _local_function() -> Callable[[Any], Any]:
    def double(x: Any) -> Any:
        return x * 2

    return double


@pytest.mark.parametrize(
    ("func", "written"),
    [
        pytest.param(lambda x: x + 1, f"{__name__}.<lambda>", id="lambda"),
        # skops names a function by module and __name__: this one is not there
        pytest.param(_local_function(), f"{__name__}.double", id="local-function"),
    ],
)
def test_a_lambda_or_local_function_is_refused_with_a_way_forward(
    func: Any, written: str, tmp_path: Path
) -> None:
    """skops writes such a function by a name no loader can import (pickle cannot write it at
    all): trusting that name cannot help, so the refusal says what can."""
    data = iris()
    model = make_pipeline(FunctionTransformer(func), LogisticRegression(**LOG))
    model.fit(data.X_train, data.y_train)
    path = _write(model, "skops", tmp_path)
    with pytest.raises(UntrustedArtifactError) as info:
        FORMATS["skops"].load(path.read_bytes(), source=path.name, trusted=frozenset())
    assert str(info.value) == (
        f"Refusing to load model.skops: it would construct 1 type outside skbundle's allowlist: "
        f"[{written!r}]. " + _function_hint("Nothing was constructed.", [written])
    )


def test_a_function_of_a_script_is_refused_with_a_way_forward(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A function defined in the script that saved the model pickles as ``__main__.<name>``:
    the script that loads it is another ``__main__``."""
    import sys

    def halve(x: Any) -> Any:
        return x / 2

    halve.__module__, halve.__qualname__ = "__main__", "halve"
    monkeypatch.setattr(sys.modules["__main__"], "halve", halve, raising=False)
    data = iris()
    model = make_pipeline(FunctionTransformer(halve), LogisticRegression(**LOG))
    model.fit(data.X_train, data.y_train)
    for fmt, nothing in (
        ("joblib", "Nothing was unpickled."),
        ("skops", "Nothing was constructed."),
    ):
        path = _write(model, fmt, tmp_path)
        with pytest.raises(UntrustedArtifactError) as info:
            FORMATS[fmt].load(path.read_bytes(), source=path.name, trusted=frozenset())
        what = "the pickle would import 1 name" if fmt == "joblib" else "it would construct 1 type"
        assert str(info.value) == (
            f"Refusing to load {path.name}: {what} outside skbundle's allowlist: "
            "['__main__.halve']. " + _function_hint(nothing, ["__main__.halve"])
        )
