"""skbundle's own ONNX converter: a graph that computes what scikit-learn computes, bit for bit.

A default skl2onnx conversion of ``StandardScaler -> RandomForestClassifier`` differs from
scikit-learn by up to 0.01 in probability: it scales in float32 and compares float32 features
with float32 thresholds, while scikit-learn scales in float64, casts the scaled value to float32
and compares it (``<=``) with float64 thresholds, then sums the trees' leaf values in float64 in
tree order and divides by the number of trees. This module emits exactly those operations:

- input float64; ``SimpleImputer`` as ``Where(IsNaN(x), statistics, x)``; ``StandardScaler``
  as ``Sub`` then ``Div`` in float64 (scikit-learn's ``X -= mean_; X /= scale_``);
- trees: ``Cast`` to float32 and back to float64, then one ``ai.onnx.ml`` opset-5
  ``TreeEnsemble`` with float64 thresholds (``BRANCH_LEQ``) and float64 leaf values taken
  unchanged from ``tree_.value``; each tree appears once per class, each copy feeding one
  class, so every class sums its trees in tree order; ``SUM`` aggregation, then one ``Div`` by
  the number of trees. The session must run on one thread (see ``onnx_format``): onnxruntime
  may otherwise split the trees among threads and add partial sums in another order;
- ``LogisticRegression``: ``MatMul`` + ``Add`` and scikit-learn's softmax (``ReduceMax``,
  ``Sub``, ``Exp``, ``ReduceSum``, ``Div``), or ``Sigmoid`` for two classes. ``Exp`` in
  onnxruntime and numpy's vectorised ``exp`` can differ in the last bit, so linear models are
  usually label-exact but not bit-exact; parity is measured, never assumed.

Anything else raises :class:`~skbundle.errors.ExactConversionUnsupported`, and the ONNX format
falls back to skl2onnx.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported

INPUT = "X"
OUTPUT = "probabilities"
OPSET = 21
ML_OPSET = 5
IR_VERSION = 10


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(stem)
        domain = attrs.pop("domain", "")
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out


def _imputer(g: _Graph, step: Any, x: str) -> str:
    missing = step.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or step.add_indicator:
        raise ExactConversionUnsupported(
            "SimpleImputer other than missing_values=nan without indicator"
        )
    stats = np.asarray(step.statistics_, dtype=np.float64)
    if np.isnan(stats).any():
        raise ExactConversionUnsupported("SimpleImputer that drops all-missing columns")
    mask = g.op("IsNaN", [x], "missing")
    return g.op("Where", [mask, g.const("statistics", stats), x], "imputed")


def _scaler(g: _Graph, step: Any, x: str) -> str:
    if step.with_mean:
        x = g.op("Sub", [x, g.const("mean", np.asarray(step.mean_, np.float64))], "centred")
    if step.with_std:
        x = g.op("Div", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    return x


def _trees(estimator: Any) -> list[Any]:
    if hasattr(estimator, "estimators_"):
        return list(estimator.estimators_)
    return [estimator]


def _tree_ensemble(g: _Graph, estimator: Any, x: str) -> str:
    from onnx import numpy_helper

    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    n_classes = len(estimator.classes_)
    roots: list[int] = []
    modes: list[int] = []
    features: list[int] = []
    splits: list[float] = []
    true_ids: list[int] = []
    true_leaf: list[int] = []
    false_ids: list[int] = []
    false_leaf: list[int] = []
    missing_true: list[int] = []
    leaf_targets: list[int] = []
    leaf_weights: list[float] = []
    trees = _trees(estimator)
    for tree_est in trees:
        tree = tree_est.tree_
        left, right = tree.children_left, tree.children_right
        values = tree.value[:, 0, :n_classes]
        # Where a NaN goes: scikit-learn >= 1.3 records it per node (the side with missing
        # values at fit time, else the side with more samples); BRANCH_LEQ's "true" is left.
        go_left = getattr(tree, "missing_go_to_left", None)
        internal = [int(n) for n in np.flatnonzero(left != -1)]
        leaves = [int(n) for n in np.flatnonzero(left == -1)]
        for k in range(n_classes):
            node_at = {n: len(modes) + i for i, n in enumerate(internal)}
            leaf_at = {n: len(leaf_weights) + i for i, n in enumerate(leaves)}
            if not internal:  # a tree that is one leaf: a node whose both branches reach it
                roots.append(len(modes))
                modes.append(0)
                features.append(0)
                splits.append(0.0)
                true_ids.append(leaf_at[0])
                true_leaf.append(1)
                false_ids.append(leaf_at[0])
                false_leaf.append(1)
                missing_true.append(1)
            else:
                roots.append(node_at[0])
            for n in internal:
                modes.append(0)  # BRANCH_LEQ: x <= threshold goes to the true branch
                features.append(int(tree.feature[n]))
                splits.append(float(tree.threshold[n]))
                missing_true.append(int(go_left[n]) if go_left is not None else 0)
                branches = ((left[n], true_ids, true_leaf), (right[n], false_ids, false_leaf))
                for child, ids, flags in branches:
                    is_leaf = left[child] == -1
                    ids.append(leaf_at[child] if is_leaf else node_at[child])
                    flags.append(1 if is_leaf else 0)
            for n in leaves:
                leaf_targets.append(k)
                leaf_weights.append(float(values[n, k]))
    x32 = g.op("Cast", [x], "as_float32", to=1)
    x64 = g.op("Cast", [x32], "float32_as_double", to=11)
    summed = g.op(
        "TreeEnsemble",
        [x64],
        "tree_sum",
        domain="ai.onnx.ml",
        aggregate_function=1,  # SUM
        post_transform=0,
        n_targets=n_classes,
        tree_roots=roots,
        nodes_modes=numpy_helper.from_array(np.array(modes, dtype=np.uint8)),
        nodes_featureids=features,
        nodes_splits=numpy_helper.from_array(np.array(splits, dtype=np.float64)),
        nodes_truenodeids=true_ids,
        nodes_trueleafs=true_leaf,
        nodes_falsenodeids=false_ids,
        nodes_falseleafs=false_leaf,
        nodes_missing_value_tracks_true=missing_true,
        leaf_targetids=leaf_targets,
        leaf_weights=numpy_helper.from_array(np.array(leaf_weights, dtype=np.float64)),
    )
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")


def _logistic(g: _Graph, estimator: Any, x: str) -> str:
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64)
    n_classes = len(estimator.classes_)
    axis = g.const("axis", np.array([1], dtype=np.int64))
    scores = g.op("MatMul", [x, g.const("coef_t", np.ascontiguousarray(coef.T))], "dot")
    scores = g.op("Add", [scores, g.const("intercept", intercept)], "decision")
    if n_classes == 2 and coef.shape[0] == 1:
        positive = g.op("Sigmoid", [scores], "positive")
        negative = g.op("Sub", [g.const("one", np.array(1.0)), positive], "negative")
        return g.op("Concat", [negative, positive], "binary", axis=1)
    if coef.shape[0] != n_classes:
        raise ExactConversionUnsupported(
            "LogisticRegression whose coefficients are not one row per class"
        )
    top = g.op("ReduceMax", [scores, axis], "max", keepdims=1)
    shifted = g.op("Sub", [scores, top], "shifted")
    exp = g.op("Exp", [shifted], "exp")
    total = g.op("ReduceSum", [exp, axis], "sum", keepdims=1)
    return g.op("Div", [exp, total], "softmax")


# Matched by where the class is defined, not by its name: a user's own class called
# RandomForestClassifier is not scikit-learn's, and is not converted as if it were.
_PREPROCESSORS = {
    "sklearn.impute._base.SimpleImputer": _imputer,
    "sklearn.preprocessing._data.StandardScaler": _scaler,
}
_FINAL = {
    "sklearn.ensemble._forest.RandomForestClassifier": _tree_ensemble,
    "sklearn.ensemble._forest.ExtraTreesClassifier": _tree_ensemble,
    "sklearn.tree._classes.DecisionTreeClassifier": _tree_ensemble,
    "sklearn.tree._classes.ExtraTreeClassifier": _tree_ensemble,
    "sklearn.linear_model._logistic.LogisticRegression": _logistic,
}


def qualified_name(obj: Any) -> str:
    """``module.QualName`` of an object's class: what the converter and parity match on."""
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def convert(pipeline: Any, n_features: int) -> Any:
    """An ``onnx.ModelProto`` that maps float64 ``X`` (schema order) to float64 probabilities.

    Raises
    ------
    ExactConversionUnsupported
        A step this converter does not reproduce exactly (the caller falls back to skl2onnx).
    """
    import onnx
    from onnx import TensorProto, helper

    steps = [s for _, s in getattr(pipeline, "steps", [("model", pipeline)])]
    *pre, final = steps
    g = _Graph()
    x = INPUT
    for step in pre:
        if step is None or step == "passthrough":
            continue
        convert_step = _PREPROCESSORS.get(qualified_name(step))
        if convert_step is None:
            raise ExactConversionUnsupported(f"no exact conversion for {type(step).__name__}")
        x = convert_step(g, step, x)
    convert_final = _FINAL.get(qualified_name(final))
    if convert_final is None:
        raise ExactConversionUnsupported(f"no exact conversion for {type(final).__name__}")
    out = convert_final(g, final, x)
    g.nodes.append(helper.make_node("Identity", [out], [OUTPUT]))
    n_classes = len(final.classes_)
    graph = helper.make_graph(
        g.nodes,
        "skbundle",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, n_features])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None, n_classes])],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="skbundle",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model
