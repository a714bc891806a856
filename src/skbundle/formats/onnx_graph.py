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
- ``GradientBoostingClassifier`` (default prior init, log loss): the same ``TreeEnsemble``,
  with the init estimator's constant raw score as a one-leaf tree added first and each leaf
  weight ``learning_rate * value`` (scikit-learn's own float64 product), so the raw scores
  are bit-identical to ``decision_function``; then ``Sigmoid`` (two classes) or softmax. The
  link is where an ulp or two can differ (onnxruntime's ``Sigmoid``/``Exp`` against scipy's
  ``expit``/numpy's ``exp``): recorded by parity, and auto does not choose it;
- regressors: one output, ``values`` of shape ``(n, 1)``, the float64 ``predict``.
  ``DecisionTreeRegressor`` / ``RandomForestRegressor`` / ``ExtraTreesRegressor`` are the
  classifiers' trees with one target (``ForestRegressor.predict`` adds each tree's
  prediction into a float64 zero array in tree order, then divides by ``n_estimators``);
  ``GradientBoostingRegressor`` (any loss: all four have the identity link, and ``predict``
  returns the raw score) and ``HistGradientBoostingRegressor`` (identity-link losses only)
  are summed as their classifiers are, with no link;
- LightGBM (``LGBMClassifier``, ``LGBMRegressor``): the trees of ``booster_.dump_model()``
  (17 significant digits: every double round-trips), float64 ``x <= threshold`` with NaN sent
  per node (``missing_type`` None reads NaN as 0.0, NaN takes ``default_left``; Zero only when
  its zero range goes the default way anyway), leaf values (init score and shrinkage already
  in them) summed per class in float64 from 0.0 in tree order; the link in the runtime is
  LightGBM's own sigmoid or softmax. Categorical splits, linear trees and ``rf`` are refused;
- XGBoost (``XGBClassifier``, ``XGBRegressor``, gbtree): the trees of the booster's JSON,
  ``x`` cast to float32 and ``x < split_condition`` (``BRANCH_LT``) in float32, NaN to the
  default child, and per group the base margin then every leaf added in float32 (a float32
  ``TreeEnsemble``: onnxruntime adds in the type of its weights), checked against XGBoost's
  own margin of two probe rows at save time; the link (float32, the C library's ``expf``)
  in the runtime. Categorical splits, dart, a ``missing`` other than NaN are refused;
- ``LogisticRegression``: ``MatMul`` + ``Add`` and scikit-learn's softmax (``ReduceMax``,
  ``Sub``, ``Exp``, ``ReduceSum``, ``Div``), or ``Sigmoid`` for two classes. ``Exp`` in
  onnxruntime and numpy's vectorised ``exp`` can differ in the last bit, and a one-row
  ``MatMul`` may take another kernel than numpy's one-row dot product, so linear models are
  usually label-exact but not bit-exact; parity is measured, never assumed;
- a ``ColumnTransformer`` first (``_column_transformer``): numeric columns go through the
  steps above on their own columns (``Gather``); categorical and boolean features arrive as
  codes (:mod:`skbundle.core.codes`), and an encoder of one column (``SimpleImputer``, then
  ``OneHotEncoder`` or ``OrdinalEncoder``) is a function of that code, of at most
  ``len(categories) + 2`` values: the fitted ColumnTransformer is asked for each at build
  time and the graph looks the answers up (a one-hot block as the index of its hot column and
  ``Equal``), so ``drop``, ``handle_unknown``, infrequent categories and the imputer's fill are
  scikit-learn's own answers. With a sparse output, only trees are converted (they cast to
  float32 and compare alike; a linear model's sparse dot product sums in another order).

Anything else raises :class:`~skbundle.errors.ExactConversionUnsupported`, and the ONNX format
falls back to skl2onnx when every feature is numeric (skl2onnx reads values, not codes: a
bundle with categorical features then has no ONNX file).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from skbundle.core.codes import UNSEEN, Codec
from skbundle.core.manifest import FeatureSpec
from skbundle.core.runtime import qualified_name
from skbundle.errors import ExactConversionUnsupported

INPUT = "X"
OUTPUT = "probabilities"
"""A classifier's output: float64 probabilities, one column per class."""
VALUES_OUTPUT = "values"
"""A regressor's output: float64 predictions of shape ``(n, 1)``, what ``predict`` returns."""
RAW_OUTPUT = "raw_scores"
"""Second output of a model whose last step is a link (gradient boosting): the raw scores."""
LINK_KEY = "skbundle.link"
"""Model metadata naming that link ("expit" or "softmax"); see ``onnx_format.LINKS``."""
OPSET = 21
ML_OPSET = 5
IR_VERSION = 10


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0
        self.raw: tuple[str, int, str] | None = None
        """(raw-score tensor, width, link) when the probabilities are a link of raw scores."""

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


class _Ensemble:
    """The node and leaf arrays of one ``ai.onnx.ml`` ``TreeEnsemble``, tree after tree.

    onnxruntime sums each target's leaves in the order the trees were added (on one thread),
    starting from zero, so the order of ``add_*`` calls is the order of scikit-learn's sums.
    """

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.modes: list[int] = []
        self.features: list[int] = []
        self.splits: list[float] = []
        self.true_ids: list[int] = []
        self.true_leaf: list[int] = []
        self.false_ids: list[int] = []
        self.false_leaf: list[int] = []
        self.missing_true: list[int] = []
        self.leaf_targets: list[int] = []
        self.leaf_weights: list[float] = []

    def add_constant(self, target: int, value: float) -> None:
        """A tree that is one leaf: a node whose both branches reach it."""
        leaf = len(self.leaf_weights)
        self.roots.append(len(self.modes))
        self._node(0, 0.0, (leaf, 1), (leaf, 1), missing_left=True)
        self.leaf_targets.append(target)
        self.leaf_weights.append(value)

    def add_tree(
        self, tree: Any, target: int, leaf_values: np.ndarray, *, missing_left: Any = None
    ) -> None:
        """One fitted ``sklearn.tree._tree.Tree`` feeding ``target``.

        ``leaf_values[node]`` is what a leaf adds; ``missing_left[node]`` says where a NaN goes
        (None: NaN fails ``x <= threshold`` and goes right, as gradient boosting's own loop).
        """
        self.add_nodes(
            target,
            left=tree.children_left,
            right=tree.children_right,
            feature=tree.feature,
            threshold=tree.threshold,
            leaf_values=leaf_values,
            missing_left=missing_left,
        )

    def add_nodes(
        self,
        target: int,
        *,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        leaf_values: np.ndarray,
        missing_left: Any = None,
        mode: int = 0,
    ) -> None:
        """One tree given as node arrays, root at 0; a node whose ``left`` is -1 is a leaf.

        ``mode`` is the comparison sending a value left: 0 ``x <= threshold`` (scikit-learn,
        LightGBM), 1 ``x < threshold`` (XGBoost)."""
        internal = [int(n) for n in np.flatnonzero(left != -1)]
        leaves = [int(n) for n in np.flatnonzero(left == -1)]
        if not internal:
            self.add_constant(target, float(leaf_values[0]))
            return
        node_at = {n: len(self.modes) + i for i, n in enumerate(internal)}
        leaf_at = {n: len(self.leaf_weights) + i for i, n in enumerate(leaves)}

        def child(n: int) -> tuple[int, int]:
            return (leaf_at[n], 1) if left[n] == -1 else (node_at[n], 0)

        self.roots.append(node_at[0])
        for n in internal:
            nan_left = bool(missing_left[n]) if missing_left is not None else False
            self._node(int(feature[n]), float(threshold[n]), child(int(left[n])),
                       child(int(right[n])), missing_left=nan_left, mode=mode)  # fmt: skip
        for n in leaves:
            self.leaf_targets.append(target)
            self.leaf_weights.append(float(leaf_values[n]))

    def _node(
        self,
        feature: int,
        split: float,
        true: tuple[int, int],
        false: tuple[int, int],
        *,
        missing_left: bool,
        mode: int = 0,
    ) -> None:
        self.modes.append(mode)  # 0 BRANCH_LEQ, 1 BRANCH_LT: true goes to the left branch
        self.features.append(feature)
        self.splits.append(split)
        self.true_ids.append(true[0])
        self.true_leaf.append(true[1])
        self.false_ids.append(false[0])
        self.false_leaf.append(false[1])
        self.missing_true.append(1 if missing_left else 0)

    def emit(
        self,
        g: _Graph,
        x: str,
        n_targets: int,
        *,
        as_float32: bool = True,
        dtype: type[np.floating[Any]] = np.float64,
    ) -> str:
        """The summing node. ``as_float32``: fed ``x`` cast to float32 and back, as
        scikit-learn's ``tree_`` sees it (histogram gradient boosting compares float64).

        ``dtype=np.float32``: ``x`` cast to float32, thresholds and leaf weights float32, and
        the sum float32 too (onnxruntime adds in the type of its weights), as XGBoost does.
        """
        from onnx import numpy_helper

        if dtype is np.float32:
            x = g.op("Cast", [x], "as_float32", to=1)
        elif as_float32:
            x32 = g.op("Cast", [x], "as_float32", to=1)
            x = g.op("Cast", [x32], "float32_as_double", to=11)
        return g.op(
            "TreeEnsemble",
            [x],
            "tree_sum",
            domain="ai.onnx.ml",
            aggregate_function=1,  # SUM
            post_transform=0,
            n_targets=n_targets,
            tree_roots=self.roots,
            nodes_modes=numpy_helper.from_array(np.array(self.modes, dtype=np.uint8)),
            nodes_featureids=self.features,
            nodes_splits=numpy_helper.from_array(np.array(self.splits, dtype=dtype)),
            nodes_truenodeids=self.true_ids,
            nodes_trueleafs=self.true_leaf,
            nodes_falsenodeids=self.false_ids,
            nodes_falseleafs=self.false_leaf,
            nodes_missing_value_tracks_true=self.missing_true,
            leaf_targetids=self.leaf_targets,
            leaf_weights=numpy_helper.from_array(np.array(self.leaf_weights, dtype=dtype)),
        )


def _tree_ensemble(g: _Graph, estimator: Any, x: str) -> str:
    """A forest's (or one tree's) class probabilities: sum the trees in order, divide once.

    Each tree appears once per class, each copy feeding one class, so every class sums its
    trees in tree order; NaN goes where each node recorded (``tree_.missing_go_to_left``).
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    n_classes = len(estimator.classes_)
    ensemble = _Ensemble()
    trees = _trees(estimator)
    for tree_est in trees:
        tree = tree_est.tree_
        go_left = getattr(tree, "missing_go_to_left", None)
        for k in range(n_classes):
            ensemble.add_tree(tree, k, tree.value[:, 0, k], missing_left=go_left)
    summed = ensemble.emit(g, x, n_classes)
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")


def _tree_regressor(g: _Graph, estimator: Any, x: str) -> str:
    """A forest's (or one tree's) prediction: the trees' values summed in tree order, divided once.

    ``ForestRegressor.predict`` adds each tree's prediction to a float64 array of zeros, tree
    after tree, then divides by ``len(estimators_)``; a single tree returns its leaf value.
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    ensemble = _Ensemble()
    trees = _trees(estimator)
    for tree_est in trees:
        tree = tree_est.tree_
        go_left = getattr(tree, "missing_go_to_left", None)
        ensemble.add_tree(tree, 0, tree.value[:, 0, 0], missing_left=go_left)
    summed = ensemble.emit(g, x, 1)
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")


