"""A zoo of the fitted pipelines users really bring, on real data that packages ship.

Each :class:`Case` names a pipeline and what it exercises (task, model family, dataset, whether
its input has categorical columns or missing values, whether it uses a user-defined class);
``case.build()`` fits it and returns the pipeline with its train and test data. Later tests
save every case as a bundle, load it and compare; the benchmark times them. Nothing here
imports skbundle: this module only builds data and fitted pipelines.

Rules every case follows, so that the zoo is reproducible and cheap:

- ``random_state=42`` wherever an estimator or a split takes one; an 80/20 split, stratified
  for classifiers.
- Every feature column of the dataset is kept, unless the case's docstring says why not.
- Models are modest (50-100 trees, a max_depth where it matters): every case fits in well
  under 2 s on two shared cores. Fits run on one thread (see ``_fit``); prediction is left
  to the caller's thread settings.
- A fit is done once per process (``functools.cache``); the returned objects are shared, so
  callers must not change them.

Data: scikit-learn's bundled ``load_breast_cancer``, ``load_iris``, ``load_wine``,
``load_digits``, ``load_diabetes``, and ``palmerpenguins.load_penguins()`` (344 penguins;
string columns species/island/sex, 11 missing sex, 2 rows with every measurement missing).
Under pandas 3 the penguins' string columns have the ``str`` dtype
(``StringDtype(na_value=nan)``), which is what users now get from ``read_csv``.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from palmerpenguins import load_penguins
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
)
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, SVR, LinearSVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tests.custom_steps import Log1p

RANDOM_STATE = 42
TEST_SIZE = 0.2


@dataclass(frozen=True)
class Fitted:
    """A fitted pipeline and the data it was fitted and is to be tested on."""

    pipeline: Any
    X_train: pd.DataFrame
    y_train: np.ndarray
    X_test: pd.DataFrame
    y_test: np.ndarray


@dataclass(frozen=True)
class Case:
    """One named pipeline of the zoo and what it exercises.

    Attributes
    ----------
    id
        Short and readable, used as the pytest id, e.g. ``"penguins-onehot-forest"``.
    task
        ``"classification"`` or ``"regression"``.
    family
        The model family: ``"forest"``, ``"hgb"``, ``"boosting"``, ``"tree"``, ``"linear"``,
        ``"svm"``, ``"knn"``, ``"bayes"``, ``"neural"`` or ``"meta"`` (search, stacking,
        calibration).
    dataset
        ``"breast_cancer"``, ``"iris"``, ``"wine"``, ``"digits"``, ``"diabetes"`` or
        ``"penguins"``.
    categorical
        The input has string, category or bool columns.
    missing
        The input (train or test) has missing values.
    custom
        The pipeline uses a user-defined class from ``tests/custom_steps.py``.
    """

    id: str
    task: str
    family: str
    dataset: str
    categorical: bool
    missing: bool
    custom: bool = False

    def build(self) -> Fitted:
        """Fit the pipeline (once per process) and return it with its data."""
        return _BUILDERS[self.id]()

    @property
    def about(self) -> str:
        """What the case is and why it is shaped so: its builder's docstring."""
        return (_BUILDERS[self.id].__doc__ or "").strip()


CASES: list[Case] = []
_BUILDERS: dict[str, Callable[[], Fitted]] = {}


def case(id: str) -> Case:
    """The case named ``id``; a ``KeyError`` naming the closest known ids otherwise."""
    for c in CASES:
        if c.id == id:
            return c
    close = difflib.get_close_matches(id, [c.id for c in CASES], n=5, cutoff=0.5)
    raise KeyError(
        f"No zoo case {id!r}: expected one of the {len(CASES)} ids in tests.zoo.CASES"
        f" (closest: {close}). List them with [c.id for c in CASES]."
    )


def _register(
    id: str,
    task: str,
    family: str,
    dataset: str,
    *,
    categorical: bool = False,
    missing: bool = False,
    custom: bool = False,
) -> Callable[[Callable[[], Fitted]], Callable[[], Fitted]]:
    """Add the decorated builder to the zoo under ``id``; its fit is cached per process."""

    def register(builder: Callable[[], Fitted]) -> Callable[[], Fitted]:
        if id in _BUILDERS:
            raise ValueError(f"Zoo case {id!r} is registered twice: ids must be unique.")
        cached = functools.cache(builder)
        _BUILDERS[id] = cached
        CASES.append(Case(id, task, family, dataset, categorical, missing, custom))
        return cached

    return register


