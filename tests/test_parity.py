"""Parity: measured at save time on the test split and on split-threshold boundaries."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skbundle.build import parity
from skbundle.core.codes import Codec
from skbundle.core.manifest import Parity, read_manifest
from skbundle.core.schema import infer_schema
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats import onnx_format, onnx_graph


@pytest.mark.parametrize(
    ("case", "exact_onnx"), [("cancer", True), ("wine", True), ("iris", False)]
)
def test_manifest_records_parity_per_runtime_and_set(
    request: pytest.FixtureRequest, case: str, exact_onnx: bool
) -> None:
    c = request.getfixturevalue(case)
    recorded = read_manifest(c.path).parity
    assert sorted(recorded) == ["joblib", "onnx", "skops"]
    trees = hasattr(c.pipeline.steps[-1][1], "estimators_")
    for runtime, p in recorded.items():
        assert sorted(p.sets) == ["boundary", "categories", "missing", "test"], runtime
        assert p.sets["test"].n_rows == len(c.X_test)
        assert p.label_agreement == 1.0, runtime
        assert p.n_rows == sum(p.sets[s].n_rows for s in ("test", "missing", "boundary"))
        # rows with missing values are checked exactly when training had any (wine does)
        assert (p.sets["missing"].n_rows > 0) == bool(c.X_train.isna().any().any()), runtime
        if runtime != "onnx" or exact_onnx:
            assert (p.exact, p.max_abs_diff) == (True, 0.0), runtime
            assert p.sets["boundary"].max_abs_diff == 0.0, runtime
    onnx = recorded["onnx"]
    if not exact_onnx:
        # Exp in onnxruntime and numpy's exp differ in the last bit: recorded, never hidden.
        assert onnx.exact is False
        assert 0.0 < onnx.max_abs_diff < 1e-15
    if trees:
        boundary = onnx.sets["boundary"]
        assert boundary.n_rows > 1000
        assert onnx.notes["boundary"].endswith(
            f"{boundary.n_rows} of {boundary.n_rows} rows verified to land there"
        )
    else:
        assert (onnx.sets["boundary"].n_rows, onnx.notes["boundary"]) == (0, "not a tree model")


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (
            0.5,
            (
                np.nextafter(np.float32(0.5), np.float32(0)),
                np.float32(0.5),
                np.nextafter(np.float32(0.5), np.float32(1)),
            ),
        ),
        # a midpoint between two float32 values: 'on' is the lower one, which goes left
        (
            (float(np.float32(1.0)) + float(np.nextafter(np.float32(1.0), np.float32(2)))) / 2,
            (
                np.nextafter(np.float32(1.0), np.float32(0)),
                np.float32(1.0),
                np.nextafter(np.float32(1.0), np.float32(2)),
            ),
        ),
        (-1e-3, None),
    ],
)
def test_boundary_targets(threshold: float, expected: Any) -> None:
    below, on, above = parity._targets(threshold)
    assert float(on) <= threshold < float(above)
    assert below == np.nextafter(on, np.float32(-np.inf))
    assert above == np.nextafter(on, np.float32(np.inf))
    if expected is not None:
        assert (below, on, above) == expected


def _codec(X_train: pd.DataFrame) -> Codec:
    return Codec(infer_schema(X_train))


def _reference(pipeline: Any, X: np.ndarray, X_train: pd.DataFrame) -> np.ndarray:
    """The fitted pipeline's probabilities for code rows, as save() computes them."""
    return parity.FittedModel(pipeline, _codec(X_train), "probabilities").predict_output(X)


def _scaled32(pipeline: Any, X: np.ndarray, names: list[str]) -> np.ndarray:
    frame = pd.DataFrame(X, columns=names)
    return np.asarray(pipeline[:-1].transform(frame), dtype=np.float32)


