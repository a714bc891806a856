"""Numeric preprocessing steps as float64 graph operations, in scikit-learn's order."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._graph import Graph


def _imputer(g: Graph, step: Any, x: str) -> str:
    missing = step.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)) or step.add_indicator:
        raise ExactConversionUnsupported(
            "SimpleImputer other than missing_values=nan without indicator"
        )
    stats = np.asarray(step.statistics_, dtype=np.float64)
    if np.isnan(stats).any():
        raise ExactConversionUnsupported("SimpleImputer that drops all-missing columns")
    mask = g.op("IsNaN", [x], "missing")
    return g.op("Where", [mask, g.const("statistics", stats), x], "imputed")


def _scaler(g: Graph, step: Any, x: str) -> str:
    if step.with_mean:
        x = g.op("Sub", [x, g.const("mean", np.asarray(step.mean_, np.float64))], "centred")
    if step.with_std:
        x = g.op("Div", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    return x


PREPROCESSORS = {
    "sklearn.impute._base.SimpleImputer": _imputer,
    "sklearn.preprocessing._data.StandardScaler": _scaler,
}