def _boosting_start(estimator: Any, init_class: str) -> np.ndarray:
    """The init estimator's constant raw prediction, one value per tree of an iteration.

    Only ``init="zero"`` and scikit-learn's ``Dummy*`` estimators predict a constant; any
    other init estimator depends on the row and is refused.
    """
    init = estimator.init_
    if not (isinstance(init, str) and init == "zero") and qualified_name(init) != init_class:
        raise ExactConversionUnsupported(
            f"{type(estimator).__name__} with an init estimator other than the default "
            f"(got {type(init).__name__})"
        )
    n_features = int(estimator.n_features_in_)
    start = estimator._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))[0]
    return np.asarray(start, dtype=np.float64)


def _boosted_trees(g: _Graph, estimator: Any, x: str, start: np.ndarray) -> str:
    """``start`` as one-leaf trees first, then each stage's ``learning_rate * value``."""
    k_trees = int(estimator.n_trees_per_iteration_)
    ensemble = _Ensemble()
    for k in range(k_trees):
        ensemble.add_constant(k, float(start[k]))
    rate = float(estimator.learning_rate)
    for stage in estimator.estimators_:
        for k in range(k_trees):
            tree = stage[k].tree_
            ensemble.add_tree(tree, k, rate * tree.value[:, 0, 0])
    return ensemble.emit(g, x, k_trees)


