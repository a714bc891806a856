"""LightGBM and XGBoost inside a Pipeline, served by skbundle's own exact ONNX with no flags.

Their scikit-learn wrappers hold a ``Booster`` that skops and joblib rebuild by handing a
model string to the library's C++ parser; skbundle does not trust that parser with a file it
did not write, so the Booster types are not on the allowlist. The exact ONNX writer instead
reads the trees from the fitted model at save time (``onnx_graph``): LightGBM's float64
``<=`` splits summed in float64, XGBoost's float32 ``<`` splits summed in float32 from the
base margin, each library's link reproduced by the runtime (``onnx_format.LINKS``). Each case
is a real fitted pipeline: saved, loaded with no flags, and its ONNX answers must equal the
pipeline's own ``predict_proba`` / ``predict`` bit for bit, on the held-out rows and on every
parity set the manifest records.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import skbundle
from skbundle.errors import ExactConversionUnsupported, UntrustedArtifactError
from skbundle.formats import onnx_format, onnx_graph
from tests import zoo
from tests.zoo import Fitted
from tests.zoo_bundles import save_fitted

ONE_THREAD = {"random_state": zoo.RANDOM_STATE, "n_jobs": 1}
LGBM = {**ONE_THREAD, "n_estimators": 50, "verbose": -1}
XGB = {**ONE_THREAD, "n_estimators": 50}


# --- pipelines beyond the zoo's four ------------------------------------------------------------
def _iris_lightgbm() -> Fitted:
    """Multiclass LightGBM (softmax) with string labels."""
    pipe = make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(**LGBM))
    return zoo._classify(pipe, zoo._named("iris"))


def _diabetes_lightgbm() -> Fitted:
    pipe = make_pipeline(StandardScaler(), lightgbm.LGBMRegressor(**LGBM))
    return zoo._regress(pipe, zoo._integers("diabetes"))


def _cancer_xgboost() -> Fitted:
    """Binary XGBoost (binary:logistic: the base score is a probability, its margin a logf)."""
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), xgboost.XGBClassifier(**XGB))
    return zoo._classify(pipe, zoo._integers("breast_cancer"))


def _penguins_mass_xgboost() -> Fitted:
    """XGBRegressor after a ColumnTransformer: numbers scaled with NaN kept (XGBoost's default
    children), strings imputed and one-hot encoded."""
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), zoo.PENGUIN_MASS_NUMERIC),
            ("cat", zoo._impute_onehot(handle_unknown="ignore"), zoo.PENGUIN_MASS_STRINGS),
        ]
    )
    pipe = Pipeline([("prep", prep), ("model", xgboost.XGBRegressor(**XGB))])
    return zoo._regress(pipe, zoo._penguins_mass())


def _cancer_lightgbm_nan() -> Fitted:
    """LightGBM on scaled numbers with 10% of them missing (StandardScaler keeps NaN): its own
    NaN routing per node (``missing_type`` NaN, ``default_left``)."""
    X, y = zoo._integers("breast_cancer")
    rng = np.random.default_rng(zoo.RANDOM_STATE)
    X = X.mask(rng.random(X.shape) < 0.1)
    return zoo._classify(make_pipeline(StandardScaler(), lightgbm.LGBMClassifier(**LGBM)), (X, y))


BUILT = {
    "cancer-lightgbm": lambda: zoo.case("cancer-lightgbm").build(),
    "penguins-onehot-lightgbm": lambda: zoo.case("penguins-onehot-lightgbm").build(),
    "iris-lightgbm": _iris_lightgbm,
    "diabetes-lightgbm": _diabetes_lightgbm,
    "cancer-lightgbm-nan": _cancer_lightgbm_nan,
    "cancer-xgboost": _cancer_xgboost,
    "iris-xgboost-int-labels": lambda: zoo.case("iris-xgboost-int-labels").build(),
    "diabetes-xgboost": lambda: zoo.case("diabetes-xgboost").build(),
    "penguins-mass-xgboost": _penguins_mass_xgboost,
}
WITH_BOUNDARY = {"cancer-lightgbm", "iris-lightgbm", "diabetes-lightgbm", "cancer-lightgbm-nan",
                 "cancer-xgboost", "iris-xgboost-int-labels", "diabetes-xgboost"}  # fmt: skip
"""Cases whose preprocessing parity can invert (no ColumnTransformer): boundary rows exist."""
WITH_MISSING = {"penguins-onehot-lightgbm", "cancer-lightgbm-nan", "penguins-mass-xgboost"}
LIBRARY_CASES = [("cancer-lightgbm", "lightgbm"), ("iris-xgboost-int-labels", "xgboost")]
BOOSTER = {"lightgbm": "lightgbm.basic.Booster", "xgboost": "xgboost.core.Booster"}


@functools.cache
def _saved(case_id: str, root: Path) -> tuple[Fitted, Path]:
    fitted = BUILT[case_id]()
    return fitted, save_fitted(fitted, root / case_id, case_id)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("gbm")
    return lambda case_id: _saved(case_id, root)


def _expected(fitted: Fitted) -> np.ndarray:
    pipe = fitted.pipeline
    if hasattr(pipe, "predict_proba"):
        return np.asarray(pipe.predict_proba(fitted.X_test), dtype=np.float64)
    return np.asarray(pipe.predict(fitted.X_test), dtype=np.float64).reshape(-1, 1)


@pytest.mark.parametrize("case_id", sorted(BUILT))
def test_loads_with_no_flags_on_onnx_and_equals_the_pipeline(saved: Any, case_id: str) -> None:
    fitted, path = saved(case_id)
    bundle = skbundle.load(path)
    assert bundle.runtime.format == "onnx", bundle.runtime
    assert "parity with the fitted pipeline is exact" in bundle.runtime.reason
    expected = _expected(fitted)
    results = bundle.predict(fitted.X_test)
    if bundle.task == "regression":
        got = np.array([[r["prediction"]] for r in results])
    else:
        got = np.array([[r["probabilities"][c] for c in bundle.classes] for r in results])
    assert np.array_equal(got, expected), (
        f"{case_id} on onnx: max |diff| {np.abs(got - expected).max()}"
    )
    assert np.array_equal(bundle.predict_validated(bundle.validate(fitted.X_test)), expected)


@pytest.mark.parametrize("case_id", sorted(BUILT))
def test_every_parity_set_is_exact(saved: Any, case_id: str) -> None:
    _, path = saved(case_id)
    parity = skbundle.load(path).manifest.parity["onnx"]
    assert parity.exact, parity
    for name, result in parity.sets.items():
        assert (result.max_abs_diff, result.label_agreement) == (0.0, 1.0), (case_id, name)
    if case_id in WITH_BOUNDARY:
        assert parity.sets["boundary"].n_rows > 0, parity.notes["boundary"]
        assert re.fullmatch(
            r"\d+ split nodes x 3 \(1 ulp below, on, 1 ulp above the threshold in "
            r"float(32|64)\); \d+ of \d+ rows verified to land there",
            parity.notes["boundary"],
        )
    if case_id in WITH_MISSING:
        assert parity.sets["missing"].n_rows > 0
    if case_id.startswith("penguins"):
        assert parity.sets["categories"].n_rows > 0


@pytest.mark.parametrize(
    ("case_id", "precision"),
    [("cancer-lightgbm", "float64"), ("diabetes-xgboost", "float32")],
)
def test_boundary_rows_sit_on_the_library_thresholds_in_its_precision(
    saved: Any, case_id: str, precision: str
) -> None:
    _, path = saved(case_id)
    note = skbundle.load(path).manifest.parity["onnx"].notes["boundary"]
    assert f"the threshold in {precision});" in note


@pytest.mark.parametrize(("case_id", "library"), LIBRARY_CASES)
def test_skops_without_trust_is_refused_naming_the_booster_and_onnx(
    saved: Any, case_id: str, library: str
) -> None:
    _, path = saved(case_id)
    name = {"lightgbm": "LightGBM", "xgboost": "XGBoost"}[library]
    with pytest.raises(UntrustedArtifactError) as info:
        skbundle.load(path, runtime="skops")
    assert str(info.value) == (
        f"Refusing to load {path / 'model.skops'}: it would construct 1 type outside "
        f"skbundle's allowlist: ['{BOOSTER[library]}']. Nothing was constructed. If you trust "
        "those types, pass them as trusted_types=[...] to skbundle.load() (CLI: --trust-type "
        "NAME, once per type); never take that list from the file. Without them, ONNX serves "
        "such a bundle by default: skbundle.load() with no runtime picks model.onnx when its "
        f"parity is exact, and {name}'s model parser never reads the bundle ('skbundle "
        "inspect' shows whether this bundle has one, and why not)."
    )


@pytest.mark.parametrize(("case_id", "library"), LIBRARY_CASES)
def test_skops_with_the_booster_trusted_still_loads(saved: Any, case_id: str, library: str) -> None:
    fitted, path = saved(case_id)
    bundle = skbundle.load(path, runtime="skops", trusted_types=[BOOSTER[library]])
    assert bundle.runtime.format == "skops"
    assert np.array_equal(bundle.predict_proba(fitted.X_test), _expected(fitted))


@pytest.mark.parametrize(("case_id", "package"), [("cancer-lightgbm", "lightgbm"),
                                                  ("diabetes-xgboost", "xgboost-cpu")])  # fmt: skip
def test_requirements_pin_the_library(saved: Any, case_id: str, package: str) -> None:
    _, path = saved(case_id)
    lines = (path / "requirements-skops.txt").read_text().splitlines()
    assert any(line.startswith(f"{package}==") for line in lines), lines


# --- links: each library's own formula, to the last bit -----------------------------------------
def test_xgboost_links_equal_xgboost_at_saturated_margins(saved: Any) -> None:
    """``base_margin`` moves every margin far out, where float32 ``expf`` saturates and
    XGBoost clamps at 88.7."""
    for case_id, link in (("cancer-xgboost", "xgboost-expit"),
                          ("iris-xgboost-int-labels", "xgboost-softmax")):  # fmt: skip
        fitted, _ = saved(case_id)
        model = fitted.pipeline[-1]
        X = fitted.pipeline[:-1].transform(fitted.X_test)
        width = 1 if link == "xgboost-expit" else len(model.classes_)
        for shift in (-200.0, -88.7, -40.0, 0.0, 15.0, 40.0, 200.0):
            offset = np.full((len(X), width), shift, dtype=np.float32)
            offset[:, 0] = -shift if width > 1 else shift
            margin = model.predict(X, output_margin=True, base_margin=offset.squeeze())
            got = onnx_format.LINKS[link](np.asarray(margin, np.float64).reshape(len(X), -1))
            expected = model.predict_proba(X, base_margin=offset.squeeze()).astype(np.float64)
            assert np.array_equal(got, expected), (case_id, shift)


def test_lightgbm_softmax_is_the_c_loop_not_numpy(saved: Any) -> None:
    fitted, _ = saved("iris-lightgbm")
    model = fitted.pipeline[-1]
    X = fitted.pipeline[:-1].transform(fitted.X_test)
    raw = model.predict(X, raw_score=True)
    for scale in (1.0, 7.0, 31.0):
        got = onnx_format.LINKS["lightgbm-softmax"](raw * scale)
        exp = np.exp(raw * scale - np.max(raw * scale, axis=1, keepdims=True))
        assert np.allclose(got, exp / exp.sum(axis=1, keepdims=True), rtol=1e-12, atol=0)
    assert np.array_equal(onnx_format.LINKS["lightgbm-softmax"](raw), model.predict_proba(X))


# --- refused: what cannot be exact ----------------------------------------------------------------
def _penguins_island_category() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = zoo._penguins_species()
    X = X[["island", "bill_length_mm", "flipper_length_mm"]].copy()
    X["island"] = X["island"].astype("category")
    return X, y


def _numbers() -> tuple[np.ndarray, np.ndarray]:
    X, y, _ = zoo._sklearn("diabetes")
    return X.to_numpy(dtype=np.float64), y.astype(np.float64)


def _fitted(estimator: Any, data: tuple[Any, Any]) -> Any:
    return estimator.fit(*data)


REFUSED = [
    pytest.param(
        lambda: _fitted(
            lightgbm.LGBMClassifier(**LGBM, min_child_samples=5), _penguins_island_category()
        ),
        "LightGBM categorical split (decision_type '=='): only numeric splits are converted",
        id="lightgbm-categorical-split",
    ),
    pytest.param(
        lambda: _fitted(lightgbm.LGBMRegressor(**LGBM, objective="poisson"), _numbers()),
        "LGBMRegressor with objective 'poisson': its output is not the raw score",
        id="lightgbm-poisson",
    ),
    pytest.param(
        lambda: _fitted(lightgbm.LGBMRegressor(**LGBM, linear_tree=True), _numbers()),
        "LightGBM with linear_tree=True (a linear model per leaf)",
        id="lightgbm-linear-tree",
    ),
    pytest.param(
        lambda: _fitted(
            lightgbm.LGBMRegressor(**LGBM, boosting_type="rf", subsample=0.5, subsample_freq=1),
            _numbers(),
        ),
        "LightGBM with boosting_type='rf' (averaged trees)",
        id="lightgbm-random-forest",
    ),
    pytest.param(
        lambda: _fitted(xgboost.XGBRegressor(**XGB, missing=0.0), _numbers()),
        "XGBoost with missing=0.0: only NaN as the missing value is converted",
        id="xgboost-missing-zero",
    ),
    pytest.param(
        lambda: _fitted(xgboost.XGBRegressor(**XGB, booster="dart"), _numbers()),
        "XGBoost with booster='dart' (converted: gbtree)",
        id="xgboost-dart",
    ),
    pytest.param(
        lambda: _fitted(xgboost.XGBRegressor(**XGB, objective="reg:gamma"), _numbers()),
        "XGBoost with objective 'reg:gamma' (converted: binary:logistic, multi:softprob, "
        "reg:absoluteerror, reg:pseudohubererror, reg:quantileerror, reg:squarederror)",
        id="xgboost-gamma",
    ),
]


@pytest.mark.parametrize(("build", "message"), REFUSED)
def test_what_cannot_be_exact_is_refused_with_its_reason(build: Any, message: str) -> None:
    model = build()
    with pytest.raises(ExactConversionUnsupported) as info:
        onnx_graph.convert(model, int(model.n_features_in_))
    assert str(info.value) == message


def _iris_petal_category() -> Fitted:
    """Iris with petal length in whole centimetres, a LightGBM categorical feature (given by
    position: an identity StandardScaler hands LightGBM an array)."""
    X, y = zoo._integers("iris")
    X["petal length (cm)"] = X["petal length (cm)"].round().astype(np.int64)
    identity = StandardScaler(with_mean=False, with_std=False)
    model = lightgbm.LGBMClassifier(**LGBM, min_child_samples=5, min_data_per_group=5, cat_smooth=1)
    pipe = make_pipeline(identity, model)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=zoo.TEST_SIZE, random_state=zoo.RANDOM_STATE, stratify=y
    )
    pipe.fit(X_train, y_train, lgbmclassifier__categorical_feature=[2])
    return Fitted(pipe, X_train, y_train, X_test, y_test)


def test_a_refused_model_falls_back_and_nothing_loads_by_default(tmp_path: Path) -> None:
    fitted = _iris_petal_category()
    path = tmp_path / "categorical"
    skbundle.save(fitted.pipeline, path, X_train=fitted.X_train, y_train=fitted.y_train,
                  X_test=fitted.X_test, y_test=fitted.y_test, name="petal")  # fmt: skip
    bundle = skbundle.load(path, runtime="skops", trusted_types=[BOOSTER["lightgbm"]])
    assert "onnx" not in {a.format for a in bundle.manifest.artifacts}
    why = bundle.manifest.unavailable_formats["onnx"]
    assert "LightGBM categorical split (decision_type '=='): only numeric splits" in why, why
    with pytest.raises(UntrustedArtifactError, match=r"\['lightgbm\.basic\.Booster'\]"):
        skbundle.load(path)