# --- data -------------------------------------------------------------------------------------
# Loaders are cached and return the shared frame: builders copy before changing anything.


@functools.cache
def _sklearn(name: str) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    loader = {
        "breast_cancer": load_breast_cancer,
        "iris": load_iris,
        "wine": load_wine,
        "digits": load_digits,
        "diabetes": load_diabetes,
    }[name]
    data = loader(as_frame=True)
    names = [str(n) for n in getattr(data, "target_names", [])]
    return data.data, data.target.to_numpy(), names


def _named(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A scikit-learn classification dataset with string labels (its target names)."""
    X, y, names = _sklearn(name)
    return X.copy(), np.array([names[i] for i in y])


def _integers(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A scikit-learn dataset with its integer target as shipped (no names)."""
    X, y, _ = _sklearn(name)
    return X.copy(), y.copy()


@functools.cache
def _penguins_raw() -> pd.DataFrame:
    return load_penguins()


def _penguins_species() -> tuple[pd.DataFrame, np.ndarray]:
    """Species from every other column; 2 rows miss every measurement, 11 miss sex."""
    df = _penguins_raw().copy()
    return df.drop(columns="species"), df["species"].to_numpy()


def _penguins_mass() -> tuple[pd.DataFrame, np.ndarray]:
    """Body mass from every other column, on the 342 rows whose mass is known (9 miss sex)."""
    df = _penguins_raw()
    df = df[df["body_mass_g"].notna()].copy()
    return df.drop(columns="body_mass_g"), df["body_mass_g"].to_numpy()


PENGUIN_MEASURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"]
PENGUIN_SPECIES_NUMERIC = [*PENGUIN_MEASURES, "body_mass_g", "year"]
PENGUIN_SPECIES_STRINGS = ["island", "sex"]
PENGUIN_MASS_NUMERIC = [*PENGUIN_MEASURES, "year"]
PENGUIN_MASS_STRINGS = ["species", "island", "sex"]


def _fit(pipeline: Any, X: pd.DataFrame, y: np.ndarray, *, stratify: bool) -> Fitted:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=RANDOM_STATE, stratify=y if stratify else None
    )
    # One thread: on a shared 2-core machine OpenMP workers (HistGradientBoosting, BLAS) spin
    # waiting for each other and a 0.1 s fit takes 2 s; the fitted model is the same.
    with threadpool_limits(limits=1):
        pipeline.fit(X_train, y_train)
    return Fitted(pipeline, X_train, y_train, X_test, y_test)


def _classify(pipeline: Any, data: tuple[pd.DataFrame, np.ndarray]) -> Fitted:
    return _fit(pipeline, *data, stratify=True)


def _regress(pipeline: Any, data: tuple[pd.DataFrame, np.ndarray]) -> Fitted:
    return _fit(pipeline, *data, stratify=False)


def _impute_onehot(**onehot: Any) -> Pipeline:
    """Most-frequent imputation of string columns, then one-hot encoding."""
    return make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(**onehot))


def _impute_scale() -> Pipeline:
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


# --- classification: breast cancer (569 x 30, two classes) ------------------------------------


@_register("cancer-demo-forest", "classification", "forest", "breast_cancer")
def _cancer_demo_forest() -> Fitted:
    """The classic demo: StandardScaler -> RandomForestClassifier(100), labels 0/1 as shipped."""
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("model", RandomForestClassifier(n_estimators=100, random_state=RANDOM_STATE)),
        ]
    )
    return _classify(pipe, _integers("breast_cancer"))


@_register("cancer-hgb", "classification", "hgb", "breast_cancer")
def _cancer_hgb() -> Fitted:
    """A bare HistGradientBoostingClassifier (no Pipeline around it), string labels."""
    model = HistGradientBoostingClassifier(max_iter=100, random_state=RANDOM_STATE)
    return _classify(model, _named("breast_cancer"))


