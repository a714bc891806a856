"""Categorical values as float codes: how every feature fits one float64 array.

Everything between the validator and the runtime (parity sets, batch chunks, drift
statistics, the prediction log) handles rows as one C-contiguous float64 array in schema order.
A numeric feature's column holds its value; a categorical or boolean feature's column holds a
*code*: the index of the value in the feature's ``categories``, NaN for a missing value, and
``UNSEEN`` (-1) for a category never seen in training where the pipeline accepts one.

:class:`Codec` turns training data into codes (``encode``) and codes back into the DataFrame
the pipeline was fitted on (``decode``), with each column in its training dtype. An unseen
category is decoded as one placeholder value that is not among the categories: every
scikit-learn encoder treats all unknown values alike (``handle_unknown="ignore"``, the
infrequent category, ``use_encoded_value``, histogram gradient boosting's missing bin), so
which unknown value it is does not change the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from skbundle.core.manifest import Category, FeatureSpec

if TYPE_CHECKING:
    import pandas as pd

UNSEEN = -1.0
"""The code of a category never seen in training."""
UNSEEN_TEXT = "<unseen>"
"""The stem of the placeholder an unseen string category is decoded as."""


def placeholder(categories: Sequence[Category]) -> Category:
    """A value of the categories' type that is none of them: what an unseen one decodes to."""
    if categories and isinstance(categories[0], bool):
        return False  # booleans have no unseen value: the validator refuses anything else
    if categories and isinstance(categories[0], int):
        return max(int(v) for v in categories) + 1
    taken = set(categories)
    text = UNSEEN_TEXT
    while text in taken:
        text += "_"
    return text


class Codec:
    """Codes for a schema's categorical features; see the module docstring."""

    def __init__(self, features: Sequence[FeatureSpec]) -> None:
        self.features = tuple(features)
        self.names = tuple(f.name for f in self.features)
        self.plain = all(f.kind == "numeric" for f in self.features)
        """True when every feature is numeric: codes are the values themselves."""
        self.maps: tuple[dict[Category, int] | None, ...] = tuple(
            None if f.kind == "numeric" else {v: k for k, v in enumerate(f.categories or [])}
            for f in self.features
        )
        """Per feature, value -> code (None for a numeric feature)."""
        self.types: tuple[type | None, ...] = tuple(
            None if f.kind == "numeric" else _category_type(f) for f in self.features
        )
        """Per categorical feature, the one Python type its values have."""
        self._lookup = tuple(
            None
            if f.kind == "numeric"
            else np.array([*(f.categories or []), placeholder(f.categories or [])], dtype=object)
            for f in self.features
        )

    # -- training data -> codes --------------------------------------------------------------
    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Codes of a DataFrame with the schema's columns (values outside the categories
        become ``UNSEEN``, missing values NaN)."""
        X = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for j, name in enumerate(self.names):
            column = frame[name]
            mapping = self.maps[j]
            if mapping is None:
                X[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            values = column.astype(object).tolist()
            X[:, j] = [
                math.nan if is_missing(v) else float(mapping.get(plain_value(v), UNSEEN))
                for v in values
            ]
        return X

    # -- codes -> what the pipeline was fitted on -------------------------------------------
    def decode(self, X: np.ndarray) -> pd.DataFrame:
        """The DataFrame the pipeline was fitted on: training column names and dtypes.

        The numeric columns form one float64 block built from a C-ordered array, the way
        ``pd.DataFrame(array)`` lays it out: a scikit-learn step that turns the frame back
        into an array then sums in the same order as on the training frame (a BLAS dot product
        over another memory layout can differ in the last bit).
        """
        import pandas as pd

        numeric = [j for j, m in enumerate(self.maps) if m is None]
        block = np.ascontiguousarray(X[:, numeric]) if len(numeric) != X.shape[1] else X
        frame: pd.DataFrame = pd.DataFrame(
            block, columns=pd.Index([self.names[j] for j in numeric]), copy=False
        )
        for j, spec in enumerate(self.features):
            if self.maps[j] is not None:
                frame.insert(j, spec.name, self._column(X[:, j], j, spec, pd))
        return frame

    def _column(self, codes: np.ndarray, j: int, spec: FeatureSpec, pd: Any) -> Any:
        missing = np.isnan(codes)
        index = np.where(missing, 0, codes).astype(np.int64)
        if spec.dtype == "category":
            # Unseen and missing alike become NaN: a category column has no other value.
            index[missing] = -1
            return pd.Categorical.from_codes(index, categories=spec.categories)
        lookup = self._lookup[j]
        assert lookup is not None
        values = lookup[index]  # UNSEEN (-1) picks the placeholder, the last entry
        if spec.kind == "boolean" and spec.dtype == "bool" and not missing.any():
            return values.astype(bool)
        if missing.any():
            values[missing] = None if spec.missing_as == "none" else math.nan
        return _typed_column(values, spec, pd)


def _category_type(spec: FeatureSpec) -> type:
    if spec.kind == "boolean":
        return bool
    first = (spec.categories or [""])[0]
    return type(first)


def is_missing(value: object) -> bool:
    """Whether a cell is missing: None, NaN, or pandas' NA (whose comparisons have no truth
    value)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pandas NA (whose != is NA: bool(NA) raises)
    except TypeError:
        return True


def plain_value(value: object) -> Any:
    """A numpy scalar as the Python value it holds (numpy's int64 is no dict key for 3)."""
    return value.item() if isinstance(value, np.generic) else value


def _typed_column(values: np.ndarray, spec: FeatureSpec, pd: Any) -> Any:
    if spec.dtype == "object":
        # A Series of dtype object: pandas 3 would infer its own string dtype from an array.
        return pd.Series(values, dtype=object)
    try:
        return pd.array(values, dtype=spec.dtype)
    except (TypeError, ValueError):
        return values