def _gradient_boosting_regressor(g: _Graph, estimator: Any, x: str) -> str:
    """``predict`` is the raw score (``_raw_predict(X).ravel()``): every loss's link is the
    identity, and the init constant already went through it (``_raw_predict_init``).

    A NaN fails ``x <= threshold`` and goes right, as ``predict_stages`` does (scikit-learn
    refuses NaN before it gets there).
    """
    start = _boosting_start(estimator, "sklearn.dummy.DummyRegressor")
    return _boosted_trees(g, estimator, x, start)


def _gradient_boosting(g: _Graph, estimator: Any, x: str) -> str:
    """Gradient boosting's raw score, summed as ``predict_stages`` sums it, then its link.

    scikit-learn starts from the init estimator's constant raw prediction and adds
    ``learning_rate * leaf value`` stage by stage in float64. Here the constant is a one-leaf
    tree added first (onnxruntime's sum starts at zero, and ``0 + c == c``), and each leaf
    weight is the same float64 product. The link is ``expit`` (two classes) or softmax.
    """
    init = estimator.init_
    prior = qualified_name(init) == "sklearn.dummy.DummyClassifier" and init.strategy == "prior"
    if not (init == "zero" or prior) or estimator.loss != "log_loss":
        raise ExactConversionUnsupported(
            "GradientBoostingClassifier with an init estimator or loss other than the default"
        )
    start = _boosting_start(estimator, "sklearn.dummy.DummyClassifier")
    raw = _boosted_trees(g, estimator, x, start)
    return _with_link(g, raw, int(estimator.n_trees_per_iteration_))


def _hist_raw(g: _Graph, estimator: Any, x: str) -> str:
    """Histogram gradient boosting: the baseline, then every predictor's leaf values in order.

    Its predictors compare the float64 value with ``num_threshold`` (no float32 cast) and send
    NaN where each node recorded; leaf values already include the learning rate. Categorical
    splits (bitsets) are not converted.
    """
    if getattr(estimator, "_preprocessor", None) is not None or (
        estimator.is_categorical_ is not None and bool(np.any(estimator.is_categorical_))
    ):
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with categorical features")
    k_trees = int(estimator.n_trees_per_iteration_)
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    ensemble = _Ensemble()
    for k in range(k_trees):
        ensemble.add_constant(k, float(baseline[k]))
    for iteration in estimator._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            ensemble.add_nodes(
                k,
                left=np.where(nodes["is_leaf"] != 0, -1, nodes["left"].astype(np.int64)),
                right=nodes["right"],
                feature=nodes["feature_idx"],
                threshold=nodes["num_threshold"],
                leaf_values=nodes["value"],
                missing_left=nodes["missing_go_to_left"],
            )
    return ensemble.emit(g, x, k_trees, as_float32=False)


def _hist_gradient_boosting(g: _Graph, estimator: Any, x: str) -> str:
    """The classifier: raw scores, then the link (``_with_link``)."""
    raw = _hist_raw(g, estimator, x)
    return _with_link(g, raw, int(estimator.n_trees_per_iteration_))


def _hist_gradient_boosting_regressor(g: _Graph, estimator: Any, x: str) -> str:
    """``predict`` is ``loss.link.inverse(raw)``: the raw score itself for the identity link
    (squared_error, absolute_error, quantile). Poisson and gamma have a log link, whose ``exp``
    onnxruntime may compute an ulp away from numpy's: refused."""
    link = qualified_name(estimator._loss.link)
    if link != "sklearn._loss.link.IdentityLink":
        raise ExactConversionUnsupported(
            f"HistGradientBoostingRegressor with loss={estimator.loss!r}: its link "
            f"({type(estimator._loss.link).__name__}) is not the identity"
        )
    return _hist_raw(g, estimator, x)


def _with_link(g: _Graph, raw: str, k_trees: int) -> str:
    """Probabilities from boosting's raw scores: expit for one score, softmax for several.

    The graph's own link serves any ONNX consumer (onnxruntime's Sigmoid/Exp may differ from
    scipy's/numpy's by an ulp); skbundle's runtime applies the link named in ``g.raw`` to the
    raw scores itself, exactly as scikit-learn does (``onnx_format.LINKS``).
    """
    g.raw = (raw, k_trees, "expit" if k_trees == 1 else "softmax")
    return _with_link_graph(g, raw, k_trees)


def _logistic(g: _Graph, estimator: Any, x: str) -> str:
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64)
    n_classes = len(estimator.classes_)
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
    return _softmax(g, scores)


def _softmax(g: _Graph, scores: str) -> str:
    """scikit-learn's softmax: subtract the row's max, exponentiate, divide by the sum."""
    axis = g.const("axis", np.array([1], dtype=np.int64))
    top = g.op("ReduceMax", [scores, axis], "max", keepdims=1)
    shifted = g.op("Sub", [scores, top], "shifted")
    exp = g.op("Exp", [shifted], "exp")
    total = g.op("ReduceSum", [exp, axis], "sum", keepdims=1)
    return g.op("Div", [exp, total], "softmax")


# -- LightGBM and XGBoost: their trees read from the fitted model, summed as their predictors do --

