"""The whole pipeline: preprocessing steps, then the final step, as one ``onnx.ModelProto``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skbundle.core.manifest import FeatureSpec
from skbundle.core.runtime import COLUMN_TRANSFORMER, qualified_name
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._encoders import column_transformer
from skbundle.formats.onnx_graph._graph import (
    INPUT,
    IR_VERSION,
    LINK_KEY,
    ML_OPSET,
    OPSET,
    OUTPUT,
    RAW_OUTPUT,
    VALUES_OUTPUT,
    Graph,
)
from skbundle.formats.onnx_graph._preprocess import PREPROCESSORS, UFUNCS
from skbundle.formats.onnx_graph._registry import CLASSIFIERS, REGRESSORS
from skbundle.formats.onnx_graph._target import INVERSES, TARGET, unwrap

_SPARSE_EXACT = frozenset(kind for kind in (*CLASSIFIERS, *REGRESSORS) if "._logistic." not in kind)
"""Final steps whose result on a sparse matrix equals the dense one bit for bit (trees cast
to float32 and compare either way; a linear model's sparse dot product sums in another order)."""


_HIST = tuple(
    f"sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoosting{kind}"
    for kind in ("Classifier", "Regressor")
)


def _numeric_schema(n_features: int) -> tuple[FeatureSpec, ...]:
    return tuple(
        FeatureSpec(
            name=f"x{j}",
            dtype="float64",
            min=None,
            max=None,
            mean=None,
            std=None,
            missing_allowed=True,
        )
        for j in range(n_features)
    )


def convert(pipeline: Any, n_features: int, features: Sequence[FeatureSpec] | None = None) -> Any:
    """An ``onnx.ModelProto`` that maps float64 ``X`` (schema order) to float64 probabilities
    (``OUTPUT``, a classifier) or predictions (``VALUES_OUTPUT``, shape ``(n, 1)``, a regressor).

    ``features`` is the schema (``X`` holds categorical and boolean features as codes, see
    :mod:`skbundle.core.codes`); None means every feature is numeric.

    Raises
    ------
    ExactConversionUnsupported
        A step this converter does not reproduce exactly (the caller falls back to skl2onnx).
    """
    import onnx
    from onnx import TensorProto, helper

    schema = tuple(features) if features is not None else _numeric_schema(n_features)
    steps = [s for _, s in getattr(pipeline, "steps", [("model", pipeline)])]
    inverse = None
    if qualified_name(steps[-1]) == TARGET:
        inside, inverse = unwrap(steps[-1])
        steps = [*steps[:-1], *inside]
    *pre, final = steps
    pre = [s for s in pre if s is not None and not (isinstance(s, str) and s == "passthrough")]
    coded = [f.name for f in schema if f.kind != "numeric"]
    first_is_ct = bool(pre) and qualified_name(pre[0]) == COLUMN_TRANSFORMER
    # histogram gradient boosting with native categorical support reads the codes itself
    native = not pre and qualified_name(final) in _HIST and final._preprocessor is not None
    if coded and not first_is_ct and not native:
        first = pre[0] if pre else final
        raise ExactConversionUnsupported(
            f"{type(first).__name__} reads the categorical features ({', '.join(coded)}) "
            "directly: only a ColumnTransformer's encoders and histogram gradient boosting's "
            "native categorical support are converted"
        )
    g = Graph()
    g.schema = schema
    x = INPUT
    sparse = False
    for i, step in enumerate(pre):
        if i == 0 and first_is_ct:
            x = column_transformer(g, step, x, schema)
            sparse = bool(step.sparse_output_)
            continue
        if sparse:
            raise ExactConversionUnsupported(
                f"{type(step).__name__} after a ColumnTransformer with sparse output"
            )
        convert_step = PREPROCESSORS.get(qualified_name(step))
        if convert_step is None:
            raise ExactConversionUnsupported(f"no exact conversion for {type(step).__name__}")
        x = convert_step(g, step, x)
    kind = qualified_name(final)
    if sparse and kind not in _SPARSE_EXACT:
        raise ExactConversionUnsupported(
            f"{type(final).__name__} on the sparse output of a ColumnTransformer: its sums "
            "over sparse rows run in another order than the graph's"
        )
    if kind in CLASSIFIERS:
        convert_final, output, width = CLASSIFIERS[kind], OUTPUT, len(final.classes_)
    elif kind in REGRESSORS:
        convert_final, output, width = REGRESSORS[kind], VALUES_OUTPUT, 1
    else:
        raise ExactConversionUnsupported(f"no exact conversion for {type(final).__name__}")
    g.direct = not pre
    out = convert_final(g, final, x)
    if inverse is not None:
        g.raw = (out, 1, INVERSES[inverse])
        out = UFUNCS[inverse][1](g, out)
    g.nodes.append(helper.make_node("Identity", [out], [output]))
    outputs = [helper.make_tensor_value_info(output, TensorProto.DOUBLE, [None, width])]
    if g.raw is not None:
        raw, width, _ = g.raw
        g.nodes.append(helper.make_node("Identity", [raw], [RAW_OUTPUT]))
        outputs.append(helper.make_tensor_value_info(RAW_OUTPUT, TensorProto.DOUBLE, [None, width]))
    graph = helper.make_graph(
        g.nodes,
        "skbundle",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, n_features])],
        outputs,
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="skbundle",
    )
    model.ir_version = IR_VERSION
    if g.raw is not None:
        # ``probabilities`` stays for any ONNX consumer (within an ulp or two); skbundle's own
        # runtime applies the link to the exact raw scores as scikit-learn does.
        entry = model.metadata_props.add()
        entry.key, entry.value = LINK_KEY, g.raw[2]
    onnx.checker.check_model(model)
    return model
