"""Numeric preprocessing steps as float64 graph operations, in scikit-learn's order.

Each step's ``transform`` is a short sequence of float64 operations on a dense array, and the
graph runs the same ones in the same order (``X *= scale_; X += min_`` is ``Mul`` then
``Add``), so the values are scikit-learn's bit for bit:

- ``SimpleImputer`` (every strategy: the fill values are ``statistics_``) with
  ``missing_values=nan``, as ``Where(IsNaN(x), statistics, x)``; with ``add_indicator=True``
  the indicator columns (``indicator_.features_``) follow as 0.0/1.0;
- ``StandardScaler``, ``RobustScaler`` (``Sub`` then ``Div``), ``MinMaxScaler`` (``Mul`` then
  ``Add``, then the clip as two ``Where``, which pass NaN through as ``np.clip`` does) and
  ``MaxAbsScaler`` (``Div``, clip likewise);
- ``FunctionTransformer`` of a numpy ufunc ONNX computes exactly (``abs``, ``sqrt``,
  ``square``, ``negative``, ``floor``, ``ceil``, ``rint``, ``reciprocal``: correctly rounded
  or exact operations both sides). ``exp`` and ``log`` (onnxruntime's own vectorised
  functions), and ``log1p``/``expm1`` (no ONNX operator: computed from ``Log``/``Exp`` with
  Goldberg's and Kahan's corrections) are converted too but are not numpy's to the last
  bit: parity measures the gap, and auto does not choose such a graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from skbundle.core.runtime import qualified_name
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._graph import Graph


def _imputer(g: Graph, step: Any, x: str) -> str:
    missing = step.missing_values
    if not (isinstance(missing, float) and np.isnan(missing)):
        raise ExactConversionUnsupported("SimpleImputer other than missing_values=nan")
    stats = np.asarray(step.statistics_, dtype=np.float64)
    if np.isnan(stats).any():
        raise ExactConversionUnsupported("SimpleImputer that drops all-missing columns")
    mask = g.op("IsNaN", [x], "missing")
    imputed = g.op("Where", [mask, g.const("statistics", stats), x], "imputed")
    features = _indicated(step)
    if not len(features):
        return imputed
    picked = g.op("Gather", [mask, g.const("indicated", features)], "indicated", axis=1)
    indicator = g.op("Cast", [picked], "indicator", to=11)  # DOUBLE: 0.0 / 1.0
    return g.op("Concat", [imputed, indicator], "with_indicator", axis=1)


def _indicated(step: Any) -> np.ndarray:
    """The columns an imputer's missing indicator reports (none without ``add_indicator``)."""
    if not step.add_indicator or getattr(step, "indicator_", None) is None:
        return np.array([], dtype=np.int64)
    return np.asarray(step.indicator_.features_, dtype=np.int64)


