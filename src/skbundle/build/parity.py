"""Parity: how exactly a runtime reproduces the fitted pipeline, measured at save time.

Every runtime predicts these sets of rows, and the manifest records, per set and overall, the
largest absolute difference of its output from the fitted pipeline's (probabilities, decision
scores or values: see :mod:`skbundle.core.runtime`) and the agreement of the predictions (the
label, or for a regressor the value, identical):

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
  not are dropped, and the count of both is recorded. LightGBM (float64 ``<=``) and XGBoost
  (float32 ``<``) get rows on and one ulp either side of each threshold in their own precision;
- ``categories`` (when there are categorical features): held-out rows with each categorical
  feature set to each of its known categories in turn, and to an unseen one where the
  pipeline accepts unknown categories.

Rows are float64 codes in schema order (:mod:`skbundle.core.codes`); the fitted pipeline is
given them decoded, as the DataFrame it was fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from skbundle.core.codes import UNSEEN, Codec
from skbundle.core.manifest import Output, Parity, ParitySet
from skbundle.core.runtime import Predictor, first_step, predict_output, qualified_name
from skbundle.formats.onnx_graph import gbm_splits

MAX_BOUNDARY_NODES = 4000
"""Split nodes probed at most (3 rows each); larger forests are sampled deterministically."""
MISSING_ROWS_PER_FEATURE = 20
"""Held-out rows given a NaN in each feature that had missing values in training."""
CATEGORY_ROWS = 5
"""Held-out rows given each known category (and an unseen one) of each categorical feature."""
MAX_CATEGORY_ROWS = 5000
"""Rows of the categories set at most; beyond, each feature's categories are sampled."""


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
    return getattr(first_step(estimator), "feature_names_in_", None) is not None


def model_input(estimator: Any, X: np.ndarray, codec: Codec) -> pd.DataFrame | np.ndarray:
    """Rows in the form the estimator was fitted on: the decoded DataFrame if it saw names."""
    if _saw_names(estimator):
        return codec.decode(X)
    return X if codec.plain else codec.decode(X).to_numpy(dtype=object)


