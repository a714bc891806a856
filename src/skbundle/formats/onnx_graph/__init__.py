"""skbundle's own ONNX converter: a graph that computes what scikit-learn computes, bit for bit.

A default skl2onnx conversion of ``StandardScaler -> RandomForestClassifier`` differs from
scikit-learn by up to 0.01 in probability: it scales in float32 and compares float32 features
with float32 thresholds, while scikit-learn scales in float64, casts the scaled value to float32
and compares it (``<=``) with float64 thresholds, then sums the trees' leaf values in float64 in
tree order and divides by the number of trees. This package emits exactly those operations:

- input float64; ``SimpleImputer`` as ``Where(IsNaN(x), statistics, x)`` (with its missing
  indicator columns after); ``StandardScaler`` as ``Sub`` then ``Div`` in float64
  (scikit-learn's ``X -= mean_; X /= scale_``), and the other scalers and the numpy
  functions of a ``FunctionTransformer`` likewise (``_preprocess``);
- trees: ``Cast`` to float32 and back to float64, then one ``ai.onnx.ml`` opset-5
  ``TreeEnsemble`` with float64 thresholds (``BRANCH_LEQ``) and float64 leaf values taken
  unchanged from ``tree_.value``; each tree appears once per class, each copy feeding one
  class, so every class sums its trees in tree order; ``SUM`` aggregation, then one ``Div`` by
  the number of trees. From three classes on, each tree is walked once instead: its leaf
  gives a row of a table of class values, and ``CumSum`` along the trees adds them in tree
  order (``_trees``). The session must run on one thread (see ``onnx_format``): onnxruntime
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
  are summed as their classifiers are, with no link; a ``TransformedTargetRegressor``'s
  regressor likewise, its inverse numpy function left to the runtime (``_target``);
- histogram gradient boosting with native categorical splits (``categorical_features=``,
  pandas ``category`` columns): each bitset node a ``BRANCH_MEMBER`` test of skbundle's codes
  (``_native``);
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

The package, one module per concept: ``_graph`` (the graph under construction, names and
opsets), ``_ensemble`` (the ``TreeEnsemble`` node), ``_trees`` (forests and single trees),
``_boosting`` (scikit-learn's gradient boosting), ``_lightgbm``, ``_xgboost`` and ``_libm``
(the libraries' trees and the C math they link with), ``_linear``, ``_links``, ``_preprocess``
(numeric steps), ``_encoders`` (the ColumnTransformer), ``_native`` (histogram gradient
boosting's own categories), ``_target`` (a transformed target), ``_registry`` (final steps by
qualified name), ``_splits`` (the libraries' thresholds, for parity) and ``_convert``.
"""

from __future__ import annotations

from skbundle.formats.onnx_graph._convert import convert
from skbundle.formats.onnx_graph._ensemble import Ensemble
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
from skbundle.formats.onnx_graph._libm import libm_float32
from skbundle.formats.onnx_graph._splits import gbm_splits

# The names the parity tests build a hand-made ensemble with (tests/test_parity.py).
_Graph = Graph
_Ensemble = Ensemble

__all__ = [
    "INPUT",
    "IR_VERSION",
    "LINK_KEY",
    "ML_OPSET",
    "OPSET",
    "OUTPUT",
    "RAW_OUTPUT",
    "VALUES_OUTPUT",
    "Ensemble",
    "Graph",
    "convert",
    "gbm_splits",
    "libm_float32",
]
