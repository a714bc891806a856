"""Forests, extra trees and decision trees: leaf values summed in tree order, divided once."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._ensemble import Ensemble, estimator_trees
from skbundle.formats.onnx_graph._graph import Graph

LEAF_INDEX_CLASSES = 3
"""From this many classes on, a forest's trees are walked once each (``_leaf_sums``) instead
of once per class: fewer walks outweigh the two ops more (measured on wine's extra trees: 38
to 29 us per row; with two classes the two ways cost the same)."""


def tree_classifier(g: Graph, estimator: Any, x: str) -> str:
    """A forest's (or one tree's) class probabilities: sum the trees in order, divide once.

    Each tree appears once per class, each copy feeding one class, so every class sums its
    trees in tree order; NaN goes where each node recorded (``tree_.missing_go_to_left``).
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    n_classes = len(estimator.classes_)
    trees = estimator_trees(estimator)
    if hasattr(estimator, "estimators_") and n_classes >= LEAF_INDEX_CLASSES:
        summed = _leaf_sums(g, trees, x)
    else:
        ensemble = Ensemble()
        for tree_est in trees:
            tree = tree_est.tree_
            go_left = getattr(tree, "missing_go_to_left", None)
            for k in range(n_classes):
                ensemble.add_tree(tree, k, tree.value[:, 0, k], missing_left=go_left)
        summed = ensemble.emit(g, x, n_classes)
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")


def _leaf_sums(g: Graph, trees: list[Any], x: str) -> str:
    """Every class's sum of the trees' leaf values, from 0.0 in tree order, each tree walked once.

    One ``TreeEnsemble`` target per tree, whose leaves weigh their row in a table of every
    leaf's class values (a whole number, exact in float64); ``Gather`` reads each tree's row,
    and ``CumSum`` along the trees adds them one after the other as scikit-learn's
    ``all_proba += proba`` does (onnxruntime's CumSum is a sequential loop along the axis;
    its first element is the first tree's value, which is ``0.0 + value``), and the last
    running sum is the total.
    """
    ensemble = Ensemble()
    table: list[np.ndarray] = []
    placed = 0
    for t, tree_est in enumerate(trees):
        tree = tree_est.tree_
        leaves = np.flatnonzero(tree.children_left == -1)
        index = np.zeros(tree.node_count, dtype=np.float64)
        index[leaves] = np.arange(placed, placed + len(leaves), dtype=np.float64)
        placed += len(leaves)
        table.append(np.asarray(tree.value[leaves, 0, :], dtype=np.float64))
        go_left = getattr(tree, "missing_go_to_left", None)
        ensemble.add_tree(tree, t, index, missing_left=go_left)
    leaf = g.op("Cast", [ensemble.emit(g, x, len(trees))], "leaf_index", to=7)  # INT64
    values = g.op("Gather", [g.const("leaf_values", np.vstack(table)), leaf], "leaf_values", axis=0)
    running = g.op("CumSum", [values, g.const("tree_axis", np.array(1, dtype=np.int64))], "running")
    last = g.const("last_tree", np.array(len(trees) - 1, dtype=np.int64))
    return g.op("Gather", [running, last], "tree_sum", axis=1)


def tree_regressor(g: Graph, estimator: Any, x: str) -> str:
    """A forest's (or one tree's) prediction: the trees' values summed in tree order, divided once.

    ``ForestRegressor.predict`` adds each tree's prediction to a float64 array of zeros, tree
    after tree, then divides by ``len(estimators_)``; a single tree returns its leaf value.
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    ensemble = Ensemble()
    trees = estimator_trees(estimator)
    for tree_est in trees:
        tree = tree_est.tree_
        go_left = getattr(tree, "missing_go_to_left", None)
        ensemble.add_tree(tree, 0, tree.value[:, 0, 0], missing_left=go_left)
    summed = ensemble.emit(g, x, 1)
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")