def test_boundary_rows_sit_on_thresholds_and_change_paths(cancer: Any) -> None:
    names = list(cancer.X_train.columns)
    base = cancer.X_test.to_numpy(np.float64)
    found = parity.boundary_set(cancer.pipeline, base, _codec(cancer.X_train))
    X = found.X
    assert len(X) % 3 == 0 and len(X) > 0
    scaled = _scaled32(cancer.pipeline, X, names)
    forest = cancer.pipeline.steps[-1][1]
    # every triple (below, on, above): one feature differs, by one float32 ulp each step,
    # and 'on' is the largest float32 at or below some threshold of that feature
    thresholds: dict[int, set[float]] = {}
    for tree in forest.estimators_:
        t = tree.tree_
        for node in np.flatnonzero(t.children_left != -1):
            thresholds.setdefault(int(t.feature[node]), set()).add(float(t.threshold[node]))
    changed = 0
    proba = cancer.pipeline.predict_proba(pd.DataFrame(X, columns=names))
    for i in range(0, len(X), 3):
        below, on, above = scaled[i], scaled[i + 1], scaled[i + 2]
        (cols,) = np.nonzero((below != on) | (on != above))
        assert len(cols) == 1, i
        f = int(cols[0])
        assert np.nextafter(below[f], np.float32(np.inf)) == on[f]
        assert np.nextafter(on[f], np.float32(np.inf)) == above[f]
        assert any(float(on[f]) <= thr < float(above[f]) for thr in thresholds[f]), i
        changed += not np.array_equal(proba[i + 1], proba[i + 2])
    # crossing a threshold by one ulp changes the forest's output for many rows
    assert changed > len(X) // 3 // 4


def test_plain_skl2onnx_is_not_exact_and_the_boundary_set_shows_it(cancer: Any) -> None:
    """Why skbundle has its own converter: the default graph is off by up to 0.01 on the test
    split and flips labels on the boundary."""
    names = list(cancer.X_train.columns)
    plain = onnx_format._skl2onnx(cancer.pipeline, len(names))
    session = ort.InferenceSession(plain.SerializeToString(), onnx_format.session_options())
    sets = parity.evaluation_sets(
        cancer.pipeline,
        cancer.X_test.to_numpy(np.float64),
        cancer.X_train.to_numpy(np.float64),
        _codec(cancer.X_train),
    )
    refs = [_reference(cancer.pipeline, s.X, cancer.X_train) for s in sets]
    measured = parity.measure_sets(refs, onnx_format.OnnxPredictor(session), sets, "probabilities")
    assert measured.sets["test"].max_abs_diff > 1e-3
    assert measured.sets["boundary"].label_agreement < 1.0
    assert not measured.exact
    ours = read_manifest(cancer.path).parity["onnx"]
    assert ours.exact and ours.sets["boundary"].n_rows == measured.sets["boundary"].n_rows


def _exact_parity(pipeline: Any, X_train: pd.DataFrame, X_test: pd.DataFrame) -> Parity:
    names = list(X_train.columns)
    model = onnx_graph.convert(pipeline, len(names))
    session = ort.InferenceSession(model.SerializeToString(), onnx_format.session_options())
    sets = parity.evaluation_sets(
        pipeline, X_test.to_numpy(np.float64), X_train.to_numpy(np.float64), _codec(X_train)
    )
    refs = [_reference(pipeline, s.X, X_train) for s in sets]
    return parity.measure_sets(refs, onnx_format.OnnxPredictor(session), sets, "probabilities")


@pytest.fixture(scope="module")
def cancer_data() -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    return data.data.iloc[::2], data.data.iloc[1::2], data.target.to_numpy()[::2]


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param(DecisionTreeClassifier(random_state=0), id="tree-alone"),
        pytest.param(
            make_pipeline(StandardScaler(), ExtraTreesClassifier(20, random_state=0)),
            id="extra-trees",
        ),
        pytest.param(
            make_pipeline(StandardScaler(), RandomForestClassifier(5, max_depth=1, random_state=0)),
            id="stumps",
        ),
        pytest.param(
            make_pipeline(DecisionTreeClassifier(min_samples_split=10_000)), id="one-leaf-tree"
        ),
    ],
)
def test_exact_converter_on_other_tree_models(
    estimator: Any, cancer_data: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]
) -> None:
    X_train, X_test, y = cancer_data
    fitted = estimator.fit(X_train, y)
    measured = _exact_parity(fitted, X_train, X_test)
    assert measured.exact, measured