_LGBM_IDENTITY = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})
"""LightGBM objectives whose ``predict`` is the raw score (``ConvertOutput`` is the identity)."""
_LGBM_ZERO = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (a float): ``|x| <= it`` is zero for ``missing_type="Zero"``."""


def _lightgbm_missing_left(node: dict[str, Any]) -> bool:
    """Where LightGBM's ``NumericalDecision`` sends NaN at this node.

    ``missing_type`` "NaN": the default side. "None": NaN is read as 0.0 and compared.
    "Zero": NaN and every ``|x| <= kZeroThreshold`` go the default side; exact here only when
    the comparison sends that whole range the default side too.
    """
    kind, threshold, default_left = (
        node["missing_type"],
        float(node["threshold"]),
        bool(node["default_left"]),
    )
    if kind == "NaN":
        return default_left
    if kind == "None":
        return threshold >= 0.0  # NaN is read as 0.0
    if kind == "Zero" and default_left and threshold >= _LGBM_ZERO:
        return True
    if kind == "Zero" and not default_left and threshold < -_LGBM_ZERO:
        return False
    raise ExactConversionUnsupported(
        f"LightGBM split with missing_type={kind!r} whose zero range straddles its threshold "
        f"({threshold!r}): zero_as_missing sends values near 0 aside, which no ONNX node does"
    )


def _lightgbm_nodes(structure: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    """One dumped tree (``dump_model()["tree_info"][i]["tree_structure"]``) as a list of its
    nodes, root first, and each node's left child's index (-1: a leaf; the right child
    follows the left). No recursion: a tree may be deep."""
    nodes: list[dict[str, Any]] = [structure]
    left: list[int] = []
    i = 0
    while i < len(nodes):
        node = nodes[i]
        if "split_index" not in node:
            left.append(-1)
        else:
            left.append(len(nodes))
            nodes.extend((node["left_child"], node["right_child"]))
        i += 1
    return nodes, left


def _lightgbm_arrays(structure: dict[str, Any]) -> dict[str, np.ndarray]:
    """One dumped tree as node arrays, root at 0, for :meth:`_Ensemble.add_nodes`."""
    nodes, left = _lightgbm_nodes(structure)
    for node in nodes:
        if "split_index" in node and node["decision_type"] != "<=":
            raise ExactConversionUnsupported(
                f"LightGBM categorical split (decision_type {node['decision_type']!r}): "
                "only numeric splits are converted"
            )
    right = [-1 if n == -1 else n + 1 for n in left]
    split = ["split_index" in n for n in nodes]
    return {
        "left": np.array(left, dtype=np.int64),
        "right": np.array(right, dtype=np.int64),
        "feature": np.array(
            [n["split_feature"] if s else 0 for n, s in zip(nodes, split, strict=True)]
        ),
        "threshold": np.array(
            [float(n["threshold"]) if s else 0.0 for n, s in zip(nodes, split, strict=True)]
        ),
        "leaf_values": np.array(
            [0.0 if s else float(n["leaf_value"]) for n, s in zip(nodes, split, strict=True)]
        ),
        "missing_left": np.array(
            [_lightgbm_missing_left(n) if s else False for n, s in zip(nodes, split, strict=True)]
        ),
    }


def _lightgbm_dump(estimator: Any) -> dict[str, Any]:
    """``booster_.dump_model()`` (the iterations ``predict`` uses: the best one's when early
    stopping ran), refused for what ``predict`` does beyond summing trees."""
    booster = estimator.booster_
    params = booster.params
    if params.get("linear_tree") or params.get("linear_trees"):
        raise ExactConversionUnsupported("LightGBM with linear_tree=True (a linear model per leaf)")
    model: dict[str, Any] = booster.dump_model()
    if model.get("average_output"):
        raise ExactConversionUnsupported("LightGBM with boosting_type='rf' (averaged trees)")
    return model


def gbm_splits(estimator: Any) -> tuple[list[tuple[int, float]], type[np.floating[Any]]] | None:
    """The numeric splits ``(feature, threshold)`` of a LightGBM or XGBoost model and the
    precision it compares in, or None for any other estimator (for the boundary parity set)."""
    kind = qualified_name(estimator)
    splits: list[tuple[int, float]] = []
    if kind in _LIGHTGBM:
        for info in estimator.booster_.dump_model()["tree_info"]:
            nodes, _ = _lightgbm_nodes(info["tree_structure"])
            splits.extend(
                (int(n["split_feature"]), float(n["threshold"]))
                for n in nodes
                if "split_index" in n and n["decision_type"] == "<="
            )
        return splits, np.float64
    if kind in _XGBOOST:
        for tree in _xgboost_trees(estimator):
            splits.extend(
                (int(f), float(np.float32(t)))
                for f, t, left, split in zip(
                    tree["split_indices"],
                    tree["split_conditions"],
                    tree["left_children"],
                    tree["split_type"],
                    strict=True,
                )
                if left != -1 and int(split) == 0
            )
        return splits, np.float32
    return None


def _lightgbm_raw(g: _Graph, estimator: Any, x: str, model: dict[str, Any]) -> str:
    """LightGBM's raw scores: per class, from 0.0, each tree's leaf added in float64 in tree
    order (``GBDT::PredictRaw``); the init score is already in the first tree's leaves, and
    shrinkage in every leaf. Splits compare the float64 value with ``<=`` and send NaN per
    node (:func:`_lightgbm_missing_left`)."""
    k_trees = int(model["num_tree_per_iteration"])
    ensemble = _Ensemble()
    for i, info in enumerate(model["tree_info"]):
        tree = _lightgbm_arrays(info["tree_structure"])
        ensemble.add_nodes(
            i % k_trees,
            left=tree["left"],
            right=tree["right"],
            feature=tree["feature"],
            threshold=tree["threshold"],
            leaf_values=tree["leaf_values"],
            missing_left=tree["missing_left"],
        )
    return ensemble.emit(g, x, k_trees, as_float32=False)


def _lightgbm_classifier(g: _Graph, estimator: Any, x: str) -> str:
    """``predict_proba``: ``1 / (1 + exp(-raw))`` for two classes (``sigmoid:1``), LightGBM's
    own softmax otherwise (C ``exp``, a sequential sum: ``onnx_format.LINKS``)."""
    model = _lightgbm_dump(estimator)
    objective = str(model["objective"]).split()
    n_classes = len(estimator.classes_)
    if objective[:1] == ["binary"] and "sigmoid:1" in objective and n_classes == 2:
        link = "expit"
    elif objective[:1] == ["multiclass"] and int(model["num_class"]) == n_classes:
        link = "lightgbm-softmax"
    else:
        raise ExactConversionUnsupported(
            f"LGBMClassifier with objective {model['objective']!r} (converted: binary with "
            "sigmoid 1, multiclass)"
        )
    raw = _lightgbm_raw(g, estimator, x, model)
    width = int(model["num_tree_per_iteration"])
    g.raw = (raw, width, link)
    return _with_link_graph(g, raw, width)


def _lightgbm_regressor(g: _Graph, estimator: Any, x: str) -> str:
    """``predict`` is the raw score for the identity-output objectives (not ``reg_sqrt``)."""
    model = _lightgbm_dump(estimator)
    objective = str(model["objective"]).split()
    if objective[:1] != [] and objective[0] in _LGBM_IDENTITY and "sqrt" not in objective:
        return _lightgbm_raw(g, estimator, x, model)
    raise ExactConversionUnsupported(
        f"LGBMRegressor with objective {model['objective']!r}: its output is not the raw score"
    )


def _with_link_graph(g: _Graph, raw: str, width: int) -> str:
    """The probabilities for ONNX consumers other than skbundle (an ulp away, maybe)."""
    if width == 1:
        positive = g.op("Sigmoid", [raw], "positive")
        negative = g.op("Sub", [g.const("one", np.array(1.0)), positive], "negative")
        return g.op("Concat", [negative, positive], "binary", axis=1)
    return _softmax(g, raw)


_XGB_IDENTITY = frozenset(
    {"reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror"}
)
"""XGBoost objectives whose ``predict`` is the margin and whose base score is a margin."""


class _XGBoostModel:
    """An XGBoost model's trees (those ``predict`` uses), their groups, and the margin each
    group starts from, read from the booster's JSON at save time."""

    def __init__(self, estimator: Any) -> None:
        import json

        missing = estimator.missing
        if not (isinstance(missing, float) and np.isnan(missing)):
            raise ExactConversionUnsupported(
                f"XGBoost with missing={missing!r}: only NaN as the missing value is converted"
            )
        booster = estimator.get_booster()
        learner = json.loads(booster.save_raw("json"))["learner"]
        gbm = learner["gradient_booster"]
        if gbm["name"] != "gbtree":
            raise ExactConversionUnsupported(
                f"XGBoost with booster={gbm['name']!r} (converted: gbtree)"
            )
        params = learner["learner_model_param"]
        if int(params["num_target"]) != 1:
            raise ExactConversionUnsupported("XGBoost with several targets")
        self.objective = str(learner["objective"]["name"])
        model = gbm["model"]
        trees, groups = list(model["trees"]), [int(k) for k in model["tree_info"]]
        best = booster.attr("best_iteration")
        rounds = int(best) + 1 if best is not None else len(model["iteration_indptr"]) - 1
        # the sklearn wrapper predicts with the best iteration's trees after early stopping
        stop = int(model["iteration_indptr"][rounds])
        trees, groups = trees[:stop], groups[:stop]
        self.rounds = rounds
        for tree in trees:
            if any(int(t) != 0 for t in tree["split_type"]):
                raise ExactConversionUnsupported("XGBoost with categorical splits")
        self.trees, self.groups = trees, groups
        self.n_groups = max(1, int(params["num_class"]))
        scores = str(params["base_score"]).strip("[]").split(",")
        base = np.array([np.float32(float(s)) for s in scores], dtype=np.float32)
        if len(base) == 1:
            base = np.repeat(base, self.n_groups)
        self.base = self._margin(base)

    def _margin(self, base: np.ndarray) -> np.ndarray:
        """``ProbToMargin`` in float32: ``-logf(1 / b - 1)`` for binary:logistic (the C
        library's ``logf``, as XGBoost calls it); the identity for softprob and the
        identity-link regressions."""
        if self.objective == "binary:logistic":
            logf = libm_float32("logf")
            one = np.float32(1.0)
            return np.array(
                [np.float32(-logf(float(one / b - one))) for b in base.tolist()], dtype=np.float32
            )
        if self.objective == "multi:softprob" or self.objective in _XGB_IDENTITY:
            return base
        raise ExactConversionUnsupported(
            f"XGBoost with objective {self.objective!r} (converted: binary:logistic, "
            f"multi:softprob, {', '.join(sorted(_XGB_IDENTITY))})"
        )

    def margin_of(self, row: np.ndarray) -> np.ndarray:
        """This reading's margin of one row, in float32 as XGBoost's predictor sums it."""
        out: np.ndarray = self.base.copy()
        value = row.astype(np.float32)
        for tree, k in zip(self.trees, self.groups, strict=True):
            n = 0
            while tree["left_children"][n] != -1:
                v = value[tree["split_indices"][n]]
                if np.isnan(v):
                    go_left = bool(tree["default_left"][n])
                else:
                    go_left = bool(v < np.float32(tree["split_conditions"][n]))
                n = tree["left_children"][n] if go_left else tree["right_children"][n]
            out[k] = out[k] + np.float32(tree["split_conditions"][n])
        return out

    def check(self, estimator: Any) -> None:
        """XGBoost's own margin of two probe rows (zeros, and all missing) must be this
        reading's, bit for bit: a wrong base score or sum order is refused here."""
        n_features = int(estimator.n_features_in_)
        booster = estimator.get_booster()
        for row in (np.zeros(n_features), np.full(n_features, np.nan)):
            expected = np.asarray(
                booster.inplace_predict(
                    row.reshape(1, -1),
                    predict_type="margin",
                    iteration_range=(0, self.rounds),
                    missing=np.nan,
                ),
                dtype=np.float32,
            ).ravel()
            if not np.array_equal(self.margin_of(row), expected):
                raise ExactConversionUnsupported(
                    f"XGBoost with objective {self.objective!r}: its margin of a probe row is "
                    "not the sum this converter reads from the model"
                )


