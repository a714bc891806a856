"""scikit-learn's gradient boosting (``GradientBoosting*``, ``HistGradientBoosting*``): the
init constant or baseline, then every stage's leaves, summed in float64 as ``predict`` sums them."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.core.runtime import qualified_name
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._ensemble import Ensemble
from skbundle.formats.onnx_graph._graph import Graph
from skbundle.formats.onnx_graph._links import with_link
from skbundle.formats.onnx_graph._native import NativeCategories


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


def _boosted_trees(g: Graph, estimator: Any, x: str, start: np.ndarray) -> str:
    """``start`` as one-leaf trees first, then each stage's ``learning_rate * value``."""
    k_trees = int(estimator.n_trees_per_iteration_)
    ensemble = Ensemble()
    for k in range(k_trees):
        ensemble.add_constant(k, float(start[k]))
    rate = float(estimator.learning_rate)
    for stage in estimator.estimators_:
        for k in range(k_trees):
            tree = stage[k].tree_
            ensemble.add_tree(tree, k, rate * tree.value[:, 0, 0])
    return ensemble.emit(g, x, k_trees)


def gradient_boosting_regressor(g: Graph, estimator: Any, x: str) -> str:
    """``predict`` is the raw score (``_raw_predict(X).ravel()``): every loss's link is the
    identity, and the init constant already went through it (``_raw_predict_init``).

    A NaN fails ``x <= threshold`` and goes right, as ``predict_stages`` does (scikit-learn
    refuses NaN before it gets there).
    """
    start = _boosting_start(estimator, "sklearn.dummy.DummyRegressor")
    return _boosted_trees(g, estimator, x, start)


def gradient_boosting(g: Graph, estimator: Any, x: str) -> str:
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
    return with_link(g, raw, int(estimator.n_trees_per_iteration_))


def _hist_raw(g: Graph, estimator: Any, x: str) -> str:
    """Histogram gradient boosting: the baseline, then every predictor's leaf values in order.

    Its predictors compare the float64 value with ``num_threshold`` (no float32 cast) and send
    NaN where each node recorded; leaf values already include the learning rate. With native
    categorical support, categorical nodes become set tests of the codes (``_native``).
    """
    native = None
    if getattr(estimator, "_preprocessor", None) is not None:
        if not g.direct:
            raise ExactConversionUnsupported(
                f"{type(estimator).__name__} with categorical features after other steps: "
                "its categories are converted only when it reads the schema's columns itself"
            )
        native = NativeCategories(estimator, g.schema)
    k_trees = int(estimator.n_trees_per_iteration_)
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(-1)
    ensemble = Ensemble()
    for k in range(k_trees):
        ensemble.add_constant(k, float(baseline[k]))
    for iteration in estimator._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            feature = nodes["feature_idx"].astype(np.int64)
            ensemble.add_nodes(
                k,
                left=np.where(nodes["is_leaf"] != 0, -1, nodes["left"].astype(np.int64)),
                right=nodes["right"],
                feature=native.columns[feature] if native is not None else feature,
                threshold=nodes["num_threshold"],
                leaf_values=nodes["value"],
                missing_left=nodes["missing_go_to_left"],
                member_sets=native.member_sets(predictor) if native is not None else None,
            )
    return ensemble.emit(g, x, k_trees, as_float32=False)


def hist_gradient_boosting(g: Graph, estimator: Any, x: str) -> str:
    """The classifier: raw scores, then the link (``with_link``)."""
    raw = _hist_raw(g, estimator, x)
    return with_link(g, raw, int(estimator.n_trees_per_iteration_))


def hist_gradient_boosting_regressor(g: Graph, estimator: Any, x: str) -> str:
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