def _standard(g: Graph, step: Any, x: str) -> str:
    if step.with_mean:
        x = g.op("Sub", [x, g.const("mean", np.asarray(step.mean_, np.float64))], "centred")
    if step.with_std:
        x = g.op("Div", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    return x


def _robust(g: Graph, step: Any, x: str) -> str:
    if step.with_centering:
        x = g.op("Sub", [x, g.const("center", np.asarray(step.center_, np.float64))], "centred")
    if step.with_scaling:
        x = g.op("Div", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    return x


def _clip(g: Graph, x: str, low: float, high: float) -> str:
    """``np.clip(x, low, high)``: NaN fails both comparisons and passes through."""
    lo, hi = g.const("clip_low", np.array(low)), g.const("clip_high", np.array(high))
    x = g.op("Where", [g.op("Less", [x, lo], "below"), lo, x], "clipped_low")
    return g.op("Where", [g.op("Greater", [x, hi], "above"), hi, x], "clipped")


def _min_max(g: Graph, step: Any, x: str) -> str:
    x = g.op("Mul", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    x = g.op("Add", [x, g.const("min", np.asarray(step.min_, np.float64))], "shifted")
    if step.clip:
        low, high = step.feature_range
        x = _clip(g, x, float(low), float(high))
    return x


def _max_abs(g: Graph, step: Any, x: str) -> str:
    x = g.op("Div", [x, g.const("scale", np.asarray(step.scale_, np.float64))], "scaled")
    return _clip(g, x, -1.0, 1.0) if step.clip else x


def _log1p(g: Graph, x: str) -> str:
    """Goldberg: ``u = 1 + x``; ``x`` where ``u == 1``, else ``log(u) * x / (u - 1)``."""
    one = g.const("one", np.array(1.0))
    u = g.op("Add", [x, one], "u")
    ratio = g.op("Div", [x, g.op("Sub", [u, one], "u_minus_one")], "ratio")
    corrected = g.op("Mul", [g.op("Log", [u], "log_u"), ratio], "log1p_wide")
    exact_one = g.op("Equal", [u, one], "u_is_one")
    infinite = g.op("IsInf", [u], "u_is_inf")
    wide = g.op("Where", [infinite, u, corrected], "log1p_inf")
    return g.op("Where", [exact_one, x, wide], "log1p")


def _expm1(g: Graph, x: str) -> str:
    """Kahan: ``u = exp(x)``; ``x`` where ``u == 1``, -1 where ``u - 1 == -1``, ``u`` where
    infinite, else ``(u - 1) * x / log(u)``."""
    one = g.const("one", np.array(1.0))
    u = g.op("Exp", [x], "u")
    less = g.op("Sub", [u, one], "u_minus_one")
    corrected = g.op("Mul", [less, g.op("Div", [x, g.op("Log", [u], "log_u")], "r")], "wide")
    minus_one = g.const("minus_one", np.array(-1.0))
    out = g.op("Where", [g.op("Equal", [less, minus_one], "at_minus_one"), minus_one, corrected],
               "expm1_low")  # fmt: skip
    out = g.op("Where", [g.op("IsInf", [u], "u_is_inf"), u, out], "expm1_inf")
    return g.op("Where", [g.op("Equal", [u, one], "u_is_one"), x, out], "expm1")


def _unary(op: str) -> Callable[[Graph, str], str]:
    return lambda g, x: g.op(op, [x], op.lower())


UFUNCS: dict[Any, tuple[str, Callable[[Graph, str], str]]] = {
    np.absolute: ("exact", _unary("Abs")),
    np.sqrt: ("exact", _unary("Sqrt")),
    np.negative: ("exact", _unary("Neg")),
    np.floor: ("exact", _unary("Floor")),
    np.ceil: ("exact", _unary("Ceil")),
    np.rint: ("exact", _unary("Round")),  # both round half to even
    np.reciprocal: ("exact", _unary("Reciprocal")),
    np.square: ("exact", lambda g, x: g.op("Mul", [x, x], "square")),
    np.exp: ("measured", _unary("Exp")),
    np.log: ("measured", _unary("Log")),
    np.log1p: ("measured", _log1p),
    np.expm1: ("measured", _expm1),
}
"""numpy ufuncs as graph pieces: "exact" ones are numpy's bit for bit; "measured" ones are
within a few ulps (transcendental functions), which parity records."""


def _function(g: Graph, step: Any, x: str) -> str:
    func = step.func
    if func is None:
        return x
    entry = UFUNCS.get(func)
    if entry is None or step.kw_args:
        name = getattr(func, "__name__", type(func).__name__)
        raise ExactConversionUnsupported(
            f"FunctionTransformer of {name}{' with kw_args' if step.kw_args else ''} "
            f"(converted: {', '.join(sorted(f.__name__ for f in UFUNCS))})"
        )
    return entry[1](g, x)


PREPROCESSORS: dict[str, Callable[[Graph, Any, str], str]] = {
    "sklearn.impute._base.SimpleImputer": _imputer,
    "sklearn.preprocessing._data.StandardScaler": _standard,
    "sklearn.preprocessing._data.RobustScaler": _robust,
    "sklearn.preprocessing._data.MinMaxScaler": _min_max,
    "sklearn.preprocessing._data.MaxAbsScaler": _max_abs,
    "sklearn.preprocessing._function_transformer.FunctionTransformer": _function,
}
"""Numeric steps by the qualified name of their class."""


def output_width(step: Any, n_columns: int) -> int:
    """How many columns a numeric step hands on from ``n_columns`` (an imputer's indicator
    adds its own)."""
    if qualified_name(step) == "sklearn.impute._base.SimpleImputer":
        return n_columns + len(_indicated(step))
    return n_columns