def _xgboost_model(estimator: Any) -> _XGBoostModel:
    return _XGBoostModel(estimator)


def _xgboost_trees(estimator: Any) -> list[dict[str, Any]]:
    """The booster's trees as its JSON model holds them, whatever the model: for their splits."""
    import json

    learner = json.loads(estimator.get_booster().save_raw("json"))["learner"]
    trees: list[dict[str, Any]] = learner["gradient_booster"].get("model", {}).get("trees", [])
    return trees


def _xgboost_raw(g: _Graph, estimator: Any, x: str) -> tuple[str, _XGBoostModel]:
    """XGBoost's margin as float64 (exactly its float32): ``x`` cast to float32, each node
    ``x < split_condition`` (float32) with NaN to its default child, and per group, from the
    base margin (a one-leaf tree first), every leaf added in float32 in tree order."""
    model = _xgboost_model(estimator)
    model.check(estimator)
    ensemble = _Ensemble()
    for k in range(model.n_groups):
        ensemble.add_constant(k, float(model.base[k]))
    for tree, k in zip(model.trees, model.groups, strict=True):
        left = np.asarray(tree["left_children"], dtype=np.int64)
        ensemble.add_nodes(
            k,
            left=left,
            right=np.asarray(tree["right_children"], dtype=np.int64),
            feature=np.asarray(tree["split_indices"], dtype=np.int64),
            threshold=np.asarray(tree["split_conditions"], dtype=np.float32),
            leaf_values=np.asarray(tree["split_conditions"], dtype=np.float32),
            missing_left=np.asarray(tree["default_left"], dtype=bool),
            mode=1,  # BRANCH_LT
        )
    summed = ensemble.emit(g, x, model.n_groups, dtype=np.float32)
    return g.op("Cast", [summed], "margin", to=11), model  # DOUBLE: exact


