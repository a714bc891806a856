"""Exact ONNX for the numeric preprocessing users bring: the scalers, imputation with a missing
indicator, numpy functions, and a transformed target.

Each case is a real zoo pipeline (``tests/zoo.py``). The ONNX handler writes it and reads it
back, and on every parity set save builds (held-out rows, rows with missing values, every
category and an unseen one, and rows one ulp either side of each threshold where the
preprocessing can be inverted) its output must equal the fitted pipeline's bit for bit. The
numpy functions ONNX has are checked one by one against numpy over values of every magnitude:
the exact ones bit for bit, the transcendental ones within a few ulps (and never chosen by
auto, since parity measures them). What cannot be converted is refused with its reason.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, QuantileTransformer
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from skbundle.build import parity
from skbundle.build.categories import encoder_categories, unknown_handling
from skbundle.core.codes import Codec
from skbundle.core.runtime import Signature, own_output
from skbundle.core.schema import infer_schema
from skbundle.errors import ExactConversionUnsupported, UntrustedArtifactError
from skbundle.formats import FORMATS, SaveContext, onnx_format, onnx_graph
from skbundle.formats.onnx_graph._preprocess import UFUNCS
from tests import zoo
from tests.zoo import Fitted

EXACT = [
    "cancer-minmax-forest",
    "diabetes-robust-extra-trees",
    "wine-sqrt-maxabs-tree",
    "penguins-indicator-hgb",
    "penguins-mass-minmax-clip-forest",
    "penguins-mass-log-target-hgb",
]


@functools.cache
def _parity(id: str) -> tuple[Any, Any]:
    """The case saved and read back by the ONNX handler, and its parity on the save sets."""
    f = zoo.case(id).build()
    features = infer_schema(f.X_train, encoder_categories(f.pipeline, list(f.X_train.columns)))
    codec = Codec(features)
    codes_train, codes_test = codec.encode(f.X_train), codec.encode(f.X_test)
    output = own_output(f.pipeline)
    with threadpool_limits(limits=1):
        features = unknown_handling(f.pipeline, features, codes_test, output)
        codec = Codec(features)
        signature = Signature(tuple(features), output)
        context = SaveContext(
            feature_names=[s.name for s in features],
            sample=codes_train,
            options={},
            signature=signature,
        )
        handler = FORMATS["onnx"]
        with tempfile.TemporaryDirectory() as tmp:
            path = handler.save(f.pipeline, Path(tmp), context)
            runtime = handler.load(path.read_bytes(), source=str(path), signature=signature)
        sets = parity.evaluation_sets(f.pipeline, codes_test, codes_train, codec)
        fitted = parity.FittedModel(f.pipeline, codec, output)
        references = [fitted.predict_output(s.X) for s in sets]
        return parity.measure_sets(references, runtime, sets, output), sets


@pytest.mark.parametrize("id", EXACT)
def test_the_graph_equals_the_pipeline_on_every_parity_set(id: str) -> None:
    measured, _ = _parity(id)
    assert measured.exact, (id, measured.max_abs_diff, measured.sets)
    assert measured.sets["test"].n_rows > 0


@pytest.mark.parametrize(
    ("id", "set_name"),
    [
        ("cancer-minmax-forest", "boundary"),
        ("diabetes-robust-extra-trees", "boundary"),
        ("penguins-indicator-hgb", "missing"),
        ("penguins-mass-minmax-clip-forest", "missing"),
        ("penguins-mass-log-target-hgb", "categories"),
    ],
)
def test_the_sets_that_matter_were_checked(id: str, set_name: str) -> None:
    """The boundary rows of the inverted scalers and the missing rows of the indicators exist
    (else exactness there proves nothing)."""
    measured, _ = _parity(id)
    assert measured.sets[set_name].n_rows > 0, measured.notes


def test_the_indicator_columns_reach_the_model() -> None:
    f = zoo.case("penguins-indicator-hgb").build()
    imputer = f.pipeline.named_steps["prep"].named_transformers_["num"]
    assert len(imputer.indicator_.features_) > 0


def test_a_transformed_target_leaves_its_inverse_to_the_runtime() -> None:
    """The graph's raw output is the regressor's exact prediction; the metadata names the
    numpy inverse the runtime applies (in onnx_format.LINKS)."""
    f = zoo.case("penguins-mass-log-target-hgb").build()
    features = infer_schema(f.X_train, encoder_categories(f.pipeline, list(f.X_train.columns)))
    model = onnx_graph.convert(f.pipeline, len(features), features)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[onnx_graph.LINK_KEY] == "numpy.expm1"
    assert meta[onnx_graph.LINK_KEY] in onnx_format.LINKS
    assert [o.name for o in model.graph.output] == [onnx_graph.VALUES_OUTPUT, "raw_scores"]


# --- numpy functions, one by one -------------------------------------------------------------
def _values() -> np.ndarray:
    """Values of every magnitude and sign, plus the special ones."""
    rng = np.random.default_rng(0)
    wide = rng.standard_normal(4000) * 10.0 ** rng.integers(-300, 300, 4000)
    small = rng.uniform(-1e-8, 1e-8, 1000)
    unit = rng.uniform(-5, 5, 4000)
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, np.inf, -np.inf, np.nan, 5e-324])
    return np.concatenate([wide, small, unit, special]).reshape(-1, 1)


def _run_piece(build: Any, X: np.ndarray) -> np.ndarray:
    g = onnx_graph.Graph()
    out = build(g, onnx_graph.INPUT)
    g.nodes.append(helper.make_node("Identity", [out], ["Y"]))
    graph = helper.make_graph(
        g.nodes,
        "piece",
        [helper.make_tensor_value_info(onnx_graph.INPUT, TensorProto.DOUBLE, [None, 1])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None, 1])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", onnx_graph.OPSET)])
    model.ir_version = onnx_graph.IR_VERSION
    onnx.checker.check_model(model)
    session = ort.InferenceSession(
        model.SerializeToString(), onnx_format.session_options(), providers=["CPUExecutionProvider"]
    )
    result: np.ndarray = session.run(None, {onnx_graph.INPUT: X})[0]
    return result


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    both = np.isfinite(got) & np.isfinite(want)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    if not (same | both).all():
        return float("inf")  # one is NaN or infinite where the other is not
    spacing = np.spacing(np.abs(want[both]))
    return float(np.max(np.abs(got[both] - want[both]) / spacing, initial=0.0))


@pytest.mark.parametrize(
    "ufunc", [f for f, (kind, _) in UFUNCS.items() if kind == "exact"], ids=lambda f: f.__name__
)
def test_an_exact_numpy_function_is_numpy_bit_for_bit(ufunc: Any) -> None:
    X = _values()
    with np.errstate(all="ignore"):
        want = ufunc(X)
    got = _run_piece(UFUNCS[ufunc][1], X)
    assert np.array_equal(got, want, equal_nan=True)


@pytest.mark.parametrize(
    "ufunc",
    [f for f, (kind, _) in UFUNCS.items() if kind == "measured"],
    ids=lambda f: f.__name__,
)
def test_a_transcendental_numpy_function_is_within_a_few_ulps(ufunc: Any) -> None:
    X = _values()
    X = X[np.abs(X) < 700]  # exp overflows past 709: both give inf there
    with np.errstate(all="ignore"):
        want = ufunc(X)
    got = _run_piece(UFUNCS[ufunc][1], X.reshape(-1, 1)).ravel()
    assert _ulps(got, want.ravel()) <= 4.0


# --- refused ---------------------------------------------------------------------------------
def _cancer(pipeline: Any) -> Fitted:
    return zoo._classify(pipeline, zoo._named("breast_cancer"))


def _forest() -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)


REFUSED = [
    pytest.param(
        lambda: _cancer(make_pipeline(FunctionTransformer(np.sin), _forest())),
        "FunctionTransformer of sin (converted: absolute, ceil, exp, expm1, floor, log, "
        "log1p, negative, reciprocal, rint, sqrt, square)",
        id="ufunc-onnx-lacks",
    ),
    pytest.param(
        lambda: _cancer(
            make_pipeline(FunctionTransformer(np.sqrt, kw_args={"where": True}), _forest())
        ),
        "FunctionTransformer of sqrt with kw_args (converted: absolute, ceil, exp, expm1, "
        "floor, log, log1p, negative, reciprocal, rint, sqrt, square)",
        id="kw-args",
    ),
    pytest.param(
        lambda: _cancer(make_pipeline(QuantileTransformer(n_quantiles=50), _forest())),
        "no exact conversion for QuantileTransformer",
        id="quantile-transformer",
    ),
    pytest.param(
        lambda: zoo._regress(
            TransformedTargetRegressor(
                RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0),
                func=np.exp,
                inverse_func=np.cbrt,
                check_inverse=False,
            ),
            zoo._integers("diabetes"),
        ),
        "TransformedTargetRegressor with inverse_func=cbrt (converted: exp, expm1, log, "
        "log1p, sqrt, square)",
        id="target-inverse",
    ),
    pytest.param(
        lambda: zoo._regress(
            TransformedTargetRegressor(
                RandomForestRegressor(n_estimators=5, max_depth=3, random_state=0),
                transformer=QuantileTransformer(n_quantiles=50),
            ),
            zoo._integers("diabetes"),
        ),
        "TransformedTargetRegressor with a transformer= (converted: func and inverse_func)",
        id="target-transformer",
    ),
]


@pytest.mark.parametrize(("build", "message"), REFUSED)
def test_what_cannot_be_converted_is_refused(build: Any, message: str) -> None:
    f = build()
    with pytest.raises(ExactConversionUnsupported) as info:
        onnx_graph.convert(f.pipeline, f.X_train.shape[1])
    assert str(info.value) == message


# --- a forged link ---------------------------------------------------------------------------
def test_a_link_the_runtime_does_not_know_is_refused_at_load() -> None:
    """The metadata only picks a function from skbundle's own table (onnx_format.LINKS): a
    model naming any other is refused before a prediction runs."""
    f = zoo.case("penguins-mass-log-target-hgb").build()
    features = infer_schema(f.X_train, encoder_categories(f.pipeline, list(f.X_train.columns)))
    model = onnx_graph.convert(f.pipeline, len(features), features)
    [entry] = [p for p in model.metadata_props if p.key == onnx_graph.LINK_KEY]
    entry.value = "numpy.frombuffer"
    with pytest.raises(UntrustedArtifactError) as info:
        FORMATS["onnx"].load(model.SerializeToString(), source="model.onnx")
    assert str(info.value) == (
        "Refusing to load model.onnx: its metadata names a link this skbundle does not know "
        "('numpy.frombuffer') or it has no 'raw_scores' output. Rebuild the bundle with this "
        "version of skbundle."
    )
