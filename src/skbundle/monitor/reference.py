"""Reference statistics for drift monitoring, written into the bundle as ``reference.json``.

Everything drift needs later is computed here, at save time, from the training data, so that
monitoring needs numpy and scipy and never the training data itself:

* per numeric feature (``"kind": "numeric"``): quantile bin edges (10 bins by default) with
  the training count in each bin and the count of missing values (for PSI); a grid of up to
  ``KS_GRID`` quantiles with the training ECDF at each (for the KS statistic); summary
  statistics;
* per categorical or boolean feature (``"kind": "categorical"`` / ``"boolean"``): its
  ``categories`` (as in the manifest) and the training count of each, plus the count of
  unseen categories (always 0 in training, kept for symmetry) and of missing values. Codes
  are counted (see :mod:`skbundle.core.codes`): code k is ``categories[k]``;
* a classifier's class balance of the training labels (``class_counts``); a regressor's
  target distribution (``target``: bins, KS grid and summary, as a numeric feature);
* the predictions on the **held-out test split**, by the bundle's output: ``probabilities``:
  each class's predicted probability in 10 equal-width bins on [0, 1], and the predicted
  class balance; ``labels``: the predicted class balance; ``values``: the predicted values'
  bins, KS grid and summary (quantile bins of the test-split predictions). On the training
  rows an overfit model (a random forest) is far more confident than on any unseen data, so
  a training-set reference would report prediction drift on the model's own test split; the
  training-set distribution is kept as well (``predictions_train``), for information.

Bins are half-open ``(e[i-1], e[i]]`` with open-ended outer bins, so any new value falls in a
bin: ``bin_index = searchsorted(edges, x, side="left")``. Counts rather than proportions
are stored because drift needs the reference sample size for its noise floor.

Versions
--------
``REFERENCE_VERSION`` is bumped when a field changes meaning or is added; drift refuses
versions it does not know. Version 1 (skbundle 0.1.0: numeric features, probabilities) is
read by :func:`skbundle.monitor.reference_compat.upgrade_v1`; version 2 adds feature kinds,
``task``, ``output``, ``target`` and the ``kind`` of the predictions. When you bump it, add
the reader of the old version to ``reference_compat`` and keep an old bundle's test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from skbundle.core.codes import UNSEEN
from skbundle.core.integrity import read_verified
from skbundle.core.layout import REFERENCE_NAME
from skbundle.core.manifest import FeatureSpec, Manifest, Output
from skbundle.errors import MonitoringError
from skbundle.monitor.reference_compat import upgrade_v1

REFERENCE_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_BINS = 10
KS_GRID = 100
PROBA_EDGES = [round(0.1 * i, 1) for i in range(1, 10)]
"""Interior edges of the predicted-probability bins: ten bins of width 0.1 on [0, 1]."""


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each finite value: bins are ``(e[i-1], e[i]]``, the outer ones open-ended."""
    return np.searchsorted(edges, values, side="left")


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of finite ``values`` per bin of ``edges``, plus missing (NaN) as a last entry."""
    missing = np.isnan(values)
    n_missing = int(missing.sum())
    finite = values[~missing] if n_missing else values
    counts = np.bincount(bin_index(finite, edges), minlength=len(edges) + 1)
    return np.append(counts, n_missing).astype(np.int64)


def _summary(finite: np.ndarray, n_missing: int) -> dict[str, Any]:
    if finite.size == 0:
        return {"n": 0, "n_missing": n_missing}
    q = np.quantile(finite, [0.01, 0.25, 0.5, 0.75, 0.99])
    return {
        "n": int(finite.size),
        "n_missing": n_missing,
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "min": float(finite.min()),
        "max": float(finite.max()),
        "q01": float(q[0]),
        "q25": float(q[1]),
        "median": float(q[2]),
        "q75": float(q[3]),
        "q99": float(q[4]),
    }


def feature_reference(values: np.ndarray, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """Bins, KS grid and summary of one feature's training values (NaN = missing).

    The bin edges are taken from the KS grid itself (every ``KS_GRID // bins``-th quantile),
    so drift can count both with a single ``searchsorted`` per value.
    """
    missing = np.isnan(values)
    finite = values[~missing]
    if finite.size:
        levels = np.quantile(finite, np.linspace(0.0, 1.0, grid_size(bins) + 1))
        grid = np.unique(levels)
        edges = np.unique(levels[:: grid_size(bins) // bins][1:-1])
        ecdf = np.searchsorted(np.sort(finite), grid, side="right") / finite.size
    else:
        grid = edges = ecdf = np.empty(0)
    return {
        "edges": edges.tolist(),
        "counts": bin_counts(values, edges).tolist(),
        "ks_grid": grid.tolist(),
        "ks_cdf": ecdf.tolist(),
        "summary": _summary(finite, int(missing.sum())),
    }


def grid_size(bins: int) -> int:
    """Quantile levels of the KS grid: a multiple of ``bins`` near ``KS_GRID``."""
    return bins * max(1, round(KS_GRID / bins))


def proba_reference(proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Per class, counts of predicted probability in ten bins; and the predicted class counts."""
    edges = np.array(PROBA_EDGES)
    return {
        "n": int(proba.shape[0]),
        "edges": list(PROBA_EDGES),
        "counts": {
            name: bin_counts(proba[:, i], edges)[:-1].tolist() for i, name in enumerate(classes)
        },
        "predicted_counts": dict(
            zip(
                classes,
                np.bincount(proba.argmax(axis=1), minlength=len(classes)).tolist(),
                strict=True,
            )
        ),
    }


def category_counts(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Counts of each code ``0..n_categories-1``, then unseen (``UNSEEN``), then missing (NaN).

    ``codes`` are validated codes (see :mod:`skbundle.core.codes`); anything else is a bug.
    """
    missing = np.isnan(codes)
    n_missing = int(missing.sum())
    present = codes[~missing] if n_missing else codes
    slots = np.where(present == UNSEEN, n_categories, present).astype(np.intp)
    counts = np.bincount(slots, minlength=n_categories + 1)
    return np.append(counts, n_missing).astype(np.int64)


def categorical_reference(codes: np.ndarray, spec: FeatureSpec) -> dict[str, Any]:
    """Training counts per category of one categorical or boolean feature (NaN = missing)."""
    categories = list(spec.categories or [])
    counts = category_counts(codes, len(categories))
    return {
        "kind": spec.kind,
        "categories": categories,
        "counts": counts[:-2].tolist(),
        "unseen": int(counts[-2]),
        "missing": int(counts[-1]),
        "summary": {"n": int(codes.size - counts[-1]), "n_missing": int(counts[-1])},
    }


def predictions_reference(
    output: Output, out: np.ndarray, classes: list[str], bins: int
) -> dict[str, Any]:
    """The distribution of the runtime output ``out`` (see :mod:`skbundle.core.runtime`)."""
    if output == "probabilities":
        return {"kind": output, **proba_reference(out, classes)}
    if output == "labels":
        index = out[:, 0].astype(np.int64)
        return {
            "kind": output,
            "n": int(out.shape[0]),
            "predicted_counts": dict(
                zip(classes, np.bincount(index, minlength=len(classes)).tolist(), strict=True)
            ),
        }
    return {"kind": output, "n": int(out.shape[0]), **feature_reference(out[:, 0], bins)}


def build_reference(
    X_train: np.ndarray,
    features: list[FeatureSpec],
    y_train: np.ndarray,
    *,
    output: Output,
    classes: list[str],
    class_values: list[Any],
    out_test: np.ndarray,
    out_train: np.ndarray,
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """The content of ``reference.json``; see the module docstring.

    ``X_train`` holds the training rows as codes in schema order, ``y_train`` the training
    labels (class values) or targets, ``out_test`` / ``out_train`` the fitted pipeline's
    runtime output on the test and training splits.
    """
    regression = output == "values"
    data: dict[str, Any] = {
        "version": REFERENCE_VERSION,
        "task": "regression" if regression else "classification",
        "output": output,
        "bins": bins,
        "n_rows": int(X_train.shape[0]),
        "features": {
            spec.name: {"kind": "numeric", **feature_reference(X_train[:, j], bins)}
            if spec.kind == "numeric"
            else categorical_reference(X_train[:, j], spec)
            for j, spec in enumerate(features)
        },
    }
    if regression:
        data["class_counts"] = {}
        data["target"] = feature_reference(np.asarray(y_train, dtype=np.float64), bins)
    else:
        index = {v: i for i, v in enumerate(class_values)}
        y_index = np.array([index[v] for v in np.asarray(y_train).tolist()], dtype=np.int64)
        data["class_counts"] = dict(
            zip(classes, np.bincount(y_index, minlength=len(classes)).tolist(), strict=True)
        )
    data["predictions"] = predictions_reference(output, out_test, classes, bins)
    data["predictions_train"] = predictions_reference(output, out_train, classes, bins)
    return data


def read_reference(bundle_dir: str | Path, manifest: Manifest) -> dict[str, Any]:
    """The verified reference statistics of a bundle.

    Raises
    ------
    MonitoringError
        The bundle has no ``reference.json`` (built before monitoring existed), or a version
        this skbundle does not read. A version 1 file is returned as version 2 data.
    BundleIntegrityError
        The file does not match its hash in the manifest.
    """
    artifact = next((a for a in manifest.artifacts if a.role == "reference"), None)
    if artifact is None:
        raise MonitoringError(
            f"Bundle {manifest.name!r}",
            f"it has no {REFERENCE_NAME} (it was built without reference statistics)",
            "Rebuild it with skbundle.save() from this version to enable drift monitoring.",
        )
    data: dict[str, Any] = orjson.loads(read_verified(bundle_dir, artifact))
    version = data.get("version")
    if version not in READABLE_VERSIONS or type(version) is not int:
        raise MonitoringError(
            f"{REFERENCE_NAME} of bundle {manifest.name!r}",
            f"expected reference version {' or '.join(map(str, READABLE_VERSIONS))}, "
            f"got {version!r}",
            "Use the skbundle version that built the bundle, or rebuild it.",
        )
    return upgrade_v1(data) if version == 1 else data
