"""``TransformedTargetRegressor``: the regressor's exact prediction, then its inverse function.

``predict`` is ``inverse_func(regressor_.predict(X).reshape(-1, 1))``. The regressor is
converted as any other; the inverse function, a numpy ufunc, is left to skbundle's runtime,
which calls the same numpy function on the same float64 values (``onnx_format.LINKS``, as
boosting's links are): bit for bit, where onnxruntime's ``Exp`` may differ from numpy's in
the last bit. The graph's own ``values`` output applies the function in ONNX (within a few
ulps) for other consumers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skbundle.core.runtime import qualified_name
from skbundle.errors import ExactConversionUnsupported

TARGET = "sklearn.compose._target.TransformedTargetRegressor"

INVERSES: dict[Any, str] = {
    np.expm1: "numpy.expm1",
    np.exp: "numpy.exp",
    np.log1p: "numpy.log1p",
    np.log: "numpy.log",
    np.sqrt: "numpy.sqrt",
    np.square: "numpy.square",
}
"""Inverse functions the runtime applies itself, by the link name the model's metadata holds."""


def unwrap(final: Any) -> tuple[list[Any], Any]:
    """The fitted regressor's steps, and its inverse ufunc (None: the identity).

    Raises
    ------
    ExactConversionUnsupported
        A ``transformer=`` object, or an inverse function not in
        ``INVERSES``.
    """
    if final.transformer is not None:
        raise ExactConversionUnsupported(
            "TransformedTargetRegressor with a transformer= (converted: func and inverse_func)"
        )
    inverse = final.inverse_func
    if inverse is not None and inverse not in INVERSES:
        name = getattr(inverse, "__name__", type(inverse).__name__)
        raise ExactConversionUnsupported(
            f"TransformedTargetRegressor with inverse_func={name} (converted: "
            f"{', '.join(sorted(n.split('.')[1] for n in INVERSES.values()))})"
        )
    inner = final.regressor_
    steps = [s for _, s in getattr(inner, "steps", [("model", inner)])]
    if qualified_name(steps[-1]) == TARGET:
        raise ExactConversionUnsupported("a TransformedTargetRegressor inside another")
    return steps, inverse