@_register("cancer-gradient-boosting", "classification", "boosting", "breast_cancer")
def _cancer_gradient_boosting() -> Fitted:
    """GradientBoostingClassifier: 50 depth-3 trees."""
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=RANDOM_STATE)
    return _classify(make_pipeline(model), _named("breast_cancer"))


@_register("cancer-svc", "classification", "svm", "breast_cancer")
def _cancer_svc() -> Fitted:
    """SVC() with its defaults: no predict_proba, only decision_function."""
    return _classify(make_pipeline(StandardScaler(), SVC()), _named("breast_cancer"))


@_register("cancer-linear-svc", "classification", "svm", "breast_cancer")
def _cancer_linear_svc() -> Fitted:
    """LinearSVC: no predict_proba."""
    model = LinearSVC(random_state=RANDOM_STATE)
    return _classify(make_pipeline(StandardScaler(), model), _named("breast_cancer"))


@_register("cancer-ridge-classifier", "classification", "linear", "breast_cancer")
def _cancer_ridge_classifier() -> Fitted:
    """RidgeClassifier: no predict_proba."""
    return _classify(make_pipeline(StandardScaler(), RidgeClassifier()), _named("breast_cancer"))


@_register("cancer-calibrated-linear-svc", "classification", "meta", "breast_cancer")
def _cancer_calibrated() -> Fitted:
    """CalibratedClassifierCV gives LinearSVC a predict_proba (3 folds, sigmoid)."""
    model = CalibratedClassifierCV(LinearSVC(random_state=RANDOM_STATE), cv=3)
    return _classify(make_pipeline(StandardScaler(), model), _named("breast_cancer"))


@_register("cancer-log1p-logistic", "classification", "linear", "breast_cancer")
def _cancer_log1p_logistic() -> Fitted:
    """FunctionTransformer(np.log1p) first: every cancer feature is >= 0."""
    pipe = make_pipeline(
        FunctionTransformer(np.log1p),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    )
    return _classify(pipe, _named("breast_cancer"))


@_register("cancer-custom-log1p-logistic", "classification", "linear", "breast_cancer", custom=True)
def _cancer_custom_log1p() -> Fitted:
    """The user-defined Log1p of tests/custom_steps.py as a Pipeline step."""
    pipe = Pipeline(
        [
            ("log", Log1p()),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=1000)),
        ]
    )
    return _classify(pipe, _named("breast_cancer"))


@_register("cancer-grid-search", "classification", "meta", "breast_cancer")
def _cancer_grid_search() -> Fitted:
    """GridSearchCV over a Pipeline (3 values of C, 3 folds): the fitted object is the search."""
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipe, {"model__C": [0.1, 1.0, 10.0]}, cv=3)
    return _classify(search, _named("breast_cancer"))


@_register("cancer-stacking", "classification", "meta", "breast_cancer")
def _cancer_stacking() -> Fitted:
    """StackingClassifier of a forest and an SVC (decision_function only) under a logistic."""
    model = StackingClassifier(
        estimators=[
            (
                "forest",
                RandomForestClassifier(n_estimators=50, max_depth=6, random_state=RANDOM_STATE),
            ),
            ("svc", make_pipeline(StandardScaler(), SVC())),
        ],
        final_estimator=LogisticRegression(max_iter=1000),
        cv=3,
    )
    return _classify(model, _named("breast_cancer"))


@_register("cancer-bool-column", "classification", "linear", "breast_cancer", categorical=True)
def _cancer_bool_column() -> Fitted:
    """A derived bool column, "worst area above median" (over all 569 rows), beside the 30
    numeric ones: the numbers are scaled (selected by dtype), the bool passes through."""
    X, y = _named("breast_cancer")
    X["worst area above median"] = X["worst area"] > X["worst area"].median()
    prep = ColumnTransformer(
        [("scale", StandardScaler(), make_column_selector(dtype_include="number"))],
        remainder="passthrough",
    )
    return _classify(make_pipeline(prep, LogisticRegression(max_iter=1000)), (X, y))


# --- classification: iris, wine, digits -------------------------------------------------------


@_register("iris-knn-int-labels", "classification", "knn", "iris")
def _iris_knn() -> Fitted:
    """KNeighborsClassifier, integer labels 0/1/2 as shipped."""
    pipe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5))
    return _classify(pipe, _integers("iris"))


