"""Parity: how exactly a runtime reproduces the fitted pipeline, measured at save time.

Every runtime predicts two sets of rows, and the manifest records, per set and overall, the
largest absolute probability difference from the fitted pipeline and the label agreement:

- ``test``: the held-out data;
- ``missing`` (when the training data had missing values): held-out rows with one feature,
  then every such feature, set to NaN, so that a tree's own missing-value routing (or an
  imputer) is reproduced, not just the rows that happen to be complete;
- ``boundary`` (tree models): rows that sit exactly on a split threshold and one float32 ulp
  either side of it. A tree compares the float32 of the *preprocessed* feature with a float64
  threshold, so the boundary values are chosen in that space (the largest float32 that goes
  left, the float32 below it, the float32 above it) and mapped back through the preprocessing
  (``StandardScaler``, ``SimpleImputer``). Each row is then checked: run through the fitted
  preprocessing and cast to float32, its feature must equal the intended value; rows that do
  not are dropped, and the count of both is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from skbundle.core.manifest import Parity, ParitySet
from skbundle.core.runtime import Predictor, qualified_name

MAX_BOUNDARY_NODES = 4000
"""Split nodes probed at most (3 rows each); larger forests are sampled deterministically."""
MISSING_ROWS_PER_FEATURE = 20
"""Held-out rows given a NaN in each feature that had missing values in training."""


@dataclass(frozen=True)
class EvaluationSet:
    """Rows in schema order (float64) that every runtime must reproduce, and how they were made."""

    name: str
    X: np.ndarray
    note: str = ""


def evaluation_set(X_test: np.ndarray) -> np.ndarray:
    """The held-out rows as a C-contiguous float64 array."""
    return np.ascontiguousarray(X_test, dtype=np.float64)


def _saw_names(estimator: Any) -> bool:
    """Whether the first real step of ``estimator`` was fitted on named columns."""
    first = estimator
    while hasattr(first, "steps"):
        steps = [s for _, s in first.steps if s is not None and s != "passthrough"]
        if not steps:
            return False
        first = steps[0]
    return getattr(first, "feature_names_in_", None) is not None


def model_input(estimator: Any, X: np.ndarray, names: list[str]) -> pd.DataFrame | np.ndarray:
    """Rows in the form the estimator was fitted on: named columns only if it saw names."""
    if _saw_names(estimator):
        frame: pd.DataFrame = pd.DataFrame(X, columns=pd.Index(names))
        return frame
    return X


def _final_and_preprocessing(pipeline: Any) -> tuple[Any, list[Any]]:
    steps = [s for _, s in getattr(pipeline, "steps", [("model", pipeline)])]
    return steps[-1], [s for s in steps[:-1] if s is not None and s != "passthrough"]


def _inverse(steps: list[Any], feature: int, value: np.ndarray) -> np.ndarray | None:
    """Raw values that the preprocessing maps to ``value`` for one feature; None if unknown."""
    out = value.astype(np.float64)
    for step in reversed(steps):
        kind = qualified_name(step)
        if kind == "sklearn.preprocessing._data.StandardScaler":
            if step.with_std:
                out = out * float(step.scale_[feature])
            if step.with_mean:
                out = out + float(step.mean_[feature])
        elif kind == "sklearn.impute._base.SimpleImputer" and not step.add_indicator:
            continue  # a present value passes through unchanged
        else:
            return None
    return out


def _targets(threshold: float) -> tuple[np.float32, np.float32, np.float32]:
    """(1 ulp below, on, 1 ulp above): 'on' is the largest float32 that still goes left."""
    on = np.float32(threshold)
    if float(on) > threshold:
        on = np.nextafter(on, np.float32(-np.inf))
    return (
        np.nextafter(on, np.float32(-np.inf)),
        on,
        np.nextafter(on, np.float32(np.inf)),
    )


def boundary_set(pipeline: Any, base: np.ndarray, feature_names: list[str]) -> EvaluationSet:
    """Rows on and one float32 ulp either side of every split threshold of a tree model.

    Parameters
    ----------
    pipeline
        The fitted pipeline; its last step must be a tree or a forest of trees.
    base
        Raw rows (float64, schema order) to start from: for each split node, a row that
        reaches the node has the node's feature replaced.
    feature_names
        Column names, so that the preprocessing sees the frame it was fitted on.
    """
    final, pre = _final_and_preprocessing(pipeline)
    if hasattr(final, "_predictors"):
        return _histogram_boundary_set(pipeline, final, pre, base, feature_names)
    # Gradient boosting holds a 2-D array of trees (stage x class); forests a list.
    trees = list(np.asarray(getattr(final, "estimators_", [final]), dtype=object).ravel())
    if not all(hasattr(t, "tree_") for t in trees):
        return EvaluationSet("boundary", np.empty((0, base.shape[1])), "not a tree model")
    head = pipeline[:-1] if pre else None
    prepared = np.asarray(
        head.transform(model_input(head, base, feature_names)) if head else base,
        dtype=np.float32,
    )
    nodes: list[tuple[int, int, int]] = []  # (tree, node, base row)
    for t, tree_est in enumerate(trees):
        tree = tree_est.tree_
        reached = tree.decision_path(np.ascontiguousarray(prepared)).tocsc()
        # A split on "missing or not" has an infinite threshold: no finite row sits on it
        # (the missing set covers it), and an infinite input is refused by scikit-learn.
        splits = (tree.children_left != -1) & np.isfinite(tree.threshold)
        for split in np.flatnonzero(splits).tolist():
            hits = reached.indices[reached.indptr[split] : reached.indptr[split + 1]]
            nodes.append((t, split, int(hits[0]) if len(hits) else 0))
    splits = []
    for t, node, row in _sample(nodes):
        tree = trees[t].tree_
        targets = np.array(_targets(float(tree.threshold[node])), dtype=np.float32)
        splits.append((int(tree.feature[node]), targets, row))
    return _landing_rows(pipeline, pre, base, feature_names, splits, np.float32)


def _histogram_boundary_set(
    pipeline: Any, final: Any, pre: list[Any], base: np.ndarray, feature_names: list[str]
) -> EvaluationSet:
    """Boundary rows for histogram gradient boosting, whose predictors compare the float64
    value itself with ``num_threshold``: rows on it and one float64 ulp either side."""
    splits: list[tuple[int, float]] = []
    for iteration in final._predictors:
        for predictor in iteration:
            nodes = predictor.nodes
            keep = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 0)
            keep &= np.isfinite(nodes["num_threshold"])
            for feature, threshold in zip(
                nodes["feature_idx"][keep].tolist(), nodes["num_threshold"][keep].tolist(),
                strict=True,
            ):  # fmt: skip
                splits.append((int(feature), float(threshold)))
    rows = [
        (feature, np.array([np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf)]), i)
        for i, (feature, t) in enumerate(_sample(splits))
    ]
    return _landing_rows(pipeline, pre, base, feature_names, rows, np.float64)


_T = TypeVar("_T")


def _sample(splits: list[_T]) -> list[_T]:
    """At most ``MAX_BOUNDARY_NODES`` split nodes, sampled deterministically."""
    if len(splits) <= MAX_BOUNDARY_NODES:
        return splits
    pick = np.random.default_rng(0).choice(len(splits), MAX_BOUNDARY_NODES, replace=False)
    return [splits[i] for i in sorted(pick)]


def _landing_rows(
    pipeline: Any,
    pre: list[Any],
    base: np.ndarray,
    feature_names: list[str],
    splits: list[tuple[int, np.ndarray, int]],
    dtype: type[np.floating[Any]],
) -> EvaluationSet:
    """Rows whose preprocessed ``feature`` lands exactly on each of ``targets`` (in the dtype
    the model compares in), built from base row ``row`` and kept only when verified.

    ``splits`` holds ``(feature, targets, row)``; a row index past ``base`` wraps around.
    """
    width = base.shape[1]
    rows: list[np.ndarray] = []
    wanted: list[tuple[int, Any]] = []
    for feature, targets, row in splits:
        raw = _inverse(pre, feature, targets)
        if raw is None:
            return EvaluationSet(
                "boundary", np.empty((0, width)), "preprocessing is not invertible"
            )
        for value, target in zip(raw, targets, strict=True):
            candidate = base[row % len(base)].copy()
            candidate[feature] = value
            rows.append(candidate)
            wanted.append((feature, target))
    if not rows:
        return EvaluationSet("boundary", np.empty((0, width)), "no split nodes")
    X = np.vstack(rows)
    head = pipeline[:-1] if pre else None
    seen = np.asarray(
        head.transform(model_input(head, X, feature_names)) if head else X, dtype=dtype
    )
    ok = np.array([seen[i, f] == target for i, (f, target) in enumerate(wanted)], dtype=bool)
    precision = "float32" if dtype is np.float32 else "float64"
    note = (
        f"{len(splits)} split nodes x 3 (1 ulp below, on, 1 ulp above the threshold in "
        f"{precision}); {int(ok.sum())} of {len(ok)} rows verified to land there"
    )
    return EvaluationSet("boundary", np.ascontiguousarray(X[ok]), note)


def missing_set(X_test: np.ndarray, X_train: np.ndarray) -> EvaluationSet:
    """Held-out rows with NaN in the features that had missing values in training.

    For each such feature, the first ``MISSING_ROWS_PER_FEATURE`` held-out rows with that
    feature set to NaN, then the same rows with every such feature NaN at once.
    """
    width = X_train.shape[1]
    allowed = np.flatnonzero(np.isnan(X_train).any(axis=0)).tolist()
    if not allowed:
        return EvaluationSet("missing", np.empty((0, width)), "no feature had missing values")
    base = np.ascontiguousarray(X_test[:MISSING_ROWS_PER_FEATURE], dtype=np.float64)
    blocks = []
    for feature in allowed:
        block = base.copy()
        block[:, feature] = np.nan
        blocks.append(block)
    every = base.copy()
    every[:, allowed] = np.nan
    blocks.append(every)
    note = (
        f"{len(allowed)} features with missing values in training: {len(base)} held-out rows "
        "with each set to NaN, then with all of them NaN"
    )
    return EvaluationSet("missing", np.ascontiguousarray(np.vstack(blocks)), note)


def evaluation_sets(
    pipeline: Any, X_test: np.ndarray, X_train: np.ndarray, feature_names: list[str]
) -> list[EvaluationSet]:
    """The held-out rows, rows with missing values, and, for tree models, the boundary rows."""
    base = np.vstack([X_test, X_train]).astype(np.float64)
    return [
        EvaluationSet("test", evaluation_set(X_test)),
        missing_set(X_test, X_train),
        boundary_set(pipeline, base, feature_names),
    ]


def reference(pipeline: Any, X: np.ndarray, feature_names: list[str]) -> np.ndarray:
    """The fitted pipeline's own probabilities, given the frame it was fitted on."""
    if len(X) == 0:
        return np.empty((0, len(pipeline.classes_)), dtype=np.float64)
    return np.asarray(
        pipeline.predict_proba(model_input(pipeline, X, feature_names)), dtype=np.float64
    )


