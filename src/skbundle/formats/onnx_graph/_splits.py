"""The numeric splits of a LightGBM or XGBoost model, for the boundary parity set."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.core.runtime import qualified_name
from skbundle.formats.onnx_graph._lightgbm import LIGHTGBM, lightgbm_nodes
from skbundle.formats.onnx_graph._xgboost import XGBOOST, xgboost_trees


def gbm_splits(estimator: Any) -> tuple[list[tuple[int, float]], type[np.floating[Any]]] | None:
    """The numeric splits ``(feature, threshold)`` of a LightGBM or XGBoost model and the
    precision it compares in, or None for any other estimator (for the boundary parity set)."""
    kind = qualified_name(estimator)
    splits: list[tuple[int, float]] = []
    if kind in LIGHTGBM:
        for info in estimator.booster_.dump_model()["tree_info"]:
            nodes, _ = lightgbm_nodes(info["tree_structure"])
            splits.extend(
                (int(n["split_feature"]), float(n["threshold"]))
                for n in nodes
                if "split_index" in n and n["decision_type"] == "<="
            )
        return splits, np.float64
    if kind in XGBOOST:
        for tree in xgboost_trees(estimator):
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