@_register("iris-mlp", "classification", "neural", "iris")
def _iris_mlp() -> Fitted:
    """A small MLPClassifier (one hidden layer of 16), lbfgs so it converges quietly."""
    model = MLPClassifier(
        hidden_layer_sizes=(16,), solver="lbfgs", max_iter=2000, random_state=RANDOM_STATE
    )
    return _classify(make_pipeline(StandardScaler(), model), _named("iris"))


@_register("wine-extra-trees-int-labels", "classification", "forest", "wine")
def _wine_extra_trees() -> Fitted:
    """ExtraTreesClassifier(100), integer labels 0/1/2 as shipped."""
    model = ExtraTreesClassifier(n_estimators=100, random_state=RANDOM_STATE)
    return _classify(make_pipeline(model), _integers("wine"))


@_register("wine-decision-tree-int-labels", "classification", "tree", "wine")
def _wine_decision_tree() -> Fitted:
    """DecisionTreeClassifier(max_depth=4), integer labels."""
    model = DecisionTreeClassifier(max_depth=4, random_state=RANDOM_STATE)
    return _classify(make_pipeline(model), _integers("wine"))


@_register("wine-gaussian-nb", "classification", "bayes", "wine")
def _wine_gaussian_nb() -> Fitted:
    """GaussianNB on scaled features, string labels."""
    return _classify(make_pipeline(StandardScaler(), GaussianNB()), _named("wine"))


@_register("digits-pca-logistic", "classification", "linear", "digits")
def _digits_pca_logistic() -> Fitted:
    """64 pixel columns -> PCA(20) -> LogisticRegression over 10 integer classes."""
    pipe = make_pipeline(
        StandardScaler(),
        PCA(n_components=20, random_state=RANDOM_STATE),
        LogisticRegression(max_iter=2000),
    )
    return _classify(pipe, _integers("digits"))


# --- classification: penguins species (strings, missing values) -------------------------------


@_register(
    "penguins-onehot-forest",
    "classification",
    "forest",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_onehot_forest() -> Fitted:
    """The textbook ColumnTransformer, columns by name: numbers imputed (median) and scaled,
    strings imputed (most frequent) and one-hot encoded (handle_unknown="ignore")."""
    prep = ColumnTransformer(
        [
            ("num", _impute_scale(), PENGUIN_SPECIES_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_SPECIES_STRINGS),
        ]
    )
    model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register(
    "penguins-infrequent-logistic",
    "classification",
    "linear",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_infrequent_logistic() -> Fitted:
    """OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=50): Torgersen (about
    42 training rows) becomes the infrequent category. Columns chosen by make_column_selector:
    strings by dtype_exclude="number", measurements by the pattern "_mm$"."""
    prep = ColumnTransformer(
        [
            ("measures", _impute_scale(), make_column_selector(pattern="_mm$")),
            ("mass_year", _impute_scale(), ["body_mass_g", "year"]),
            (
                "cat",
                _impute_onehot(handle_unknown="infrequent_if_exist", min_frequency=50),
                make_column_selector(dtype_exclude="number"),
            ),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))])
    return _classify(pipe, _penguins_species())


@_register(
    "penguins-onehot-error-svc",
    "classification",
    "svm",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_onehot_error_svc() -> Fitted:
    """OneHotEncoder(handle_unknown="error"), the default: an unseen island must be refused."""
    prep = ColumnTransformer(
        [
            ("num", _impute_scale(), PENGUIN_SPECIES_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="error"), PENGUIN_SPECIES_STRINGS),
        ]
    )
    return _classify(Pipeline([("prep", prep), ("model", SVC())]), _penguins_species())


