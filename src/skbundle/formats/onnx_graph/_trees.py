"""Forests, extra trees and decision trees: leaf values summed in tree order, divided once."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._ensemble import Ensemble, estimator_trees
from skbundle.formats.onnx_graph._graph import Graph


def tree_classifier(g: Graph, estimator: Any, x: str) -> str:
    """A forest's (or one tree's) class probabilities: sum the trees in order, divide once.

    Each tree appears once per class, each copy feeding one class, so every class sums its
    trees in tree order; NaN goes where each node recorded (``tree_.missing_go_to_left``).
    """
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise ExactConversionUnsupported(f"{type(estimator).__name__} with several outputs")
    n_classes = len(estimator.classes_)
    ensemble = Ensemble()
    trees = estimator_trees(estimator)
    for tree_est in trees:
        tree = tree_est.tree_
        go_left = getattr(tree, "missing_go_to_left", None)
        for k in range(n_classes):
            ensemble.add_tree(tree, k, tree.value[:, 0, k], missing_left=go_left)
    summed = ensemble.emit(g, x, n_classes)
    if not hasattr(estimator, "estimators_"):
        return summed
    return g.op("Div", [summed, g.const("n_trees", np.array(float(len(trees))))], "mean")


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
