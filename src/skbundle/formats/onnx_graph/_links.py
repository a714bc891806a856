"""Links from raw scores to probabilities: named for skbundle's runtime, drawn for other
ONNX consumers."""

from __future__ import annotations

import numpy as np

from skbundle.formats.onnx_graph._graph import Graph


def with_link(g: Graph, raw: str, k_trees: int) -> str:
    """Probabilities from boosting's raw scores: expit for one score, softmax for several.

    The graph's own link serves any ONNX consumer (onnxruntime's Sigmoid/Exp may differ from
    scipy's/numpy's by an ulp); skbundle's runtime applies the link named in ``g.raw`` to the
    raw scores itself, exactly as scikit-learn does (``onnx_format.LINKS``).
    """
    g.raw = (raw, k_trees, "expit" if k_trees == 1 else "softmax")
    return with_link_graph(g, raw, k_trees)


def softmax(g: Graph, scores: str) -> str:
    """scikit-learn's softmax: subtract the row's max, exponentiate, divide by the sum."""
    axis = g.const("axis", np.array([1], dtype=np.int64))
    top = g.op("ReduceMax", [scores, axis], "max", keepdims=1)
    shifted = g.op("Sub", [scores, top], "shifted")
    exp = g.op("Exp", [shifted], "exp")
    total = g.op("ReduceSum", [exp, axis], "sum", keepdims=1)
    return g.op("Div", [exp, total], "softmax")


def with_link_graph(g: Graph, raw: str, width: int) -> str:
    """The probabilities for ONNX consumers other than skbundle (an ulp away, maybe)."""
    if width == 1:
        positive = g.op("Sigmoid", [raw], "positive")
        negative = g.op("Sub", [g.const("one", np.array(1.0)), positive], "negative")
        return g.op("Concat", [negative, positive], "binary", axis=1)
    return softmax(g, raw)