@_register(
    "penguins-ordinal-hgb",
    "classification",
    "hgb",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_ordinal_hgb() -> Fitted:
    """OrdinalEncoder (unknown -> -1, missing stays NaN) then HistGradientBoosting, which
    routes NaN itself; the numeric columns pass through unimputed (remainder="passthrough")."""
    prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                PENGUIN_SPECIES_STRINGS,
            )
        ],
        remainder="passthrough",
    )
    model = HistGradientBoostingClassifier(max_iter=100, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register(
    "penguins-category-hgb",
    "classification",
    "hgb",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_category_hgb() -> Fitted:
    """pandas "category" columns (island and sex, by .astype("category"); sex keeps its NaN)
    read by HistGradientBoosting with categorical_features="from_dtype", no encoder."""
    X, y = _penguins_species()
    X = X.astype({"island": "category", "sex": "category"})
    model = HistGradientBoostingClassifier(
        max_iter=100, categorical_features="from_dtype", random_state=RANDOM_STATE
    )
    return _classify(model, (X, y))


@_register("penguins-bool-logistic", "classification", "linear", "penguins", categorical=True)
def _penguins_bool_logistic() -> Fitted:
    """A bool column: sex becomes male = (sex == "male") on the 333 rows whose sex is known
    (which also drops both rows with no measurements). Island is one-hot encoded, the numbers
    (selected by dtype) scaled, and the bool passes through (remainder="passthrough")."""
    df = _penguins_raw()
    df = df[df["sex"].notna()].copy()
    X = df.drop(columns=["species", "sex"]).assign(male=df["sex"] == "male")
    prep = ColumnTransformer(
        [
            ("island", OneHotEncoder(sparse_output=False), ["island"]),
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
        ],
        remainder="passthrough",
    )
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))])
    return _classify(pipe, (X, df["species"].to_numpy()))


@_register(
    "penguins-pandas-output-logistic",
    "classification",
    "linear",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_pandas_output() -> Fitted:
    """set_output(transform="pandas") on the whole Pipeline: every step hands on a DataFrame."""
    prep = ColumnTransformer(
        [
            ("num", _impute_scale(), make_column_selector(dtype_include="number")),
            (
                "cat",
                _impute_onehot(handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            ),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))])
    return _classify(pipe.set_output(transform="pandas"), _penguins_species())


@_register(
    "penguins-index-passthrough-forest-nan",
    "classification",
    "forest",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_index_passthrough() -> Fitted:
    """Columns chosen by position: island (0) and sex (5) one-hot encoded, a missing sex as
    its own category; the numbers pass through with their NaN, which the forest routes
    natively (no imputer)."""
    prep = ColumnTransformer(
        [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [0, 5])],
        remainder="passthrough",
    )
    model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register(
    "penguins-ordinal-extra-trees-nan",
    "classification",
    "forest",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_extra_trees_nan() -> Fitted:
    """OrdinalEncoder keeps a missing sex as NaN; ExtraTrees routes every NaN natively."""
    prep = ColumnTransformer(
        [("cat", OrdinalEncoder(), PENGUIN_SPECIES_STRINGS)], remainder="passthrough"
    )
    model = ExtraTreesClassifier(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register(
    "penguins-knn",
    "classification",
    "knn",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_knn() -> Fitted:
    """KNeighborsClassifier on imputed, scaled numbers and one-hot strings."""
    prep = ColumnTransformer(
        [
            ("num", _impute_scale(), PENGUIN_SPECIES_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_SPECIES_STRINGS),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", KNeighborsClassifier(n_neighbors=7))])
    return _classify(pipe, _penguins_species())


@_register(
    "penguins-gradient-boosting",
    "classification",
    "boosting",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_gradient_boosting() -> Fitted:
    """GradientBoostingClassifier (50 depth-3 trees per class) after imputation."""
    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), PENGUIN_SPECIES_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_SPECIES_STRINGS),
        ]
    )
    model = GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


# --- regression: diabetes (442 x 10) ----------------------------------------------------------


@_register("diabetes-linear", "regression", "linear", "diabetes")
def _diabetes_linear() -> Fitted:
    """LinearRegression, nothing else."""
    return _regress(make_pipeline(LinearRegression()), _integers("diabetes"))


@_register("diabetes-ridge", "regression", "linear", "diabetes")
def _diabetes_ridge() -> Fitted:
    """StandardScaler -> Ridge."""
    return _regress(make_pipeline(StandardScaler(), Ridge(alpha=1.0)), _integers("diabetes"))


@_register("diabetes-lasso", "regression", "linear", "diabetes")
def _diabetes_lasso() -> Fitted:
    """StandardScaler -> Lasso(alpha=0.5): a few coefficients are exactly zero."""
    model = Lasso(alpha=0.5, random_state=RANDOM_STATE)
    return _regress(make_pipeline(StandardScaler(), model), _integers("diabetes"))


@_register("diabetes-svr", "regression", "svm", "diabetes")
def _diabetes_svr() -> Fitted:
    """StandardScaler -> SVR (RBF, C=50 since the target spans 25-346)."""
    return _regress(make_pipeline(StandardScaler(), SVR(C=50.0)), _integers("diabetes"))


@_register("diabetes-knn", "regression", "knn", "diabetes")
def _diabetes_knn() -> Fitted:
    """StandardScaler -> KNeighborsRegressor(10)."""
    pipe = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=10))
    return _regress(pipe, _integers("diabetes"))


