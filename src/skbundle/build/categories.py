"""What the pipeline knows about its categorical features, found at save time.

- :func:`encoder_categories`: the categories the fitted encoders learned, per input column
  (an encoder fitted on more data than the training split knows values the split lacks);
- :func:`unknown_handling`: what the pipeline does with a category it never saw, found by
  asking it (one prediction per categorical feature): ``error`` if it raises, ``accept`` if it
  answers. The validator then refuses such a value before the model runs, or passes it on with
  a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from skbundle.build.parity import FittedModel
from skbundle.core.codes import UNSEEN, Codec
from skbundle.core.manifest import Category, FeatureSpec, Output
from skbundle.core.runtime import COLUMN_TRANSFORMER, first_step, qualified_name

_IMPUTER = "sklearn.impute._base.SimpleImputer"


def _column_names(columns: Any, names: Sequence[str]) -> list[str] | None:
    """A ColumnTransformer's column selection as input column names; None if unreadable."""
    if isinstance(columns, str):
        return [columns]
    if isinstance(columns, slice):
        return list(names[columns])
    picked = list(np.asarray(columns).ravel()) if not callable(columns) else []
    if picked and all(isinstance(c, (bool, np.bool_)) for c in picked):
        return [n for n, keep in zip(names, picked, strict=False) if keep]
    out = []
    for c in picked:
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, (int, np.integer)) and 0 <= int(c) < len(names):
            out.append(names[int(c)])
        else:
            return None
    return out


def _encoder(step: Any) -> Any:
    """The encoder a transformer starts with (after column-preserving imputers), or None."""
    for candidate in (getattr(step, "steps", None) and [s for _, s in step.steps]) or [step]:
        if hasattr(candidate, "categories_"):
            return candidate
        if qualified_name(candidate) == _IMPUTER and not candidate.add_indicator:
            continue
        return None
    return None


def encoder_categories(pipeline: Any, names: Sequence[str]) -> dict[str, list[Category]]:
    """The categories fitted encoders learned, by input column name (module docstring)."""
    found: dict[str, list[Category]] = {}
    first = first_step(pipeline)
    pairs: list[tuple[Any, list[str] | None]] = []
    if first is not None and qualified_name(first) == COLUMN_TRANSFORMER:
        for _, transformer, columns in getattr(first, "transformers_", []):
            pairs.append((transformer, _column_names(columns, names)))
    elif first is not None:
        pairs.append((first, list(names)))
    for transformer, columns in pairs:
        encoder = _encoder(transformer) if not isinstance(transformer, str) else None
        if encoder is None or columns is None:
            continue
        categories = encoder.categories_
        if len(categories) != len(columns):
            continue
        for column, values in zip(columns, categories, strict=True):
            kept = [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]
            found[column] = [v for v in kept if isinstance(v, (str, int)) and v == v]
    return found


def unknown_handling(
    pipeline: Any, features: Sequence[FeatureSpec], rows: np.ndarray, output: Output
) -> list[FeatureSpec]:
    """The features with ``unknown`` set for each categorical one (module docstring)."""
    codec = Codec(features)
    model = FittedModel(pipeline, codec, output)
    out = []
    for j, spec in enumerate(features):
        if spec.kind != "categorical":
            out.append(spec)
            continue
        probe = np.ascontiguousarray(rows[:1], dtype=np.float64).copy()
        probe[:, j] = UNSEEN
        try:
            model.predict_output(probe)
        except (ValueError, KeyError, IndexError, TypeError):
            out.append(spec.model_copy(update={"unknown": "error"}))
        else:
            out.append(spec.model_copy(update={"unknown": "accept"}))
    return out
