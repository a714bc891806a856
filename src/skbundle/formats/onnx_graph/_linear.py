"""``LogisticRegression``: ``MatMul`` + ``Add`` and scikit-learn's softmax or sigmoid."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._graph import Graph
from skbundle.formats.onnx_graph._links import softmax


def logistic(g: Graph, estimator: Any, x: str) -> str:
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    intercept = np.asarray(estimator.intercept_, dtype=np.float64)
    n_classes = len(estimator.classes_)
    scores = g.op("MatMul", [x, g.const("coef_t", np.ascontiguousarray(coef.T))], "dot")
    scores = g.op("Add", [scores, g.const("intercept", intercept)], "decision")
    if n_classes == 2 and coef.shape[0] == 1:
        positive = g.op("Sigmoid", [scores], "positive")
        negative = g.op("Sub", [g.const("one", np.array(1.0)), positive], "negative")
        return g.op("Concat", [negative, positive], "binary", axis=1)
    if coef.shape[0] != n_classes:
        raise ExactConversionUnsupported(
            "LogisticRegression whose coefficients are not one row per class"
        )
    return softmax(g, scores)
