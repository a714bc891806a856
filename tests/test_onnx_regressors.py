"""Exact ONNX for tree regressors: ``predict_output(X)[:, 0]`` equals ``pipeline.predict(X)`` bit
for bit, on held-out rows, rows with missing values and rows one ulp either side of every split.

Real data: scikit-learn's diabetes (complete), and the Palmer penguins, body mass from the bill,
the flipper, the year and the sex (male 1.0 / female 0.0). The four measurements are missing only
in the two rows that also lack the body mass, so after those are dropped the missing values a
tree must route itself are the nine real missing sexes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from palmerpenguins import load_penguins
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

from skbundle.build.parity import boundary_set, missing_set, model_input
from skbundle.core.codes import Codec
from skbundle.core.schema import infer_schema
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats import FORMATS, SaveContext, onnx_format, onnx_graph

Split = tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]


def _split(X: pd.DataFrame, y: pd.Series) -> Split:
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    return X_train, X_test, y_train, y_test


def _diabetes() -> Split:
    data = load_diabetes(as_frame=True)
    return _split(data.data, data.target)


def _penguins() -> Split:
    frame = load_penguins().dropna(subset=["body_mass_g"])
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "year"]
    X = frame[numeric].astype(np.float64)
    X = X.assign(male=frame["sex"].map({"male": 1.0, "female": 0.0}).astype(np.float64))
    return _split(X, frame["body_mass_g"].astype(np.float64))


DATASETS: dict[str, Callable[[], Split]] = {"diabetes": _diabetes, "penguins": _penguins}


@pytest.fixture(scope="module")
def splits() -> dict[str, Split]:
    return {name: load() for name, load in DATASETS.items()}


def _gb(**kw: Any) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(n_estimators=30, random_state=0, **kw)


def _hgb(**kw: Any) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=30, random_state=0, **kw)


# Leaves of at least 5 rows: fully grown trees on integer targets have integer leaves, whose
# sum is the same in any order, and would not show a graph that adds the trees out of order.
def _rf() -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=20, min_samples_leaf=5, random_state=0)


def _et() -> ExtraTreesRegressor:
    return ExtraTreesRegressor(n_estimators=20, min_samples_leaf=5, random_state=0)


EXACT = [
    pytest.param("diabetes", DecisionTreeRegressor(random_state=0), id="tree"),
    pytest.param(
        "diabetes", DecisionTreeRegressor(min_samples_leaf=7, random_state=0), id="tree-leaf-7"
    ),
    pytest.param("diabetes", ExtraTreeRegressor(random_state=0), id="extra-tree"),
    pytest.param("diabetes", _rf(), id="forest"),
    pytest.param("diabetes", _et(), id="extra-trees"),
    pytest.param("diabetes", make_pipeline(StandardScaler(), _rf()), id="scaled-forest"),
    pytest.param("diabetes", make_pipeline(StandardScaler(), _et()), id="scaled-extra-trees"),
    pytest.param("diabetes", _gb(), id="gb-squared"),
    pytest.param("diabetes", _gb(loss="absolute_error"), id="gb-absolute"),
    pytest.param("diabetes", _gb(loss="huber", alpha=0.8), id="gb-huber"),
    pytest.param("diabetes", _gb(loss="quantile", alpha=0.9), id="gb-quantile"),
    pytest.param("diabetes", _gb(init="zero", learning_rate=0.3), id="gb-zero-init"),
    pytest.param("diabetes", make_pipeline(StandardScaler(), _gb()), id="scaled-gb"),
    pytest.param("diabetes", _hgb(), id="hgb-squared"),
    pytest.param("diabetes", _hgb(loss="absolute_error"), id="hgb-absolute"),
    pytest.param("diabetes", _hgb(loss="quantile", quantile=0.3), id="hgb-quantile"),
    pytest.param("diabetes", make_pipeline(StandardScaler(), _hgb()), id="scaled-hgb"),
    # real missing values (sex), routed by the model itself
    pytest.param("penguins", DecisionTreeRegressor(random_state=0), id="nan-tree"),
    pytest.param("penguins", _rf(), id="nan-forest"),
    pytest.param("penguins", _et(), id="nan-extra-trees"),
    pytest.param("penguins", _hgb(), id="nan-hgb"),
    # ... or imputed first
    pytest.param("penguins", make_pipeline(SimpleImputer(), _rf()), id="imputed-forest"),
    pytest.param(
        "penguins",
        make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            DecisionTreeRegressor(random_state=0),
        ),
        id="imputed-scaled-tree",
    ),
    pytest.param(
        "penguins", make_pipeline(SimpleImputer(), StandardScaler(), _gb()), id="imputed-scaled-gb"
    ),
    pytest.param("penguins", make_pipeline(SimpleImputer(), _hgb()), id="imputed-hgb"),
]


def _save_and_load(
    pipeline: Any, X_train: pd.DataFrame, directory: Path
) -> tuple[onnx_format.OnnxPredictor, str]:
    """Through the ONNX handler as ``save()`` uses it: the runtime and the converter's name."""
    handler = FORMATS["onnx"]
    context = SaveContext(
        feature_names=tuple(X_train.columns),
        sample=np.ascontiguousarray(X_train.to_numpy(), dtype=np.float64),
        options={},
    )
    path = handler.save(pipeline, directory, context)
    data = path.read_bytes()
    metadata = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    predictor = handler.load(data, source=path.name, trusted=frozenset())
    assert isinstance(predictor, onnx_format.OnnxPredictor)
    return predictor, metadata[onnx_format.CONVERTER_KEY]