@_register("diabetes-decision-tree", "regression", "tree", "diabetes")
def _diabetes_decision_tree() -> Fitted:
    """DecisionTreeRegressor(max_depth=4)."""
    model = DecisionTreeRegressor(max_depth=4, random_state=RANDOM_STATE)
    return _regress(make_pipeline(model), _integers("diabetes"))


@_register("diabetes-forest", "regression", "forest", "diabetes")
def _diabetes_forest() -> Fitted:
    """RandomForestRegressor(100, max_depth=8)."""
    model = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _regress(make_pipeline(model), _integers("diabetes"))


@_register("diabetes-extra-trees", "regression", "forest", "diabetes")
def _diabetes_extra_trees() -> Fitted:
    """ExtraTreesRegressor(100, max_depth=8)."""
    model = ExtraTreesRegressor(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _regress(make_pipeline(model), _integers("diabetes"))


@_register("diabetes-gradient-boosting", "regression", "boosting", "diabetes")
def _diabetes_gradient_boosting() -> Fitted:
    """GradientBoostingRegressor(100 depth-3 trees)."""
    model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=RANDOM_STATE)
    return _regress(make_pipeline(model), _integers("diabetes"))


@_register("diabetes-hgb", "regression", "hgb", "diabetes")
def _diabetes_hgb() -> Fitted:
    """A bare HistGradientBoostingRegressor (no Pipeline around it)."""
    model = HistGradientBoostingRegressor(max_iter=100, random_state=RANDOM_STATE)
    return _regress(model, _integers("diabetes"))


@_register("diabetes-log-target-ridge", "regression", "meta", "diabetes")
def _diabetes_log_target() -> Fitted:
    """TransformedTargetRegressor(func=np.log1p, inverse_func=np.expm1) around a Pipeline."""
    model = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
        func=np.log1p,
        inverse_func=np.expm1,
    )
    return _regress(model, _integers("diabetes"))


@_register("diabetes-columns-by-name-ridge", "regression", "linear", "diabetes")
def _diabetes_columns_by_name() -> Fitted:
    """A numeric-only ColumnTransformer selecting by name: the six blood serum columns are
    scaled, the other four pass through by name."""
    prep = ColumnTransformer(
        [
            ("serum", StandardScaler(), ["s1", "s2", "s3", "s4", "s5", "s6"]),
            ("rest", "passthrough", ["age", "sex", "bmi", "bp"]),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", Ridge(alpha=0.1))])
    return _regress(pipe, _integers("diabetes"))


@_register("diabetes-stacking", "regression", "meta", "diabetes")
def _diabetes_stacking() -> Fitted:
    """StackingRegressor of a Ridge and a forest under a Ridge."""
    model = StackingRegressor(
        estimators=[
            ("ridge", make_pipeline(StandardScaler(), Ridge())),
            (
                "forest",
                RandomForestRegressor(n_estimators=50, max_depth=6, random_state=RANDOM_STATE),
            ),
        ],
        final_estimator=Ridge(),
        cv=3,
    )
    return _regress(model, _integers("diabetes"))


# --- regression: penguins body mass (strings, missing sex) ------------------------------------


@_register(
    "penguins-mass-onehot-ridge",
    "regression",
    "linear",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_ridge() -> Fitted:
    """Numbers scaled, strings imputed (most frequent) and one-hot encoded, then Ridge."""
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), PENGUIN_MASS_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_MASS_STRINGS),
        ]
    )
    return _regress(Pipeline([("prep", prep), ("model", Ridge())]), _penguins_mass())