class FittedModel:
    """The in-memory pipeline at save time as a runtime: code rows in, the runtime layout out.

    What every runtime is compared with, and what the checklist's probes run at save time.
    """

    def __init__(self, pipeline: Any, codec: Codec, output: Output) -> None:
        self.pipeline = pipeline
        self.codec = codec
        self.output = output

    def predict_output(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            width = len(self.pipeline.classes_) if self.output == "probabilities" else 1
            return np.empty((0, width), dtype=np.float64)
        return predict_output(self.pipeline, model_input(self.pipeline, X, self.codec), self.output)


_TARGET = "sklearn.compose._target.TransformedTargetRegressor"


def _final_and_preprocessing(pipeline: Any) -> tuple[Any, list[Any]]:
    """The model whose splits decide the boundaries, and the steps before it (a
    ``TransformedTargetRegressor``'s regressor: the target transform is after the splits)."""
    steps = [s for _, s in getattr(pipeline, "steps", [("model", pipeline)])]
    final = steps[-1]
    if qualified_name(final) == _TARGET:
        inner = final.regressor_
        inside = [s for _, s in getattr(inner, "steps", [("model", inner)])]
        steps = [*steps[:-1], *inside]
    return steps[-1], [s for s in steps[:-1] if s is not None and s != "passthrough"]


def _through(pre: list[Any], X: np.ndarray, codec: Codec) -> Any:
    """Rows through the preprocessing steps, as the pipeline hands them on."""
    if not pre:
        return X
    data = model_input(pre[0], X, codec)
    for step in pre:
        data = step.transform(data)
    return data


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
        elif kind == "sklearn.preprocessing._data.RobustScaler":
            if step.with_scaling:
                out = out * float(step.scale_[feature])
            if step.with_centering:
                out = out + float(step.center_[feature])
        elif kind == "sklearn.preprocessing._data.MinMaxScaler":
            out = (out - float(step.min_[feature])) / float(step.scale_[feature])
        elif kind == "sklearn.preprocessing._data.MaxAbsScaler":
            out = out * float(step.scale_[feature])
        elif kind == "sklearn.impute._base.SimpleImputer":
            if feature >= len(step.statistics_):
                return None  # a missing-indicator column: 0.0 or 1.0, no threshold's neighbour
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


def boundary_set(pipeline: Any, base: np.ndarray, codec: Codec) -> EvaluationSet:
    """Rows on and one float32 ulp either side of every split threshold of a tree model.

    Parameters
    ----------
    pipeline
        The fitted pipeline; its last step must be a tree or a forest of trees.
    base
        Raw rows (float64, schema order) to start from: for each split node, a row that
        reaches the node has the node's feature replaced.
    codec
        The schema's codes, so that the preprocessing sees the frame it was fitted on.
    """
    final, pre = _final_and_preprocessing(pipeline)
    if hasattr(final, "_predictors"):
        return _histogram_boundary_set(pipeline, final, pre, base, codec)
    library = gbm_splits(final)
    if library is not None:
        return _library_boundary_set(pipeline, pre, base, codec, *library)
    # Gradient boosting holds a 2-D array of trees (stage x class); forests a list.
    trees = list(np.asarray(getattr(final, "estimators_", [final]), dtype=object).ravel())
    if not all(hasattr(t, "tree_") for t in trees):
        return EvaluationSet("boundary", np.empty((0, base.shape[1])), "not a tree model")
    prepared = np.asarray(_through(pre, base, codec), dtype=np.float32)
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
    return _landing_rows(pipeline, pre, base, codec, splits, np.float32)


def _histogram_boundary_set(
    pipeline: Any, final: Any, pre: list[Any], base: np.ndarray, codec: Codec
) -> EvaluationSet:
    """Boundary rows for histogram gradient boosting, whose predictors compare the float64
    value itself with ``num_threshold``: rows on it and one float64 ulp either side."""
    columns = _hist_columns(final, pre)
    if columns is None:
        return EvaluationSet(
            "boundary",
            np.empty((0, base.shape[1])),
            "the model reorders its features after other preprocessing",
        )
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
                splits.append((columns[int(feature)], float(threshold)))
    rows = [
        (feature, np.array([np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf)]), i)
        for i, (feature, t) in enumerate(_sample(splits))
    ]
    return _landing_rows(pipeline, pre, base, codec, rows, np.float64)


def _hist_columns(final: Any, pre: list[Any]) -> list[int] | None:
    """The input column of each feature a histogram gradient boosting model's nodes name.

    With native categorical support the model's own ColumnTransformer puts the categorical
    columns first (``_preprocessor``): a node's ``feature_idx`` counts in that order. None
    when that order cannot be mapped to the pipeline's input (other steps come first).
    """
    own = getattr(final, "_preprocessor", None)
    if own is None:
        return list(range(int(final.n_features_in_)))
    if pre:
        return None
    inputs = own._transformer_to_input_indices
    return [int(c) for c in (*inputs.get("encoder", []), *inputs.get("numerical", []))]


def _library_boundary_set(
    pipeline: Any,
    pre: list[Any],
    base: np.ndarray,
    codec: Codec,
    splits: list[tuple[int, float]],
    dtype: type[np.floating[Any]],
) -> EvaluationSet:
    """Boundary rows for LightGBM (float64 ``x <= t``) and XGBoost (float32 ``x < t``): rows
    on each threshold and one ulp either side of it, in the precision the library compares."""
    rows = []
    for i, (feature, threshold) in enumerate(_sample(splits)):
        t = dtype(threshold)
        if not np.isfinite(t):
            continue
        targets = np.array([np.nextafter(t, dtype(-np.inf)), t, np.nextafter(t, dtype(np.inf))])
        rows.append((feature, targets.astype(dtype), i))
    return _landing_rows(pipeline, pre, base, codec, rows, dtype)


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
    codec: Codec,
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
    probe = np.zeros(1)
    if splits and not any(_inverse(pre, f, probe) is not None for f in range(width)):
        return EvaluationSet("boundary", np.empty((0, width)), "preprocessing is not invertible")
    for feature, targets, row in splits:
        raw = _inverse(pre, feature, targets) if feature < width else None
        if raw is None:
            continue  # a column the preprocessing adds (an imputer's missing indicator)
        if codec.features[feature].kind != "numeric":
            continue  # a categorical feature's value is a code, not a threshold's neighbour
        for value, target in zip(raw, targets, strict=True):
            candidate = base[row % len(base)].copy()
            candidate[feature] = value
            rows.append(candidate)
            wanted.append((feature, target))
    if not rows:
        return EvaluationSet("boundary", np.empty((0, width)), "no split nodes")
    X = np.vstack(rows)
    seen = np.asarray(_through(pre, X, codec), dtype=dtype)
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