def _nan_in_each_feature(X: np.ndarray) -> np.ndarray:
    """The first 20 rows with one feature NaN, for every feature in turn."""
    blocks = []
    for feature in range(X.shape[1]):
        block = X[:20].copy()
        block[:, feature] = np.nan
        blocks.append(block)
    return np.vstack(blocks)


@pytest.mark.parametrize(("dataset", "estimator"), EXACT)
def test_regressor_is_bit_identical_on_onnx(
    splits: dict[str, Split], dataset: str, estimator: Any, tmp_path: Path
) -> None:
    X_train, X_test, y_train, _ = splits[dataset]
    names = list(X_train.columns)
    codec = Codec(infer_schema(X_train))
    fitted = clone(estimator).fit(X_train, y_train)

    model = onnx_graph.convert(fitted, len(names))
    [output] = model.graph.output
    assert output.name == onnx_graph.VALUES_OUTPUT == "values"
    tensor = output.type.tensor_type
    assert tensor.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_value for d in tensor.shape.dim] == [0, 1]  # (n, 1): n is symbolic

    predictor, converter = _save_and_load(fitted, X_train, tmp_path)
    assert converter == "skbundle-exact"

    train = np.ascontiguousarray(X_train.to_numpy(), dtype=np.float64)
    test = np.ascontiguousarray(X_test.to_numpy(), dtype=np.float64)
    missing = missing_set(test, train).X
    boundary = boundary_set(fitted, np.vstack([test, train]), codec).X
    assert len(boundary) > 0
    assert (len(missing) > 0) == bool(X_train.isna().to_numpy().any())
    rows = {"test": test, "missing": missing, "boundary": boundary}
    steps = [step for _, step in getattr(fitted, "steps", [("model", fitted)])]
    imputed = any(isinstance(step, SimpleImputer) for step in steps)
    if imputed or not isinstance(steps[-1], GradientBoostingRegressor):
        # NaN in features that had none in training: scikit-learn still routes it (a tree to
        # the side that saw more samples) or imputes it; only gradient boosting refuses NaN
        rows["nan-anywhere"] = _nan_in_each_feature(test)
    for set_name, X in rows.items():
        if len(X) == 0:
            continue
        got = predictor.predict_output(X)
        assert got.dtype == np.float64 and got.shape == (len(X), 1), set_name
        expected = fitted.predict(model_input(fitted, X, codec))
        assert np.array_equal(got[:, 0], expected), (
            f"onnx on {set_name}: {int(np.sum(got[:, 0] != expected))} of {len(X)} rows differ, "
            f"by up to {float(np.max(np.abs(got[:, 0] - expected)))}"
        )