def test_binary_logistic_regression_is_label_exact(
    cancer_data: tuple[pd.DataFrame, pd.DataFrame, np.ndarray],
) -> None:
    X_train, X_test, y = cancer_data
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y)
    measured = _exact_parity(fitted, X_train, X_test)
    assert measured.label_agreement == 1.0
    assert measured.max_abs_diff < 1e-15


class RandomForestClassifierLookalike(RandomForestClassifier):
    """Named like scikit-learn's class but defined here: matched by where it is defined."""


RandomForestClassifierLookalike.__name__ = "RandomForestClassifier"


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        pytest.param(
            make_pipeline(Normalizer(), RandomForestClassifier(3, random_state=0)),
            "no exact conversion for Normalizer",
            id="other-scaler",
        ),
        pytest.param(
            make_pipeline(SimpleImputer(missing_values=-1.0), RandomForestClassifier(3)),
            "SimpleImputer other than missing_values=nan",
            id="imputer-other-missing-value",
        ),
        pytest.param(
            make_pipeline(
                StandardScaler(),
                GradientBoostingClassifier(n_estimators=3, init=LogisticRegression()),
            ),
            "GradientBoostingClassifier with an init estimator or loss other than the default",
            id="boosting-custom-init",
        ),
        pytest.param(
            make_pipeline(StandardScaler(), RandomForestClassifierLookalike(3, random_state=0)),
            "no exact conversion for RandomForestClassifier",
            id="a-class-named-like-sklearns",
        ),
    ],
)
def test_steps_without_an_exact_conversion(
    pipeline: Any, message: str, cancer_data: tuple[pd.DataFrame, pd.DataFrame, np.ndarray]
) -> None:
    X_train, _, y = cancer_data
    fitted = pipeline.fit(X_train, y)
    with pytest.raises(ExactConversionUnsupported, match=f"^{re.escape(message)}$"):
        onnx_graph.convert(fitted, X_train.shape[1])


def test_passthrough_steps_are_skipped(
    cancer_data: tuple[pd.DataFrame, pd.DataFrame, np.ndarray],
) -> None:
    X_train, X_test, y = cancer_data
    pipeline = make_pipeline(StandardScaler(), RandomForestClassifier(10, random_state=0))
    fitted = pipeline.set_params(standardscaler="passthrough").fit(X_train, y)
    assert _exact_parity(fitted, X_train, X_test).exact


def test_parity_of_a_pipeline_fitted_on_arrays(
    cancer_data: tuple[pd.DataFrame, pd.DataFrame, np.ndarray],
) -> None:
    """No feature names at fit time: the reference and the boundary set must not hand it a
    DataFrame (pytest turns scikit-learn's feature-name warning into an error)."""
    X_train, X_test, y = cancer_data
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(10, random_state=0))
    pipe.fit(X_train.to_numpy(), y)
    sets = parity.evaluation_sets(pipe, X_test.to_numpy(), X_train.to_numpy(), _codec(X_train))
    refs = [_reference(pipe, s.X, X_train) for s in sets]
    assert np.array_equal(refs[0], pipe.predict_proba(X_test.to_numpy()))
    boundary = {s.name: s for s in sets}["boundary"]
    assert boundary.X.shape[0] > 0
    assert boundary.note.endswith(
        f"{len(boundary.X)} of {len(boundary.X)} rows verified to land there"
    )