@_register(
    "penguins-mass-category-hgb",
    "regression",
    "hgb",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_category_hgb() -> Fitted:
    """species, island and sex as pandas "category" columns; HistGradientBoostingRegressor
    with categorical_features="from_dtype"."""
    X, y = _penguins_mass()
    X = X.astype({column: "category" for column in PENGUIN_MASS_STRINGS})
    model = HistGradientBoostingRegressor(
        max_iter=100, categorical_features="from_dtype", random_state=RANDOM_STATE
    )
    return _regress(model, (X, y))


@_register(
    "penguins-mass-ordinal-forest-nan",
    "regression",
    "forest",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_forest() -> Fitted:
    """OrdinalEncoder keeps a missing sex as NaN; the forest routes it natively (no imputer)."""
    prep = ColumnTransformer(
        [("cat", OrdinalEncoder(), PENGUIN_MASS_STRINGS)], remainder="passthrough"
    )
    model = RandomForestRegressor(n_estimators=100, max_depth=8, random_state=RANDOM_STATE)
    return _regress(Pipeline([("prep", prep), ("model", model)]), _penguins_mass())


@_register(
    "penguins-mass-custom-log1p-ridge",
    "regression",
    "linear",
    "penguins",
    categorical=True,
    missing=True,
    custom=True,
)
def _penguins_mass_custom() -> Fitted:
    """The user-defined Log1p of tests/custom_steps.py inside a ColumnTransformer, on the
    three measurements; year passes through, strings are imputed and one-hot encoded."""
    prep = ColumnTransformer(
        [
            ("log", make_pipeline(Log1p(), StandardScaler()), PENGUIN_MEASURES),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_MASS_STRINGS),
        ],
        remainder="passthrough",
    )
    return _regress(Pipeline([("prep", prep), ("model", Ridge())]), _penguins_mass())


@_register(
    "penguins-mass-log-target-hgb",
    "regression",
    "meta",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_log_target() -> Fitted:
    """TransformedTargetRegressor(np.log1p / np.expm1) around OrdinalEncoder -> HGB."""
    prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                PENGUIN_MASS_STRINGS,
            )
        ],
        remainder="passthrough",
    )
    model = TransformedTargetRegressor(
        regressor=Pipeline(
            [
                ("prep", prep),
                ("model", HistGradientBoostingRegressor(max_iter=100, random_state=RANDOM_STATE)),
            ]
        ),
        func=np.log1p,
        inverse_func=np.expm1,
    )
    return _regress(model, _penguins_mass())


@_register(
    "penguins-mass-grid-search",
    "regression",
    "meta",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_grid_search() -> Fitted:
    """GridSearchCV over a Pipeline with a ColumnTransformer (alpha of Ridge, 3 folds)."""
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), PENGUIN_MASS_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_MASS_STRINGS),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", Ridge())])
    search = GridSearchCV(pipe, {"model__alpha": [0.1, 1.0, 10.0]}, cv=3)
    return _regress(search, _penguins_mass())


@_register(
    "penguins-mass-knn",
    "regression",
    "knn",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_knn() -> Fitted:
    """KNeighborsRegressor on scaled numbers and one-hot strings."""
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), PENGUIN_MASS_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_MASS_STRINGS),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", KNeighborsRegressor(n_neighbors=7))])
    return _regress(pipe, _penguins_mass())


# --- the gradient-boosting libraries users bring: LightGBM and XGBoost ------------------------
# Imported in the builders: importing either costs a few tenths of a second, and most callers
# of the zoo never build these cases.


@_register("cancer-lightgbm", "classification", "boosting", "breast_cancer")
def _cancer_lightgbm() -> Fitted:
    """LightGBM's LGBMClassifier (50 trees, one thread) after a StandardScaler, string labels."""
    from lightgbm import LGBMClassifier

    model = LGBMClassifier(n_estimators=50, random_state=RANDOM_STATE, n_jobs=1, verbose=-1)
    return _classify(make_pipeline(StandardScaler(), model), _named("breast_cancer"))


