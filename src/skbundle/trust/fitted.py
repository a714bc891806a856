"""Structural checks of fitted objects whose compiled code indexes arrays without bounds checks.

A skops file may construct scikit-learn's tree structures (``sklearn.tree._tree.Tree``, the
histogram-boosting ``TreePredictor``, ``KDTree`` / ``BallTree``) from arrays it supplies. Their
Cython prediction loops trust those arrays: a child index past the end reads outside the
array (a crash, or another object's memory in the output), a child that points back up makes
``predict`` loop forever, a feature index past the input's width reads past the row. So after a
model is constructed and before it predicts anything, every such structure it holds is checked
here, reading attributes only:

- ``Tree``: children are -1 (a leaf, both sides) or a later node of the same tree (so every
  walk ends), split features lie inside the estimator's input, and the value array has one
  entry per node;
- ``TreePredictor``: the same for its node records, and categorical splits name a bitset it has
  (bitsets of 8 words, the 256 categories a split reads);
- histogram gradient boosting: its bin mapper has one entry per input feature, and a
  categorical split is on a feature the bin mapper calls categorical (prediction looks the
  split's feature up in a table of the categorical features only);
- forests and ``GradientBoosting*``: every tree expects the ensemble's own input width (the
  ensemble checks the input once, then hands it to each tree unchecked), and gradient
  boosting has as many trees per stage as its initial predictions have columns (its compiled
  loop adds tree ``k`` of a stage into column ``k``);
- ``KDTree`` / ``BallTree``: every node's index range lies inside the index array, every index
  inside the data, and the node arrays have the size the tree's depth implies.

The walk follows estimators, lists, tuples, dicts and object arrays, visiting each object once
and no deeper than ``MAX_DEPTH``; more than ``MAX_OBJECTS`` objects is refused, not skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from skbundle.core.runtime import qualified_name
from skbundle.errors import UntrustedArtifactError

MAX_DEPTH = 64
MAX_OBJECTS = 1_000_000

_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_BINARY_TREES = frozenset(
    {"sklearn.neighbors._kd_tree.KDTree", "sklearn.neighbors._ball_tree.BallTree"}
)
_HIST_GRADIENT_BOOSTING = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    }
)
_GRADIENT_BOOSTING = frozenset(
    {
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._gb.GradientBoostingRegressor",
    }
)
_FORESTS = "sklearn.ensemble._forest."
_BITSET_WORDS = 8  # sklearn.utils._bitset: 8 words of 32 bits, one bit per category 0..255
_HINT = "The model file was damaged or forged; rebuild the bundle."


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            yield from ((f"[{i}]", v) for i, v in enumerate(obj.ravel().tolist()))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        yield from ((f".{k}", v) for k, v in vars(obj).items())


def _fail(source: str, where: str, problem: str) -> UntrustedArtifactError:
    return UntrustedArtifactError(source, f"{where} {problem}", _HINT)


def _check_links(
    left: np.ndarray, right: np.ndarray, *, leaf: np.ndarray, where: str, source: str
) -> None:
    """Children of internal nodes are later nodes of the same array (every walk ends)."""
    n = len(left)
    index = np.arange(n)
    internal = ~leaf
    for side, child in (("left", left), ("right", right)):
        bad = internal & ((child <= index) | (child >= n))
        if bad.any():
            node = int(np.flatnonzero(bad)[0])
            raise _fail(
                source,
                where,
                f"has node {node} whose {side} child is {int(child[node])}; expected a later "
                f"node below {n}",
            )


def check_tree(tree: Any, n_features: int, *, where: str, source: str) -> None:
    """Refuse a ``sklearn.tree._tree.Tree`` that its compiled ``apply`` could not walk safely."""
    n = int(tree.node_count)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    if n < 1 or len(left) != n or len(right) != n:
        raise _fail(
            source, where, f"has {len(left)} left and {len(right)} right links for {n} nodes"
        )
    leaf_left, leaf_right = left == -1, right == -1
    if (leaf_left != leaf_right).any():
        node = int(np.flatnonzero(leaf_left != leaf_right)[0])
        raise _fail(source, where, f"has node {node} with one child only")
    _check_links(left, right, leaf=leaf_left, where=where, source=source)
    feature = np.asarray(tree.feature)[~leaf_left]
    if feature.size and (feature.min() < 0 or feature.max() >= n_features):
        raise _fail(
            source, where, f"splits on feature {int(feature.max())}; the input has {n_features}"
        )
    value = np.asarray(tree.value)
    if value.shape[0] != n:
        raise _fail(source, where, f"has {value.shape[0]} values for {n} nodes")


def check_predictor(
    predictor: Any,
    n_features: int,
    *,
    where: str,
    source: str,
    categorical_features: np.ndarray | None = None,
) -> None:
    """Refuse a histogram-boosting ``TreePredictor`` whose nodes could not be walked safely.

    ``categorical_features``: one bool per feature, from the estimator's bin mapper; a
    categorical split must be on one of them.
    """
    nodes = np.asarray(predictor.nodes)
    if len(nodes) < 1:
        raise _fail(source, where, "has no nodes")
    leaf = nodes["is_leaf"] != 0
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    _check_links(left, right, leaf=leaf, where=where, source=source)
    feature = nodes["feature_idx"][~leaf]
    if feature.size and (feature.min() < 0 or feature.max() >= n_features):
        raise _fail(
            source, where, f"splits on feature {int(feature.max())}; the input has {n_features}"
        )
    categorical = (~leaf) & (nodes["is_categorical"] != 0)
    bitsets = np.asarray(predictor.raw_left_cat_bitsets)
    if categorical.any():
        if bitsets.ndim != 2 or bitsets.shape[1] != _BITSET_WORDS:
            raise _fail(
                source,
                where,
                f"has category bitsets of shape {bitsets.shape}; expected {_BITSET_WORDS} "
                "words per split",
            )
        if int(nodes["bitset_idx"][categorical].max()) >= len(bitsets):
            raise _fail(source, where, f"names a category bitset beyond its {len(bitsets)}")
        if categorical_features is not None:
            split_on = nodes["feature_idx"][categorical].astype(np.int64)
            outside = split_on[~categorical_features[split_on]]
            if outside.size:
                raise _fail(
                    source,
                    where,
                    f"splits on feature {int(outside[0])} as a category; its estimator's "
                    "categorical features are "
                    f"{np.flatnonzero(categorical_features).tolist()}",
                )


def check_hist_gradient_boosting(model: Any, width: int, *, where: str, source: str) -> None:
    """Refuse a histogram gradient boosting whose predictors split on a category its bin
    mapper does not know (the compiled predict reads a per-feature table at that index)."""
    mapper = vars(model).get("_bin_mapper")
    if mapper is None:
        raise _fail(source, where, "has predictors but no bin mapper")
    mask = np.asarray(mapper.is_categorical_)
    if mask.shape != (width,):
        raise _fail(
            source,
            where + "._bin_mapper",
            f"describes {mask.size} features; the estimator has {width}",
        )
    categorical = mask != 0
    for i, stage in enumerate(model._predictors):
        for k, predictor in enumerate(stage):
            if qualified_name(predictor) == _PREDICTOR:
                check_predictor(
                    predictor,
                    width,
                    where=f"{where}._predictors[{i}][{k}]",
                    source=source,
                    categorical_features=categorical,
                )


def check_ensemble_widths(model: Any, width: int, *, where: str, source: str) -> None:
    """Refuse a forest or gradient boosting whose trees expect another input width than the
    ensemble checks: it hands its validated input to every tree unchecked."""
    estimators = model.estimators_
    trees = estimators.ravel().tolist() if isinstance(estimators, np.ndarray) else estimators
    for i, tree in enumerate(trees):
        own = getattr(tree, "n_features_in_", None)
        if own is not None and own != width:
            raise _fail(
                source,
                f"{where}.estimators_",
                f"holds a tree (number {i}) that expects {own} features; the ensemble feeds "
                f"it {width} unchecked",
            )


def check_gradient_boosting(model: Any, *, where: str, source: str) -> None:
    """Refuse a ``GradientBoosting*`` whose stages have more trees than its initial
    predictions have columns (the compiled loop writes tree ``k`` into column ``k``)."""
    estimators = model.estimators_
    if not (isinstance(estimators, np.ndarray) and estimators.ndim == 2):
        raise _fail(source, f"{where}.estimators_", "is not a 2-D array of trees")
    init = model.init_
    if isinstance(init, str):
        columns = int(model.n_trees_per_iteration_)
    elif hasattr(model, "classes_") and getattr(model._loss, "is_multiclass", False):
        prior = getattr(init, "class_prior_", None)
        columns = len(prior) if prior is not None else len(init.classes_)
    else:
        columns = 1
    if estimators.shape[1] != columns:
        raise _fail(
            source,
            f"{where}.estimators_",
            f"has {estimators.shape[1]} trees per stage; its initial predictions have "
            f"{columns} column{'s' if columns != 1 else ''}",
        )


def check_binary_tree(tree: Any, *, where: str, source: str) -> None:
    """Refuse a ``KDTree`` / ``BallTree`` whose node ranges or indices leave their arrays."""
    data, idx_array, node_data, node_bounds = (np.asarray(a) for a in tree.get_arrays())
    n_samples, n_nodes = len(data), len(node_data)
    if len(idx_array) != n_samples or (
        n_samples and (idx_array.min() < 0 or idx_array.max() >= n_samples)
    ):
        raise _fail(source, where, f"has indices outside its {n_samples} samples")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if n_nodes and ((start < 0) | (start > end) | (end > n_samples)).any():
        raise _fail(source, where, f"has a node range outside its {n_samples} indices")
    inner = np.flatnonzero(node_data["is_leaf"] == 0)
    if inner.size and int(2 * inner.max() + 2) >= n_nodes:
        raise _fail(source, where, f"has an inner node whose children lie beyond its {n_nodes}")
    if (
        node_bounds.ndim != 3
        or node_bounds.shape[1] != n_nodes
        or (data.ndim == 2 and node_bounds.shape[2] != data.shape[1])
    ):
        raise _fail(source, where, f"has node bounds of shape {node_bounds.shape}")


def validate_fitted(model: Any, *, source: str) -> None:
    """Check every tree structure ``model`` holds, before it predicts anything.

    Raises
    ------
    UntrustedArtifactError
        A structure would make compiled code read outside its arrays or loop forever; the
        message names where it sits in the model (e.g. ``.steps[1][1].estimators_[3].tree_``).
    """
    seen: set[int] = set()
    stack: list[tuple[Any, str, int, int | None]] = [(model, "model", 0, None)]
    while stack:
        obj, where, depth, width = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        if len(seen) > MAX_OBJECTS or depth > MAX_DEPTH:
            raise _fail(source, where, f"is nested beyond what is checked ({MAX_DEPTH} levels)")
        name = qualified_name(obj)
        # the input width an estimator's trees are walked with: its own n_features_in_
        own = getattr(obj, "n_features_in_", None) if hasattr(obj, "get_params") else None
        width = int(own) if isinstance(own, (int, np.integer)) else width
        if name == _TREE:
            check_tree(obj, width if width is not None else int(obj.n_features), where=where,
                       source=source)  # fmt: skip
            continue
        if width is not None and name in _HIST_GRADIENT_BOOSTING and "_predictors" in vars(obj):
            # only a fitted one: a meta-estimator keeps its unfitted template beside it
            # (TransformedTargetRegressor.regressor next to regressor_)
            check_hist_gradient_boosting(obj, width, where=where, source=source)
        if width is not None and (name in _GRADIENT_BOOSTING or name.startswith(_FORESTS)):
            if hasattr(obj, "estimators_"):
                check_ensemble_widths(obj, width, where=where, source=source)
            if name in _GRADIENT_BOOSTING:
                check_gradient_boosting(obj, where=where, source=source)
        if name == _PREDICTOR:
            if width is None:
                raise _fail(source, where, "is a tree predictor outside any estimator")
            check_predictor(obj, width, where=where, source=source)
            continue
        if name in _BINARY_TREES:
            check_binary_tree(obj, where=where, source=source)
            continue
        stack.extend((v, where + k, depth + 1, width) for k, v in _children(obj))
