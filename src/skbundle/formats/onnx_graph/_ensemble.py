"""One ``ai.onnx.ml`` opset-5 ``TreeEnsemble`` node, built tree after tree in the order it sums."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.formats.onnx_graph._graph import Graph


def estimator_trees(estimator: Any) -> list[Any]:
    if hasattr(estimator, "estimators_"):
        return list(estimator.estimators_)
    return [estimator]


class Ensemble:
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
        self.members: list[float] = []
        """The sets of ``BRANCH_MEMBER`` nodes, in node order, each followed by a NaN."""

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
        member_sets: dict[int, tuple[list[float], bool]] | None = None,
    ) -> None:
        """One tree given as node arrays, root at 0; a node whose ``left`` is -1 is a leaf.

        ``mode`` is the comparison sending a value left: 0 ``x <= threshold`` (scikit-learn,
        LightGBM), 1 ``x < threshold`` (XGBoost). ``member_sets[node]`` makes that node a set
        test (``BRANCH_MEMBER``, integer members only): ``(values, left)``, the values that go
        left (``left`` True) or right (False); every other non-missing value goes the other way.
        """
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
        sets = member_sets or {}
        for n in internal:
            nan_left = bool(missing_left[n]) if missing_left is not None else False
            go_left, go_right = child(int(left[n])), child(int(right[n]))
            if n not in sets:
                self._node(int(feature[n]), float(threshold[n]), go_left, go_right,
                           missing_left=nan_left, mode=mode)  # fmt: skip
                continue
            values, members_left = sets[n]
            self.members.extend([*values, float("nan")])
            true, false = (go_left, go_right) if members_left else (go_right, go_left)
            # missing_left names where NaN goes; the node's flag says "NaN takes true"
            self._node(int(feature[n]), 0.0, true, false,
                       missing_left=nan_left == members_left, mode=6)  # fmt: skip
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
        self.modes.append(mode)  # 0 BRANCH_LEQ, 1 BRANCH_LT, 6 BRANCH_MEMBER: true goes left
        self.features.append(feature)
        self.splits.append(split)
        self.true_ids.append(true[0])
        self.true_leaf.append(true[1])
        self.false_ids.append(false[0])
        self.false_leaf.append(false[1])
        self.missing_true.append(1 if missing_left else 0)

    def emit(
        self,
        g: Graph,
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
        sets: dict[str, Any] = {}
        if self.members:
            sets["membership_values"] = numpy_helper.from_array(np.array(self.members, dtype=dtype))
        return g.op(
            "TreeEnsemble",
            [x],
            "tree_sum",
            domain="ai.onnx.ml",
            **sets,
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