def category_set(X_test: np.ndarray, codec: Codec) -> EvaluationSet:
    """Held-out rows with each categorical feature at each known category, and unseen."""
    width = len(codec.names)
    featured = [j for j, f in enumerate(codec.features) if f.kind != "numeric"]
    if not featured:
        return EvaluationSet("categories", np.empty((0, width)), "no categorical features")
    base = np.ascontiguousarray(X_test[:CATEGORY_ROWS], dtype=np.float64)
    per_feature = max(1, MAX_CATEGORY_ROWS // (len(featured) * len(base)))
    blocks = []
    for j in featured:
        spec = codec.features[j]
        codes = [float(k) for k in range(len(spec.categories or []))]
        if len(codes) > per_feature:
            codes = codes[:: -(-len(codes) // per_feature)]
        if spec.unknown == "accept":
            codes.append(UNSEEN)
        for code in codes:
            block = base.copy()
            block[:, j] = code
            blocks.append(block)
    unseen = sum(1 for j in featured if codec.features[j].unknown == "accept")
    note = (
        f"{len(featured)} categorical features: {len(base)} held-out rows with each set to "
        f"each known category" + (f", and to an unseen one ({unseen} features)" if unseen else "")
    )
    return EvaluationSet("categories", np.ascontiguousarray(np.vstack(blocks)), note)


def evaluation_sets(
    pipeline: Any, X_test: np.ndarray, X_train: np.ndarray, codec: Codec
) -> list[EvaluationSet]:
    """The held-out rows, rows with missing values and categories, and, for tree models, the
    boundary rows."""
    base = np.vstack([X_test, X_train]).astype(np.float64)
    return [
        EvaluationSet("test", evaluation_set(X_test)),
        missing_set(X_test, X_train),
        category_set(X_test, codec),
        boundary_set(pipeline, base, codec),
    ]


def agreement(got: np.ndarray, expected: np.ndarray, output: Output) -> float:
    """The share of rows whose prediction is the same: the label, or the value itself."""
    if output == "probabilities":
        return float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    return float(np.mean(got[:, 0] == expected[:, 0]))  # the class index, or the value


def _compare(expected: np.ndarray, runtime: Predictor, X: np.ndarray, output: Output) -> ParitySet:
    if len(X) == 0:
        return ParitySet(n_rows=0, max_abs_diff=0.0, label_agreement=1.0)
    got = runtime.predict_output(X)
    if got.shape != expected.shape:
        return ParitySet(n_rows=len(X), max_abs_diff=float("inf"), label_agreement=0.0)
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - expected)
    same_nan = np.isnan(got) & np.isnan(expected)
    diff[same_nan] = 0.0
    return ParitySet(
        n_rows=len(X),
        max_abs_diff=float(np.max(np.where(np.isnan(diff), np.inf, diff))),
        label_agreement=agreement(got, expected, output),
    )


def measure_sets(
    references: list[np.ndarray], runtime: Predictor, sets: list[EvaluationSet], output: Output
) -> Parity:
    """Compare a runtime with the reference on every set; overall figures are the worst/total."""
    parts = {
        s.name: _compare(ref, runtime, s.X, output) for ref, s in zip(references, sets, strict=True)
    }
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


def measure(reference: np.ndarray, runtime: Predictor, X: np.ndarray, output: Output) -> Parity:
    """Compare a runtime's output and predictions with the reference's on ``X``."""
    return measure_sets([reference], runtime, [EvaluationSet("test", X)], output)