def _compare(expected: np.ndarray, runtime: Predictor, X: np.ndarray) -> ParitySet:
    if len(X) == 0:
        return ParitySet(n_rows=0, max_abs_diff=0.0, label_agreement=1.0)
    got = runtime.predict_proba(X)
    if got.shape != expected.shape:
        return ParitySet(n_rows=len(X), max_abs_diff=float("inf"), label_agreement=0.0)
    return ParitySet(
        n_rows=len(X),
        max_abs_diff=float(np.max(np.abs(got - expected))),
        label_agreement=float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1))),
    )


def measure_sets(
    references: list[np.ndarray], runtime: Predictor, sets: list[EvaluationSet]
) -> Parity:
    """Compare a runtime with the reference on every set; overall figures are the worst/total."""
    parts = {s.name: _compare(ref, runtime, s.X) for ref, s in zip(references, sets, strict=True)}
    n_rows = sum(p.n_rows for p in parts.values())
    agree = sum(p.label_agreement * p.n_rows for p in parts.values()) / max(n_rows, 1)
    diff = max(p.max_abs_diff for p in parts.values())
    all_agree = all(p.label_agreement == 1.0 for p in parts.values())
    return Parity(
        n_rows=n_rows,
        max_abs_diff=diff,
        label_agreement=1.0 if all_agree else agree,
        exact=bool(diff == 0.0 and all_agree),
        sets=parts,
        notes={s.name: s.note for s in sets if s.note},
    )


def measure(reference: np.ndarray, runtime: Predictor, X: np.ndarray) -> Parity:
    """Compare a runtime's probabilities and labels with the reference's on ``X``."""
    return measure_sets([reference], runtime, [EvaluationSet("test", X)])