class RandomForestRegressor2(RandomForestRegressor):
    """A user's own forest: whatever its predict does, it is not scikit-learn's."""


RandomForestRegressor2.__name__ = RandomForestRegressor2.__qualname__ = "RandomForestRegressor"


def _multi_output(X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    return X, np.column_stack([y, X.iloc[:, 0]])


def _same(X: pd.DataFrame, y: pd.Series) -> tuple[pd.DataFrame, Any]:
    return X, y


REFUSED = [
    pytest.param(
        _hgb(loss="poisson"),
        _same,
        r"HistGradientBoostingRegressor with loss='poisson': its link \(LogLink\) is not the "
        r"identity",
        id="hgb-log-link",
    ),
    pytest.param(
        _hgb(loss="gamma"),
        _same,
        r"HistGradientBoostingRegressor with loss='gamma': its link \(LogLink\) is not the "
        r"identity",
        id="hgb-gamma",
    ),
    pytest.param(
        _hgb(categorical_features=[4]),
        _same,
        r"HistGradientBoostingRegressor with categorical feature 'x4', which the schema holds "
        r"as a number: only categorical and boolean schema features arrive as codes",
        id="hgb-categorical-numeric-column",
    ),
    pytest.param(
        make_pipeline(SimpleImputer(), _gb(init=LinearRegression())),
        _same,
        r"GradientBoostingRegressor with an init estimator other than the default "
        r"\(got LinearRegression\)",
        id="gb-row-dependent-init",
    ),
    pytest.param(
        _rf(), _multi_output, r"RandomForestRegressor with several outputs", id="multi-output"
    ),
    pytest.param(
        RandomForestRegressor2(n_estimators=3, random_state=0),
        _same,
        r"no exact conversion for RandomForestRegressor",
        id="same-name-other-module",
    ),
    pytest.param(
        make_pipeline(SimpleImputer(), LinearRegression()),
        _same,
        r"no exact conversion for LinearRegression",
        id="linear-regression",
    ),
    pytest.param(
        make_pipeline(SimpleImputer(), Normalizer(), _rf()),
        _same,
        r"no exact conversion for Normalizer",
        id="unknown-preprocessing",
    ),
]


@pytest.mark.parametrize(("estimator", "target", "message"), REFUSED)
def test_what_cannot_be_reproduced_is_refused(
    splits: dict[str, Split], estimator: Any, target: Any, message: str
) -> None:
    X_train, _, y_train, _ = splits["penguins"]
    X, y = target(X_train, y_train)
    fitted = clone(estimator).fit(X, y)
    with pytest.raises(ExactConversionUnsupported, match=f"^{message}$"):
        onnx_graph.convert(fitted, X.shape[1])


def test_a_refused_regressor_falls_back_to_skl2onnx(
    splits: dict[str, Split], tmp_path: Path
) -> None:
    """The handler still writes a graph (float32, skl2onnx's): close, not exact; parity says so."""
    X_train, X_test, y_train, _ = splits["diabetes"]
    fitted = make_pipeline(StandardScaler(), LinearRegression()).fit(X_train, y_train)
    predictor, converter = _save_and_load(fitted, X_train, tmp_path)
    assert converter == "skl2onnx"
    got = predictor.predict_output(np.ascontiguousarray(X_test.to_numpy(), dtype=np.float64))
    assert got.dtype == np.float64 and got.shape == (len(X_test), 1)
    np.testing.assert_allclose(got[:, 0], fitted.predict(X_test), rtol=1e-4)


def test_predict_output_of_a_classifier_is_its_probabilities(tmp_path: Path) -> None:
    data = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, _ = train_test_split(
        data.data, data.target, test_size=0.2, random_state=42, stratify=data.target
    )
    fitted = RandomForestClassifier(n_estimators=10, random_state=0).fit(X_train, y_train)
    predictor, converter = _save_and_load(fitted, X_train, tmp_path)
    assert converter == "skbundle-exact"
    X = np.ascontiguousarray(X_test.to_numpy(), dtype=np.float64)
    got = predictor.predict_output(X)
    assert got.shape == (len(X), 2)
    assert np.array_equal(got, fitted.predict_proba(X_test))
