"""Histogram gradient boosting with native categorical support, read over skbundle's codes.

Fitted with categorical features (``categorical_features=``, or pandas ``category`` columns
under the default ``"from_dtype"``), the model owns a ColumnTransformer (``_preprocessor``)
that puts an ``OrdinalEncoder`` of the categorical columns first (unknown and missing both
NaN) and the numeric columns after; its nodes' ``feature_idx`` count in that order. A
categorical node sends an encoded value ``e`` (``_predictor.pyx``,
``_predict_one_from_raw_data``):

- NaN, or ``e < 0``: where the node sends missing values (``missing_go_to_left``);
- in the node's ``raw_left_cat_bitsets`` row: left;
- in the feature's known categories (``make_known_categories_bitsets``): right;
- anything else: the missing side.

A categorical feature arrives in skbundle's input as a code (UNSEEN, 0 .. K-1, NaN). Its
encoded value is a function of that code, which the fitted preprocessor itself is asked for
at build time (the rows decoded as the runtime decodes them); each node then becomes an
``ai.onnx.ml`` ``BRANCH_MEMBER`` test of the codes that go left (or right, when none go
left). Numeric columns keep their ``x <= num_threshold`` in float64 on the schema's column.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from skbundle.core.codes import UNSEEN, Codec
from skbundle.core.manifest import FeatureSpec
from skbundle.errors import ExactConversionUnsupported


def _probe(features: Sequence[FeatureSpec], column: int, codes: np.ndarray) -> np.ndarray:
    """Rows of codes at the training means (first category) with ``column`` set to ``codes``."""
    base = [
        (f.mean if f.mean is not None else 0.0) if f.kind == "numeric" else 0.0 for f in features
    ]
    rows = np.tile(np.array(base, dtype=np.float64), (len(codes), 1))
    rows[:, column] = codes
    return rows


def _in_bitset(bitset: np.ndarray, value: float) -> bool:
    """scikit-learn's ``in_bitset`` for a value cast to uint8 (an encoded category)."""
    v = int(value)
    return bool((int(bitset[v // 32]) >> (v % 32)) & 1)


class NativeCategories:
    """How one fitted histogram gradient boosting model reads the schema's input columns.

    Raises
    ------
    ExactConversionUnsupported
        A categorical feature that is numeric in the schema (its values are not codes), an
        encoded value that is not a category index, or a preprocessor of another shape.
    """

    def __init__(self, estimator: Any, features: Sequence[FeatureSpec]) -> None:
        pre = estimator._preprocessor
        inputs = pre._transformer_to_input_indices
        encoded = [int(c) for c in inputs.get("encoder", [])]
        numeric = [int(c) for c in inputs.get("numerical", [])]
        if list(inputs.get("remainder", [])) or sorted([*encoded, *numeric]) != list(
            range(len(features))
        ):
            raise ExactConversionUnsupported(
                f"{type(estimator).__name__} whose categorical preprocessing does not read "
                "every schema column once"
            )
        self.columns = np.array([*encoded, *numeric], dtype=np.int64)
        """Schema column of each of the model's features (categorical first)."""
        self.known, self.f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
        self.slots: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Per categorical model feature: the finite codes it may get, and their encodings."""
        self._check_numeric(estimator, features, numeric, len(encoded))
        for r, column in enumerate(encoded):
            spec = features[column]
            if spec.kind == "numeric":
                raise ExactConversionUnsupported(
                    f"{type(estimator).__name__} with categorical feature {spec.name!r}, which "
                    "the schema holds as a number: only categorical and boolean schema "
                    "features arrive as codes"
                )
            codes = np.array([UNSEEN, *range(len(spec.categories or [])), np.nan], dtype=np.float64)
            values = self._encode(estimator, features, column, codes)[:, r]
            if not np.isnan(values[-1]):
                raise ExactConversionUnsupported(
                    f"{type(estimator).__name__}: a missing {spec.name!r} is not encoded as missing"
                )
            known = values[:-1]
            finite = known[~np.isnan(known)]
            if (finite != np.floor(finite)).any() or (finite > 255).any():
                raise ExactConversionUnsupported(
                    f"{type(estimator).__name__}: feature {spec.name!r} is encoded outside "
                    "the category indices 0 .. 255"
                )
            self.slots[r] = (codes[:-1], known)

    @staticmethod
    def _encode(
        estimator: Any, features: Sequence[FeatureSpec], column: int, codes: np.ndarray
    ) -> np.ndarray:
        frame = Codec(features).decode(_probe(features, column, codes))
        given: Any = frame if hasattr(estimator, "feature_names_in_") else frame.to_numpy(object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "unknown categories will be encoded as NaN"
            return np.asarray(estimator._preprocessor.transform(given), dtype=np.float64)

    def _check_numeric(
        self, estimator: Any, features: Sequence[FeatureSpec], numeric: list[int], offset: int
    ) -> None:
        """A boolean or categorical schema feature the model reads as a number must reach it
        as its code itself (a bool column: False 0.0, True 1.0)."""
        for i, column in enumerate(numeric):
            spec = features[column]
            if spec.kind == "numeric":
                continue
            codes = np.array([*range(len(spec.categories or [])), np.nan], dtype=np.float64)
            seen = self._encode(estimator, features, column, codes)[:, offset + i]
            if not np.array_equal(seen, codes, equal_nan=True):
                raise ExactConversionUnsupported(
                    f"{type(estimator).__name__} reads {spec.kind} feature {spec.name!r} as a "
                    "number other than its code"
                )

    def member_sets(self, predictor: Any) -> dict[int, tuple[list[float], bool]]:
        """Each categorical node of one predictor as the codes it sends left (or right)."""
        nodes = predictor.nodes
        bitsets = predictor.raw_left_cat_bitsets
        sets: dict[int, tuple[list[float], bool]] = {}
        for n in np.flatnonzero((nodes["is_leaf"] == 0) & (nodes["is_categorical"] != 0)).tolist():
            r = int(nodes["feature_idx"][n])
            codes, values = self.slots[r]
            missing_left = bool(nodes["missing_go_to_left"][n])
            left: list[float] = []
            right: list[float] = []
            for code, value in zip(codes.tolist(), values.tolist(), strict=True):
                if np.isnan(value) or value < 0:
                    goes_left = missing_left
                elif _in_bitset(bitsets[int(nodes["bitset_idx"][n])], value):
                    goes_left = True
                elif _in_bitset(self.known[int(self.f_idx_map[r])], value):
                    goes_left = False
                else:
                    goes_left = missing_left
                (left if goes_left else right).append(code)
            sets[n] = (left, True) if left else (right, False)
        return sets