def _xgboost_classifier(g: _Graph, estimator: Any, x: str) -> str:
    """``predict_proba``: XGBoost's float32 sigmoid or softmax of the margin, with the C
    library's ``expf`` (``onnx_format.LINKS``)."""
    raw, model = _xgboost_raw(g, estimator, x)
    n_classes = len(estimator.classes_)
    if model.objective == "binary:logistic" and n_classes == 2 and model.n_groups == 1:
        link = "xgboost-expit"
    elif model.objective == "multi:softprob" and model.n_groups == n_classes:
        link = "xgboost-softmax"
    else:
        raise ExactConversionUnsupported(
            f"XGBClassifier with objective {model.objective!r} (converted: binary:logistic, "
            "multi:softprob)"
        )
    g.raw = (raw, model.n_groups, link)
    return _with_link_graph(g, raw, model.n_groups)


def _xgboost_regressor(g: _Graph, estimator: Any, x: str) -> str:
    """``predict`` is the margin itself for the identity-link objectives."""
    raw, model = _xgboost_raw(g, estimator, x)
    if model.objective not in _XGB_IDENTITY:
        raise ExactConversionUnsupported(
            f"XGBRegressor with objective {model.objective!r}: its output is not the margin"
        )
    return raw


def libm_float32(name: str) -> Any:
    """The C library's float32 function ``name`` (``expf``, ``logf``) via ctypes: what
    XGBoost's compiled code calls, which numpy's float32 ufuncs do not always match.

    Raises
    ------
    ExactConversionUnsupported
        No C math library is found (the XGBoost links cannot then be reproduced).
    """
    return _libm_functions().get(name) or _missing_libm(name)


def _missing_libm(name: str) -> Any:
    raise ExactConversionUnsupported(f"the C library's {name} is not available through ctypes")


_LIBM: dict[str, Any] = {}


def _libm_functions() -> dict[str, Any]:
    if _LIBM:
        return _LIBM
    import ctypes
    import ctypes.util

    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    if path is None:
        return _LIBM
    library = ctypes.CDLL(path)
    for name in ("expf", "logf"):
        function = getattr(library, name, None)
        if function is not None:
            function.restype = ctypes.c_float
            function.argtypes = [ctypes.c_float]
            _LIBM[name] = function
    return _LIBM


_LIGHTGBM = ("lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor")
_XGBOOST = ("xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRegressor")


# Matched by where the class is defined, not by its name: a user's own class called
# RandomForestClassifier is not scikit-learn's, and is not converted as if it were.
_PREPROCESSORS = {
    "sklearn.impute._base.SimpleImputer": _imputer,
    "sklearn.preprocessing._data.StandardScaler": _scaler,
}
_CLASSIFIERS = {
    "sklearn.ensemble._forest.RandomForestClassifier": _tree_ensemble,
    "sklearn.ensemble._forest.ExtraTreesClassifier": _tree_ensemble,
    "sklearn.tree._classes.DecisionTreeClassifier": _tree_ensemble,
    "sklearn.tree._classes.ExtraTreeClassifier": _tree_ensemble,
    "sklearn.linear_model._logistic.LogisticRegression": _logistic,
    "sklearn.ensemble._gb.GradientBoostingClassifier": _gradient_boosting,
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier": (
        _hist_gradient_boosting
    ),
    "lightgbm.sklearn.LGBMClassifier": _lightgbm_classifier,
    "xgboost.sklearn.XGBClassifier": _xgboost_classifier,
}
"""Final steps whose graph ends in ``OUTPUT``: probabilities, one column per class."""
_REGRESSORS = {
    "sklearn.ensemble._forest.RandomForestRegressor": _tree_regressor,
    "sklearn.ensemble._forest.ExtraTreesRegressor": _tree_regressor,
    "sklearn.tree._classes.DecisionTreeRegressor": _tree_regressor,
    "sklearn.tree._classes.ExtraTreeRegressor": _tree_regressor,
    "sklearn.ensemble._gb.GradientBoostingRegressor": _gradient_boosting_regressor,
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor": (
        _hist_gradient_boosting_regressor
    ),
    "lightgbm.sklearn.LGBMRegressor": _lightgbm_regressor,
    "xgboost.sklearn.XGBRegressor": _xgboost_regressor,
}
"""Final steps whose graph ends in ``VALUES_OUTPUT``: ``predict``, shape ``(n, 1)``."""


# -- ColumnTransformer: numeric columns as graph steps, categorical codes by lookup tables ----

_COLUMN_TRANSFORMER = "sklearn.compose._column_transformer.ColumnTransformer"
_FUNCTION_TRANSFORMER = "sklearn.preprocessing._function_transformer.FunctionTransformer"
_ONE_HOT = "sklearn.preprocessing._encoders.OneHotEncoder"
_ORDINAL = "sklearn.preprocessing._encoders.OrdinalEncoder"
_IMPUTER = "sklearn.impute._base.SimpleImputer"
_PIPELINE = "sklearn.pipeline.Pipeline"
_ENCODERS = (_ONE_HOT, _ORDINAL)
_PROBE_ERRORS = (ValueError, KeyError, IndexError, TypeError)
"""What a fitted encoder raises on a value it refuses (an unseen or missing category)."""


def _is_identity(step: Any) -> bool:
    """``"passthrough"``, or the identity ``FunctionTransformer`` a fitted ColumnTransformer
    puts in ``transformers_`` for ``remainder="passthrough"``."""
    if isinstance(step, str):
        return step == "passthrough"
    return (
        qualified_name(step) == _FUNCTION_TRANSFORMER
        and step.func is None
        and step.inverse_func is None
    )


def _steps_of(transformer: Any) -> list[Any]:
    if qualified_name(transformer) == _PIPELINE:
        return [s for _, s in transformer.steps if s is not None and s != "passthrough"]
    return [transformer]


def _widths(name: str, transformer: Any, n_columns: int) -> list[int]:
    """How many output columns each input column of a categorical transformer gives.

    Only steps that act column by column are accepted: ``SimpleImputer`` (no indicator), then
    at most one ``OneHotEncoder`` (``_n_features_outs``: its categories less the dropped one,
    with infrequent ones merged) or ``OrdinalEncoder`` (one column each), as the last step.
    """
    if _is_identity(transformer):
        return [1] * n_columns
    steps = _steps_of(transformer)
    for i, step in enumerate(steps):
        kind = qualified_name(step)
        if kind == _IMPUTER and not step.add_indicator:
            continue
        if kind in _ENCODERS and i == len(steps) - 1:
            if kind == _ORDINAL:
                return [1] * n_columns
            return [int(w) for w in step._n_features_outs]
        raise ExactConversionUnsupported(
            f"no exact conversion for {type(step).__name__} on the categorical columns of "
            f"ColumnTransformer transformer {name!r} (converted: SimpleImputer, then "
            "OneHotEncoder or OrdinalEncoder)"
        )
    raise ExactConversionUnsupported(
        f"ColumnTransformer transformer {name!r} hands categorical columns on without encoding them"
    )