@_register(
    "penguins-onehot-lightgbm",
    "classification",
    "boosting",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_onehot_lightgbm() -> Fitted:
    """A ColumnTransformer before LGBMClassifier: numbers scaled with their NaN kept (LightGBM
    routes them itself), strings imputed (most frequent) and one-hot encoded."""
    from lightgbm import LGBMClassifier

    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), PENGUIN_SPECIES_NUMERIC),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_SPECIES_STRINGS),
        ]
    )
    model = LGBMClassifier(n_estimators=50, random_state=RANDOM_STATE, n_jobs=1, verbose=-1)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register("diabetes-xgboost", "regression", "boosting", "diabetes")
def _diabetes_xgboost() -> Fitted:
    """XGBoost's XGBRegressor (50 trees, hist, one thread) after a StandardScaler."""
    from xgboost import XGBRegressor

    model = XGBRegressor(n_estimators=50, random_state=RANDOM_STATE, n_jobs=1)
    return _regress(make_pipeline(StandardScaler(), model), _integers("diabetes"))


@_register("iris-xgboost-int-labels", "classification", "boosting", "iris")
def _iris_xgboost() -> Fitted:
    """XGBClassifier (multi:softprob, 50 rounds) after a StandardScaler, labels 0/1/2 as
    shipped: XGBoost itself wants the labels 0..K-1."""
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=50, random_state=RANDOM_STATE, n_jobs=1)
    return _classify(make_pipeline(StandardScaler(), model), _integers("iris"))


# --- the other scalers, imputation with an indicator, numpy functions -------------------------


@_register("cancer-minmax-forest", "classification", "forest", "breast_cancer")
def _cancer_minmax_forest() -> Fitted:
    """MinMaxScaler -> RandomForestClassifier(50, max_depth=8), string labels."""
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=RANDOM_STATE)
    return _classify(make_pipeline(MinMaxScaler(), model), _named("breast_cancer"))


@_register("diabetes-robust-extra-trees", "regression", "forest", "diabetes")
def _diabetes_robust_extra_trees() -> Fitted:
    """RobustScaler (median and IQR) -> ExtraTreesRegressor(50, max_depth=8)."""
    model = ExtraTreesRegressor(n_estimators=50, max_depth=8, random_state=RANDOM_STATE)
    return _regress(make_pipeline(RobustScaler(), model), _integers("diabetes"))


@_register("wine-sqrt-maxabs-tree", "classification", "tree", "wine")
def _wine_sqrt_maxabs_tree() -> Fitted:
    """FunctionTransformer(np.sqrt) (every wine feature is >= 0), MaxAbsScaler(clip=True),
    then DecisionTreeClassifier(max_depth=5), string labels."""
    pipe = make_pipeline(
        FunctionTransformer(np.sqrt),
        MaxAbsScaler(clip=True),
        DecisionTreeClassifier(max_depth=5, random_state=RANDOM_STATE),
    )
    return _classify(pipe, _named("wine"))


@_register(
    "penguins-indicator-hgb",
    "classification",
    "hgb",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_indicator_hgb() -> Fitted:
    """SimpleImputer(strategy="mean", add_indicator=True) on the numbers (missing-value
    columns appended), OrdinalEncoder (unknown -> -1) on the strings, then
    HistGradientBoosting."""
    prep = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="mean", add_indicator=True), PENGUIN_SPECIES_NUMERIC),
            (
                "cat",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                PENGUIN_SPECIES_STRINGS,
            ),
        ]
    )
    model = HistGradientBoostingClassifier(max_iter=50, random_state=RANDOM_STATE)
    return _classify(Pipeline([("prep", prep), ("model", model)]), _penguins_species())


@_register(
    "penguins-mass-minmax-clip-forest",
    "regression",
    "forest",
    "penguins",
    categorical=True,
    missing=True,
)
def _penguins_mass_minmax_clip_forest() -> Fitted:
    """Numbers imputed (constant 0) with an indicator, then MinMaxScaler(clip=True); strings
    one-hot encoded (unknown ignored); RandomForestRegressor(50, max_depth=8)."""
    prep = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True),
                    MinMaxScaler(clip=True),
                ),
                PENGUIN_MASS_NUMERIC,
            ),
            ("cat", _impute_onehot(handle_unknown="ignore"), PENGUIN_MASS_STRINGS),
        ]
    )
    model = RandomForestRegressor(n_estimators=50, max_depth=8, random_state=RANDOM_STATE)
    return _regress(Pipeline([("prep", prep), ("model", model)]), _penguins_mass())
