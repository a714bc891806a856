"""LightGBM: the trees of ``booster_.dump_model()``, summed as ``GBDT::PredictRaw`` sums them."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._ensemble import Ensemble
from skbundle.formats.onnx_graph._graph import Graph
from skbundle.formats.onnx_graph._links import with_link_graph

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


def lightgbm_nodes(structure: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
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
    """One dumped tree as node arrays, root at 0, for :meth:`Ensemble.add_nodes`."""
    nodes, left = lightgbm_nodes(structure)
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


def _lightgbm_raw(g: Graph, estimator: Any, x: str, model: dict[str, Any]) -> str:
    """LightGBM's raw scores: per class, from 0.0, each tree's leaf added in float64 in tree
    order (``GBDT::PredictRaw``); the init score is already in the first tree's leaves, and
    shrinkage in every leaf. Splits compare the float64 value with ``<=`` and send NaN per
    node (:func:`_lightgbm_missing_left`)."""
    k_trees = int(model["num_tree_per_iteration"])
    ensemble = Ensemble()
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


def lightgbm_classifier(g: Graph, estimator: Any, x: str) -> str:
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
    return with_link_graph(g, raw, width)


def lightgbm_regressor(g: Graph, estimator: Any, x: str) -> str:
    """``predict`` is the raw score for the identity-output objectives (not ``reg_sqrt``)."""
    model = _lightgbm_dump(estimator)
    objective = str(model["objective"]).split()
    if objective[:1] != [] and objective[0] in _LGBM_IDENTITY and "sqrt" not in objective:
        return _lightgbm_raw(g, estimator, x, model)
    raise ExactConversionUnsupported(
        f"LGBMRegressor with objective {model['objective']!r}: its output is not the raw score"
    )


LIGHTGBM = ("lightgbm.sklearn.LGBMClassifier", "lightgbm.sklearn.LGBMRegressor")
