"""The graph under construction: node and initializer lists with fresh names, and the
names and opsets of the model skbundle writes."""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.core.manifest import FeatureSpec

INPUT = "X"
OUTPUT = "probabilities"
"""A classifier's output: float64 probabilities, one column per class."""
VALUES_OUTPUT = "values"
"""A regressor's output: float64 predictions of shape ``(n, 1)``, what ``predict`` returns."""
RAW_OUTPUT = "raw_scores"
"""Second output of a model whose last step is a link (gradient boosting): the raw scores."""
LINK_KEY = "skbundle.link"
"""Model metadata naming that link ("expit" or "softmax"); see ``onnx_format.LINKS``."""
OPSET = 21
ML_OPSET = 5
IR_VERSION = 10


class Graph:
    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._n = 0
        self.raw: tuple[str, int, str] | None = None
        """(raw-score tensor, width, link) when the probabilities are a link of raw scores."""
        self.schema: tuple[FeatureSpec, ...] = ()
        """The features of the graph's input, in order (categorical ones as codes)."""
        self.direct = False
        """True while the final step reads the graph's input itself (no step before it)."""

    def name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}_{self._n}"

    def const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], stem: str, **attrs: Any) -> str:
        from onnx import helper

        out = self.name(stem)
        domain = attrs.pop("domain", "")
        self.nodes.append(helper.make_node(op_type, inputs, [out], domain=domain, **attrs))
        return out