@pytest.fixture(scope="module")
def with_missing() -> tuple[pd.DataFrame, pd.DataFrame, Any, Any]:
    """The breast-cancer data with 10% of the values missing: trees route NaN themselves."""
    data = load_breast_cancer(as_frame=True)
    X = data.data.mask(np.random.default_rng(0).random(data.data.shape) < 0.1)
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.2, random_state=42, stratify=data.target
    )
    return X_train, X_test, y_train, y_test


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=20, random_state=0),
        DecisionTreeClassifier(random_state=0),
    ],
    ids=["forest", "tree"],
)
def test_trees_that_route_missing_values_are_exact_on_onnx(
    with_missing: tuple[pd.DataFrame, pd.DataFrame, Any, Any], estimator: Any, tmp_path: Any
) -> None:
    """No imputer: scikit-learn sends NaN down the side each node recorded at fit time
    (``tree_.missing_go_to_left``), and splits on "missing or not" have an infinite threshold.
    The graph must route NaN the same way, and the parity sets must hold NaN rows."""
    import skbundle

    X_train, X_test, y_train, y_test = with_missing
    fitted = clone(estimator).fit(X_train, y_train)
    manifest = skbundle.save(
        fitted, tmp_path / "b", X_train=X_train, y_train=y_train, X_test=X_test,
        y_test=y_test, name="with-missing",
    )  # fmt: skip
    onnx = manifest.parity["onnx"]
    assert onnx.exact, onnx
    assert onnx.sets["missing"].n_rows == 20 * (X_train.shape[1] + 1)
    assert onnx.sets["boundary"].n_rows > 0
    bundle = skbundle.load(tmp_path / "b")
    assert bundle.runtime.format == "onnx"
    rows = X_test.copy()
    rows.iloc[:, :5] = np.nan
    assert np.array_equal(bundle.predict_proba(rows), fitted.predict_proba(rows))


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine], ids=["binary", "3-class"])
def test_gradient_boosting_is_exact_on_onnx(loader: Any, tmp_path: Any) -> None:
    """Our graph sums gradient boosting's stages as scikit-learn does (init constant first, then
    learning_rate x leaf, in float64, in stage order): the raw scores are bit-identical. The
    link is applied by skbundle's runtime as scikit-learn applies it (expit / softmax), so the
    probabilities are too, and auto serves the bundle with ONNX."""
    import skbundle

    data = loader(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.2, random_state=42, stratify=data.target
    )
    fitted = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X_train, y_train)
    manifest = skbundle.save(
        fitted, tmp_path / "b", X_train=X_train, y_train=y_train, X_test=X_test,
        y_test=y_test, name="gb",
    )  # fmt: skip
    model = onnx.load(tmp_path / "b" / "model.onnx")
    assert {p.key: p.value for p in model.metadata_props}["skbundle.converter"] == (
        "skbundle-exact"
    )
    recorded = manifest.parity["onnx"]
    assert recorded.exact, recorded
    assert recorded.sets["boundary"].n_rows > 500
    bundle = skbundle.load(tmp_path / "b")
    assert bundle.runtime.format == "onnx"
    assert np.array_equal(bundle.predict_proba(X_test), fitted.predict_proba(X_test))
    # ONNX consumers other than skbundle get the graph's own link, within a few ulp
    session = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"))
    portable = session.run(["probabilities"], {"X": X_test.to_numpy(dtype=np.float64)})[0]
    assert float(np.max(np.abs(portable - fitted.predict_proba(X_test)))) < 1e-15

    # the raw scores, before the link, are bit-identical
    n_trees = fitted.n_trees_per_iteration_
    g = onnx_graph._Graph()
    ensemble = onnx_graph._Ensemble()
    start = fitted._raw_predict_init(np.zeros((1, X_train.shape[1]), dtype=np.float32))[0]
    for k in range(n_trees):
        ensemble.add_constant(k, float(start[k]))
    for stage in fitted.estimators_:
        for k in range(n_trees):
            tree = stage[k].tree_
            ensemble.add_tree(tree, k, fitted.learning_rate * tree.value[:, 0, 0])
    raw = ensemble.emit(g, onnx_graph.INPUT, n_trees)
    X = np.ascontiguousarray(X_test.to_numpy(), dtype=np.float64)
    g.nodes.append(onnx.helper.make_node("Identity", [raw], ["raw"]))
    graph = onnx.helper.make_graph(
        g.nodes,
        "raw",
        [onnx.helper.make_tensor_value_info("X", onnx.TensorProto.DOUBLE, [None, X.shape[1]])],
        [onnx.helper.make_tensor_value_info("raw", onnx.TensorProto.DOUBLE, [None, n_trees])],
        g.initializers,
    )
    raw_model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid("", 21), onnx.helper.make_opsetid("ai.onnx.ml", 5)],
    )
    raw_model.ir_version = onnx_graph.IR_VERSION
    session = ort.InferenceSession(
        raw_model.SerializeToString(),
        onnx_format.session_options(),
        providers=["CPUExecutionProvider"],
    )
    got = session.run(None, {"X": X})[0]
    expected = fitted.decision_function(X_test).reshape(len(X), n_trees)
    assert np.array_equal(got, expected)


