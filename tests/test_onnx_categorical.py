"""Exact ONNX for pipelines whose first step is a ColumnTransformer with encoders, and for
histogram gradient boosting with native categorical splits.

The ONNX model reads the same float64 codes every runtime gets (``skbundle.core.codes``), so
an encoder over a categorical column is a lookup of its code. Each case is a real fitted
pipeline (``tests/zoo.py``, plus a few built here for what the zoo lacks: a sparse
ColumnTransformer output, a bool column before a forest, numeric columns chosen by name before
a forest). The ONNX handler saves it and reads it back, and ``predict_output`` must equal the
fitted pipeline's output on the decoded rows bit for bit (``np.array_equal``): on the held-out
rows, on every known category and an unseen one (``parity.category_set``), and on rows with
missing values (``parity.missing_set``). What cannot be exact is refused with its reason.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import skbundle
from skbundle.build import parity
from skbundle.build.categories import encoder_categories, unknown_handling
from skbundle.core.codes import Codec
from skbundle.core.manifest import FeatureSpec
from skbundle.core.runtime import Predictor, Signature, own_output
from skbundle.core.schema import infer_schema
from skbundle.errors import FormatUnavailable
from skbundle.formats import FORMATS, SaveContext, onnx_graph
from tests import zoo
from tests.zoo import Fitted
from tests.zoo_bundles import save_fitted


# --- pipelines the zoo lacks --------------------------------------------------------------------
def _penguins_sparse(model: Any) -> Fitted:
    """One-hot island and sex (a missing sex its own category), imputed scaled numbers, and
    sparse_threshold=1.0: the ColumnTransformer hands the model a scipy sparse matrix."""
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), zoo.PENGUIN_SPECIES_STRINGS),
            ("num", zoo._impute_scale(), zoo.PENGUIN_SPECIES_NUMERIC),
        ],
        sparse_threshold=1.0,
    )
    return zoo._classify(Pipeline([("prep", prep), ("model", model)]), zoo._penguins_species())


def _penguins_drop_first() -> Fitted:
    """OneHotEncoder(drop="first") and an OrdinalEncoder of the same island column, missing
    sex filled with a constant, then a forest."""
    prep = ColumnTransformer(
        [
            (
                "onehot",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="female")),
                        ("encode", OneHotEncoder(drop="first", sparse_output=False)),
                    ]
                ),
                zoo.PENGUIN_SPECIES_STRINGS,
            ),
            ("ordinal", OrdinalEncoder(), ["island"]),
            ("num", SimpleImputer(strategy="median"), zoo.PENGUIN_SPECIES_NUMERIC),
        ]
    )
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=zoo.RANDOM_STATE)
    return zoo._classify(Pipeline([("prep", prep), ("model", model)]), zoo._penguins_species())


def _penguins_infrequent_forest() -> Fitted:
    """penguins-infrequent-logistic's ColumnTransformer (Torgersen the infrequent category,
    columns by make_column_selector) before a forest."""
    prep = clone(zoo.case("penguins-infrequent-logistic").build().pipeline.steps[0][1])
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=zoo.RANDOM_STATE)
    return zoo._classify(Pipeline([("prep", prep), ("model", model)]), zoo._penguins_species())


def _cancer_bool_forest() -> Fitted:
    """cancer-bool-column's ColumnTransformer (numbers scaled, the bool passed through) before
    a forest instead of a logistic regression."""
    X, y = zoo._named("breast_cancer")
    X["worst area above median"] = X["worst area"] > X["worst area"].median()
    numbers = [c for c in X.columns if c != "worst area above median"]
    prep = ColumnTransformer([("scale", StandardScaler(), numbers)], remainder="passthrough")
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=zoo.RANDOM_STATE)
    return zoo._classify(Pipeline([("prep", prep), ("model", model)]), (X, y))


def _diabetes_by_name_forest() -> Fitted:
    """diabetes-columns-by-name-ridge's ColumnTransformer (serum scaled, the rest passed
    through by name: the output reorders the columns) before a forest."""
    prep = ColumnTransformer(
        [
            ("serum", StandardScaler(), ["s1", "s2", "s3", "s4", "s5", "s6"]),
            ("rest", "passthrough", ["age", "sex", "bmi", "bp"]),
        ]
    )
    model = RandomForestRegressor(n_estimators=30, max_depth=6, random_state=zoo.RANDOM_STATE)
    return zoo._regress(Pipeline([("prep", prep), ("model", model)]), zoo._integers("diabetes"))


def _penguins_many_levels_hgb() -> Fitted:
    """Bill length rounded to half a millimetre as a pandas category column (about 50
    levels, so a node's bitset spans two 32-bit words), island and sex as categories too,
    HistGradientBoosting with categorical_features="from_dtype"."""
    X, y = zoo._penguins_species()
    X = X.astype({"island": "category", "sex": "category"})
    halves = (X["bill_length_mm"] * 2).round() / 2
    X["bill_mm"] = halves.map(lambda v: None if np.isnan(v) else f"{v:.1f}").astype("category")
    model = HistGradientBoostingClassifier(max_iter=30, random_state=zoo.RANDOM_STATE)
    return zoo._classify(model, (X, y))


def _penguins_year_category_hgb() -> Fitted:
    """categorical_features by name, including year: a number in the schema, a category to
    the model (its values are not codes)."""
    X, y = zoo._penguins_mass()
    X = X.astype({c: "category" for c in zoo.PENGUIN_MASS_STRINGS})
    model = HistGradientBoostingRegressor(
        max_iter=20,
        categorical_features=[*zoo.PENGUIN_MASS_STRINGS, "year"],
        random_state=zoo.RANDOM_STATE,
    )
    return zoo._regress(model, (X, y))


_LOCAL = {
    "penguins-many-levels-hgb": _penguins_many_levels_hgb,
    "penguins-year-category-hgb": _penguins_year_category_hgb,
    "penguins-sparse-onehot-forest": lambda: _penguins_sparse(
        RandomForestClassifier(n_estimators=30, max_depth=6, random_state=zoo.RANDOM_STATE)
    ),
    "penguins-sparse-onehot-logistic": lambda: _penguins_sparse(LogisticRegression(max_iter=2000)),
    "penguins-drop-first-forest": _penguins_drop_first,
    "penguins-infrequent-forest": _penguins_infrequent_forest,
    "cancer-bool-forest": _cancer_bool_forest,
    "diabetes-by-name-forest": _diabetes_by_name_forest,
}


@functools.cache
def _fitted(id: str) -> Fitted:
    return _LOCAL[id]() if id in _LOCAL else zoo.case(id).build()


# --- one case at the handler level --------------------------------------------------------------
@dataclass(frozen=True)
class Converted:
    fitted: Fitted
    features: tuple[FeatureSpec, ...]
    signature: Signature
    codes_train: np.ndarray
    codes_test: np.ndarray


def _prepare(id: str) -> Converted:
    f = _fitted(id)
    known = encoder_categories(f.pipeline, list(f.X_train.columns))
    features = infer_schema(f.X_train, known)
    codec = Codec(features)
    codes_train, codes_test = codec.encode(f.X_train), codec.encode(f.X_test)
    output = own_output(f.pipeline)
    with threadpool_limits(limits=1):
        features = unknown_handling(f.pipeline, features, codes_test, output)
    signature = Signature(tuple(features), output)
    return Converted(f, tuple(features), signature, codes_train, codes_test)


def _save_and_load(c: Converted, directory: Path) -> Predictor:
    handler = FORMATS["onnx"]
    context = SaveContext(
        feature_names=[s.name for s in c.features],
        sample=c.codes_train,
        options={},
        signature=c.signature,
    )
    path = handler.save(c.fitted.pipeline, directory, context)
    return handler.load(path.read_bytes(), source=str(path), signature=c.signature)


def _evaluation_rows(c: Converted) -> dict[str, np.ndarray]:
    codec = Codec(c.features)
    return {
        "test": c.codes_test,
        "categories": parity.category_set(c.codes_test, codec).X,
        "missing": parity.missing_set(c.codes_test, c.codes_train).X,
    }


EXACT = [
    "penguins-onehot-forest",
    "penguins-ordinal-extra-trees-nan",
    "penguins-index-passthrough-forest-nan",
    "penguins-ordinal-hgb",
    "penguins-infrequent-forest",
    "penguins-mass-ordinal-forest-nan",
    "penguins-gradient-boosting",
    "penguins-sparse-onehot-forest",
    "penguins-drop-first-forest",
    "cancer-bool-forest",
    "diabetes-by-name-forest",
    "penguins-category-hgb",
    "penguins-mass-category-hgb",
    "penguins-many-levels-hgb",
]


@pytest.mark.parametrize("id", EXACT)
def test_the_graph_equals_the_pipeline_bit_for_bit(id: str, tmp_path: Path) -> None:
    c = _prepare(id)
    predictor = _save_and_load(c, tmp_path)
    fitted = parity.FittedModel(c.fitted.pipeline, Codec(c.features), c.signature.output)
    rows = _evaluation_rows(c)
    if any(f.kind != "numeric" for f in c.features):
        assert len(rows["categories"]) > 0
    with threadpool_limits(limits=1):
        for name, X in rows.items():
            if len(X) == 0:
                continue
            got, want = predictor.predict_output(X), fitted.predict_output(X)
            assert got.shape == want.shape, name
            assert np.array_equal(got, want), (name, float(np.nanmax(np.abs(got - want))))


def test_unseen_categories_are_in_the_category_rows() -> None:
    """The onehot "ignore" case accepts an unseen island: the graph was checked on it."""
    c = _prepare("penguins-onehot-forest")
    assert [f.unknown for f in c.features if f.kind == "categorical"] == ["accept", "accept"]
    rows = _evaluation_rows(c)["categories"]
    assert (rows == -1.0).any()


@pytest.mark.parametrize("id", ["penguins-category-hgb", "penguins-many-levels-hgb"])
def test_native_categorical_splits_are_set_tests_of_the_codes(id: str) -> None:
    """The cases really split on categories (else they prove nothing): the graph holds
    BRANCH_MEMBER nodes, and the many-level case has categories past the first bitset word."""
    c = _prepare(id)
    model = onnx_graph.convert(c.fitted.pipeline, len(c.features), c.features)
    [ensemble] = [n for n in model.graph.node if n.op_type == "TreeEnsemble"]
    modes = next(a for a in ensemble.attribute if a.name == "nodes_modes").t.raw_data
    assert 6 in set(modes)  # BRANCH_MEMBER
    if id == "penguins-many-levels-hgb":
        levels = next(f for f in c.features if f.name == "bill_mm").categories or []
        assert len(levels) > 32
        features = next(a for a in ensemble.attribute if a.name == "nodes_featureids").ints
        column = [f.name for f in c.features].index("bill_mm")
        assert any(m == 6 and f == column for m, f in zip(modes, features, strict=True))
        assert (parity.category_set(c.codes_test, Codec(c.features)).X == -1.0).any()


def test_a_sparse_output_reaches_the_model() -> None:
    """The sparse cases really hand the model a sparse matrix (else they prove nothing)."""
    f = _fitted("penguins-sparse-onehot-forest")
    assert f.pipeline.steps[0][1].sparse_output_


LINEAR = [
    "penguins-infrequent-logistic",
    "penguins-bool-logistic",
    "penguins-pandas-output-logistic",
    "cancer-bool-column",
]


@pytest.mark.parametrize("id", LINEAR)
def test_a_logistic_regression_is_converted_label_exact(id: str, tmp_path: Path) -> None:
    """The encoders are exact (the forests above prove it), but onnxruntime's Exp/Sigmoid and
    MatMul are not numpy's to the last bit. The handler still writes the graph: save-time
    parity records it as not exact, and auto does not choose it."""
    c = _prepare(id)
    predictor = _save_and_load(c, tmp_path)
    fitted = parity.FittedModel(c.fitted.pipeline, Codec(c.features), c.signature.output)
    for name, X in _evaluation_rows(c).items():
        if len(X) == 0:
            continue
        got, want = predictor.predict_output(X), fitted.predict_output(X)
        assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1)), name
        assert np.abs(got - want).max() < 1e-14, name


_NO_SKL2ONNX = "skl2onnx cannot read their codes, so skops serves this bundle"

REFUSED = [
    pytest.param(
        "penguins-mass-onehot-ridge",
        "the pipeline has categorical features and the exact ONNX writer cannot convert it "
        f"(no exact conversion for Ridge); {_NO_SKL2ONNX}",
        id="ridge",
    ),
    pytest.param(
        "penguins-sparse-onehot-logistic",
        "the pipeline has categorical features and the exact ONNX writer cannot convert it "
        "(LogisticRegression on the sparse output of a ColumnTransformer: its sums over sparse "
        f"rows run in another order than the graph's); {_NO_SKL2ONNX}",
        id="sparse-logistic",
    ),
    pytest.param(
        "penguins-year-category-hgb",
        "the pipeline has categorical features and the exact ONNX writer cannot convert it "
        "(HistGradientBoostingRegressor with categorical feature 'year', which the schema "
        "holds as a number: only categorical and boolean schema features arrive as codes); "
        f"{_NO_SKL2ONNX}",
        id="numeric-column-as-category-hgb",
    ),
    pytest.param(
        "penguins-mass-custom-log1p-ridge",
        "the pipeline has categorical features and the exact ONNX writer cannot convert it "
        "(no exact conversion for Log1p in ColumnTransformer transformer 'log'); "
        f"{_NO_SKL2ONNX}",
        id="custom-step",
    ),
    pytest.param(
        "diabetes-columns-by-name-ridge",
        "exact converter: no exact conversion for Ridge; skl2onnx: RuntimeError: Unable to "
        "find column name 's1'",
        id="numeric-ridge-skl2onnx",
    ),
]


@pytest.mark.parametrize(("id", "message"), REFUSED)
def test_what_cannot_be_exact_is_refused(id: str, message: str, tmp_path: Path) -> None:
    c = _prepare(id)
    with pytest.raises(FormatUnavailable) as info:
        _save_and_load(c, tmp_path)
    assert str(info.value).startswith(message)
    assert not (tmp_path / "model.onnx").exists()


def test_numeric_only_conversion_needs_no_schema() -> None:
    """convert(pipeline, n_features) without features still converts a numeric
    ColumnTransformer (columns by name, resolved to positions at fit)."""
    f = _fitted("diabetes-by-name-forest")
    with_schema = onnx_graph.convert(f.pipeline, 10, infer_schema(f.X_train))
    without = onnx_graph.convert(f.pipeline, 10)
    assert with_schema.SerializeToString() == without.SerializeToString()


# --- end to end ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def onehot_forest_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = _fitted("penguins-onehot-forest")
    return save_fitted(f, tmp_path_factory.mktemp("onnxcat") / "penguins", "penguins-onehot-forest")


def test_a_saved_categorical_bundle_is_served_by_onnx(onehot_forest_bundle: Path) -> None:
    f = _fitted("penguins-onehot-forest")
    bundle = skbundle.load(onehot_forest_bundle)
    assert bundle.runtime.format == "onnx"
    assert np.array_equal(bundle.predict_proba(f.X_test), f.pipeline.predict_proba(f.X_test))
    record = f.X_test.iloc[0].to_dict()
    record = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
    [result] = bundle.predict([record])
    want = f.pipeline.predict(pd.DataFrame([f.X_test.iloc[0]]))[0]
    assert result["prediction"] == want