class _Lookups:
    """Categorical columns of a ColumnTransformer, each a lookup from its code.

    Every encoder skbundle converts maps one input column to its output columns alone, so its
    output is a function of the code: of at most ``len(categories) + 2`` values (UNSEEN, each
    category, missing). The fitted ColumnTransformer itself computes that function, on rows
    decoded exactly as the runtime's input is; the graph looks the answers up. An output
    block of one column is a value table; a wider block must be one-hot (each row 0.0 but for
    at most one 1.0) and is kept as the hot column's index, compared with ``Equal``.
    """

    def __init__(self) -> None:
        self.columns: list[int] = []  # input column of each lookup
        self.missing_slot: list[float] = []  # the code a NaN reads (then + 1 + offset)
        self.offsets: list[float] = []
        self.table: list[float] = []
        self.values: list[tuple[int, int]] = []  # (lookup, CT output position)
        self.hot: list[tuple[int, int, int]] = []  # (lookup, local column, CT output position)

    def add(self, column: int, block: np.ndarray, positions: list[int]) -> None:
        """``block[slot]`` for slots UNSEEN, code 0 .. K-1, missing (a NaN row: refused)."""
        lookup = len(self.columns)
        self.columns.append(column)
        self.missing_slot.append(float(len(block) - 2))
        self.offsets.append(float(len(self.table) + 1))
        if block.shape[1] == 1:
            self.table.extend(block[:, 0].tolist())
            self.values.append((lookup, positions[0]))
            return
        known = ~np.isnan(block).any(axis=1)
        rows = block[known]
        if not (np.isin(rows, (0.0, 1.0)).all() and (rows.sum(axis=1) <= 1).all()):
            raise ExactConversionUnsupported(
                "an encoder whose output block is neither one column nor one-hot"
            )
        hot = np.where(known, np.argmax(np.nan_to_num(block), axis=1), -1.0)
        hot[known & (np.nan_to_num(block).sum(axis=1) == 0)] = -1.0
        self.table.extend(hot.astype(np.float64).tolist())
        for local, position in enumerate(positions):
            self.hot.append((lookup, local, position))

    def emit(self, g: _Graph, x: str) -> tuple[str, dict[int, int]]:
        """The looked-up values (m columns) then the h one-hot columns (without the m when
        every block is one-hot), and where each CT output position is in it."""
        m = len(self.columns)
        codes = g.op(
            "Gather", [x, g.const("code_columns", np.array(self.columns))], "codes", axis=1
        )
        missing = g.op("IsNaN", [codes], "code_missing")
        slot = g.op(
            "Where", [missing, g.const("missing_slot", np.array(self.missing_slot)), codes], "slot"
        )
        shifted = g.op("Add", [slot, g.const("table_offset", np.array(self.offsets))], "index")
        index = g.op("Cast", [shifted], "index_int", to=7)  # INT64
        table = g.const("table", np.array(self.table, dtype=np.float64))
        looked = g.op("Gather", [table, index], "looked_up", axis=0)
        where = {position: lookup for lookup, position in self.values}
        if not self.hot:
            return looked, where
        sources = np.array([lookup for lookup, _, _ in self.hot])
        wanted = np.array([float(local) for _, local, _ in self.hot])
        spread = g.op("Gather", [looked, g.const("hot_sources", sources)], "hot_index", axis=1)
        equal = g.op("Equal", [spread, g.const("hot_local", wanted)], "is_hot")
        hot = g.op("Cast", [equal], "one_hot", to=11)  # DOUBLE
        if not self.values:  # only one-hot blocks: the looked-up indices are not output
            return hot, {position: i for i, (_, _, position) in enumerate(self.hot)}
        block = g.op("Concat", [looked, hot], "encoded", axis=1)
        for i, (_, _, position) in enumerate(self.hot):
            where[position] = m + i
        return block, where

    @property
    def width(self) -> int:
        """Columns of what :meth:`emit` returns."""
        if not self.columns:
            return 0
        return len(self.hot) if not self.values else len(self.columns) + len(self.hot)


def _probe_rows(features: Sequence[FeatureSpec]) -> np.ndarray:
    """One row of codes every transformer accepts: each numeric feature at its training mean
    (0 without one), each categorical feature at its first category."""
    return np.array(
        [
            [
                (f.mean if f.mean is not None else 0.0) if f.kind == "numeric" else 0.0
                for f in features
            ]
        ],
        dtype=np.float64,
    )