def test_the_runtime_links_are_scikit_learns_bit_for_bit() -> None:
    """expit element by element with math.exp is scipy's expit; softmax is sklearn's."""
    from scipy.special import expit
    from sklearn.utils.extmath import softmax

    rng = np.random.default_rng(0)
    raw = np.concatenate(
        [rng.normal(0, 3, 20_000), rng.normal(0, 40, 2_000), [0.0, -0.0, 709.0, -709.0, 745.2,
         -745.2, 1e308, -1e308, np.finfo(float).tiny]]
    ).reshape(-1, 1)  # fmt: skip
    two = onnx_format.LINKS["expit"](raw)
    assert np.array_equal(two[:, 1], expit(raw[:, 0]))
    assert np.array_equal(two[:, 0], 1 - expit(raw[:, 0]))
    scores = rng.normal(0, 5, (5_000, 4))
    assert np.array_equal(onnx_format.LINKS["softmax"](scores), softmax(scores, copy=True))


@pytest.mark.parametrize(
    ("loader", "scaled", "missing"),
    [
        (load_breast_cancer, False, False),
        (load_breast_cancer, True, False),
        (load_breast_cancer, False, True),
        (load_wine, False, False),
    ],
    ids=["binary", "scaled", "native-nan", "3-class"],
)
def test_histogram_gradient_boosting_is_exact_on_onnx(
    loader: Any, scaled: bool, missing: bool, tmp_path: Any
) -> None:
    """Baseline first, then every predictor's leaf values in order, float64 comparisons with
    num_threshold, NaN where each node recorded: bit-identical, on boundary rows one float64 ulp
    either side of every threshold and on rows with missing values."""
    import skbundle

    data = loader(as_frame=True)
    X = data.data
    if missing:
        X = X.mask(np.random.default_rng(0).random(X.shape) < 0.1)
    X_train, X_test, y_train, y_test = train_test_split(
        X, data.target, test_size=0.2, random_state=42, stratify=data.target
    )
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0)
    fitted = (make_pipeline(StandardScaler(), model) if scaled else model).fit(X_train, y_train)
    manifest = skbundle.save(
        fitted, tmp_path / "b", X_train=X_train, y_train=y_train, X_test=X_test,
        y_test=y_test, name="hgb",
    )  # fmt: skip
    recorded = manifest.parity["onnx"]
    assert recorded.exact, recorded
    boundary = recorded.sets["boundary"]
    # through a scaler, a row only lands on the float64 threshold when the inverse is exact
    assert boundary.n_rows > (500 if scaled else 1000)
    assert (recorded.sets["missing"].n_rows > 0) == missing
    bundle = skbundle.load(tmp_path / "b")
    assert bundle.runtime.format == "onnx"
    assert np.array_equal(bundle.predict_proba(X_test), fitted.predict_proba(X_test))


def test_histogram_gradient_boosting_with_categorical_splits_falls_back(cancer_data: Any) -> None:
    X_train, _, y = cancer_data
    X = X_train.assign(group=(X_train["mean radius"] > 14).astype(int))
    fitted = HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[X.shape[1] - 1], random_state=0
    ).fit(X, y)
    with pytest.raises(
        ExactConversionUnsupported,
        match=r"^HistGradientBoostingClassifier with categorical feature 'x30', which the schema "
        r"holds as a number: only categorical and boolean schema features arrive as codes$",
    ):
        onnx_graph.convert(fitted, X.shape[1])
