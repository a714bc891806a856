"""Reference statistics for drift monitoring, written into the bundle as ``reference.json``.

Everything drift needs later is computed here, at save time, from the training data, so that
monitoring needs numpy and scipy and never the training data itself:

* per feature: quantile bin edges (10 bins by default) with the training count in each bin
  and the count of missing values (for PSI); a grid of up to ``KS_GRID`` quantiles with the
  training ECDF at each (for the KS statistic); summary statistics;
* the class balance of the training labels;
* the distribution of each class's predicted probability (10 equal-width bins on [0, 1]) and
  the predicted class balance, on the **held-out test split**. On the training rows an
  overfit model (a random forest) is far more confident than on any unseen data, so a
  training-set reference would report prediction drift on the model's own test split; the
  training-set distribution is kept as well, for information.

Bins are half-open ``(e[i-1], e[i]]`` with open-ended outer bins, so any new value falls in a
bin: ``bin_index = searchsorted(edges, x, side="left")``. Counts rather than proportions
are stored because drift needs the reference sample size for its noise floor.

``REFERENCE_VERSION`` is bumped when a field changes meaning; drift refuses versions it does
not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from skbundle.core.integrity import read_verified
from skbundle.core.layout import REFERENCE_NAME
from skbundle.core.manifest import Manifest
from skbundle.errors import MonitoringError

REFERENCE_VERSION = 1
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


def build_reference(
    X_train: np.ndarray,
    feature_names: list[str],
    y_train_index: np.ndarray,
    classes: list[str],
    proba_test: np.ndarray,
    proba_train: np.ndarray,
    *,
    bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """The content of ``reference.json``; see the module docstring.

    ``y_train_index`` holds each training label as its index in ``classes``.
    """
    return {
        "version": REFERENCE_VERSION,
        "bins": bins,
        "n_rows": int(X_train.shape[0]),
        "features": {
            name: feature_reference(X_train[:, j], bins) for j, name in enumerate(feature_names)
        },
        "class_counts": dict(
            zip(
                classes,
                np.bincount(y_train_index, minlength=len(classes)).tolist(),
                strict=True,
            )
        ),
        "predictions": proba_reference(proba_test, classes),
        "predictions_train": proba_reference(proba_train, classes),
    }


def read_reference(bundle_dir: str | Path, manifest: Manifest) -> dict[str, Any]:
    """The verified reference statistics of a bundle.

    Raises
    ------
    MonitoringError
        The bundle has no ``reference.json`` (built before monitoring existed), or a version
        this skbundle does not read.
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
    if data.get("version") != REFERENCE_VERSION:
        raise MonitoringError(
            f"{REFERENCE_NAME} of bundle {manifest.name!r}",
            f"expected reference version {REFERENCE_VERSION}, got {data.get('version')!r}",
            "Use the skbundle version that built the bundle, or rebuild it.",
        )
    return data