def _transform(ct: Any, codes: np.ndarray, features: Sequence[FeatureSpec]) -> np.ndarray:
    """The fitted ColumnTransformer on code rows, decoded as the runtime's input is."""
    import warnings

    from scipy import sparse

    frame = Codec(features).decode(codes)
    given: Any = (
        frame
        if getattr(ct, "feature_names_in_", None) is not None
        else (frame.to_numpy(dtype=object))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories will be encoded as all zeros"
        out = ct.transform(given)
    if sparse.issparse(out):
        out = out.toarray()
    out = np.asarray(out)
    if out.dtype != np.float64:
        raise ExactConversionUnsupported(
            f"a ColumnTransformer whose output is {out.dtype}, not float64"
        )
    return out


def _code_table(ct: Any, features: Sequence[FeatureSpec], column: int, width: int) -> np.ndarray:
    """The ColumnTransformer's whole output for ``column`` at UNSEEN, each code, missing.

    A value the pipeline refuses (an unseen category with ``handle_unknown="error"``, a
    missing one it cannot encode) gives a row of NaN: the validator refuses it first.
    """
    spec = features[column]
    base = _probe_rows(features)
    n_codes = len(spec.categories or [])
    rows = np.repeat(base, n_codes, axis=0)
    rows[:, column] = np.arange(n_codes, dtype=np.float64)
    known = _transform(ct, rows, features)
    out = []
    for special in (UNSEEN, np.nan):
        row = base.copy()
        row[:, column] = special
        try:
            out.append(_transform(ct, row, features))
        except _PROBE_ERRORS:
            out.append(np.full((1, width), np.nan))
    return np.vstack([out[0], known, out[1]])


def _numeric_steps(g: _Graph, name: str, transformer: Any, x: str) -> str:
    if _is_identity(transformer):
        return x
    for step in _steps_of(transformer):
        convert_step = _PREPROCESSORS.get(qualified_name(step))
        if convert_step is None:
            raise ExactConversionUnsupported(
                f"no exact conversion for {type(step).__name__} in ColumnTransformer "
                f"transformer {name!r}"
            )
        x = convert_step(g, step, x)
    return x


def _column_transformer(g: _Graph, ct: Any, x: str, features: Sequence[FeatureSpec]) -> str:
    """The fitted ColumnTransformer's output, column for column (``output_indices_``).

    Transformers over numeric features are converted step by step on their columns
    (``Gather``); categorical and boolean features become lookups of their codes
    (:class:`_Lookups`). The pieces are concatenated and put in scikit-learn's order by one
    ``Gather``: copies only, so every value is the one scikit-learn's steps computed.
    """
    width = int(sum(s.stop - s.start for s in ct.output_indices_.values()))
    inputs = ct._transformer_to_input_indices
    pieces: list[str] = []
    order: dict[int, int] = {}  # CT output position -> column of the concatenated pieces
    placed = 0
    lookups = _Lookups()
    for name, transformer, _ in ct.transformers_:
        out = ct.output_indices_[name]
        columns = [int(c) for c in inputs[name]]
        if out.stop == out.start or (isinstance(transformer, str) and transformer == "drop"):
            continue
        categorical = [c for c in columns if features[c].kind != "numeric"]
        if not categorical:
            if len(columns) != out.stop - out.start:
                raise ExactConversionUnsupported(
                    f"ColumnTransformer transformer {name!r} changes the number of columns"
                )
            picked = g.op("Gather", [x, g.const("columns", np.array(columns))], "selected", axis=1)
            pieces.append(_numeric_steps(g, name, transformer, picked))
            for i in range(len(columns)):
                order[out.start + i] = placed + i
            placed += len(columns)
            continue
        if len(categorical) != len(columns) and not _is_identity(transformer):
            numeric = [features[c].name for c in columns if features[c].kind == "numeric"]
            raise ExactConversionUnsupported(
                f"ColumnTransformer transformer {name!r} mixes categorical and numeric features "
                f"({', '.join(numeric)}): only passthrough may"
            )
        widths = _widths(name, transformer, len(columns))
        if sum(widths) != out.stop - out.start:
            raise ExactConversionUnsupported(
                f"ColumnTransformer transformer {name!r}: its encoder's widths do not add up "
                "to its output"
            )
        start = out.start
        for column, w in zip(columns, widths, strict=True):
            positions = list(range(start, start + w))
            start += w
            if features[column].kind == "numeric":  # passthrough of a numeric column
                picked = g.op(
                    "Gather", [x, g.const("column", np.array([column]))], "selected", axis=1
                )
                pieces.append(picked)
                order[positions[0]] = placed
                placed += 1
                continue
            table = _code_table(ct, features, column, width)
            # the transformer's other columns must not move (other transformers may read
            # the same column: they are checked on their own)
            siblings = [p for p in range(out.start, out.stop) if p not in positions]
            others = table[:, siblings]
            if not (np.isnan(others) | (others == others[1:2])).all():
                raise ExactConversionUnsupported(
                    f"ColumnTransformer transformer {name!r}: feature {features[column].name!r} "
                    "changes output columns other than its own"
                )
            lookups.add(column, table[:, positions], positions)
    if lookups.columns:
        block, where = lookups.emit(g, x)
        pieces.append(block)
        for position, index in where.items():
            order[position] = placed + index
    if sorted(order) != list(range(width)):
        raise ExactConversionUnsupported(
            "a ColumnTransformer whose output columns are not all accounted for"
        )
    joined = pieces[0] if len(pieces) == 1 else g.op("Concat", pieces, "joined", axis=1)
    total = placed + lookups.width
    permutation = [order[p] for p in range(width)]
    if permutation == list(range(total)):
        return joined
    return g.op("Gather", [joined, g.const("ct_order", np.array(permutation))], "ct_output", axis=1)


_SPARSE_EXACT = frozenset(kind for kind in (*_CLASSIFIERS, *_REGRESSORS) if "_logistic" not in kind)
"""Final steps whose result on a sparse matrix equals the dense one bit for bit (trees cast
to float32 and compare either way; a linear model's sparse dot product sums in another order)."""


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
    *pre, final = steps
    pre = [s for s in pre if s is not None and not (isinstance(s, str) and s == "passthrough")]
    coded = [f.name for f in schema if f.kind != "numeric"]
    first_is_ct = bool(pre) and qualified_name(pre[0]) == _COLUMN_TRANSFORMER
    if coded and not first_is_ct:
        first = pre[0] if pre else final
        raise ExactConversionUnsupported(
            f"{type(first).__name__} reads the categorical features ({', '.join(coded)}) "
            "directly: only a ColumnTransformer's encoders are converted"
        )
    g = _Graph()
    x = INPUT
    sparse = False
    for i, step in enumerate(pre):
        if i == 0 and first_is_ct:
            x = _column_transformer(g, step, x, schema)
            sparse = bool(step.sparse_output_)
            continue
        if sparse:
            raise ExactConversionUnsupported(
                f"{type(step).__name__} after a ColumnTransformer with sparse output"
            )
        convert_step = _PREPROCESSORS.get(qualified_name(step))
        if convert_step is None:
            raise ExactConversionUnsupported(f"no exact conversion for {type(step).__name__}")
        x = convert_step(g, step, x)
    kind = qualified_name(final)
    if sparse and kind not in _SPARSE_EXACT:
        raise ExactConversionUnsupported(
            f"{type(final).__name__} on the sparse output of a ColumnTransformer: its sums "
            "over sparse rows run in another order than the graph's"
        )
    if kind in _CLASSIFIERS:
        convert_final, output, width = _CLASSIFIERS[kind], OUTPUT, len(final.classes_)
    elif kind in _REGRESSORS:
        convert_final, output, width = _REGRESSORS[kind], VALUES_OUTPUT, 1
    else:
        raise ExactConversionUnsupported(f"no exact conversion for {type(final).__name__}")
    out = convert_final(g, final, x)
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
