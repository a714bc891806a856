"""ColumnTransformer: numeric columns as graph steps, categorical codes by lookup tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from skbundle.core.codes import UNSEEN, Codec
from skbundle.core.manifest import FeatureSpec
from skbundle.core.runtime import qualified_name
from skbundle.errors import ExactConversionUnsupported
from skbundle.formats.onnx_graph._graph import Graph
from skbundle.formats.onnx_graph._preprocess import PREPROCESSORS, output_width

# -- ColumnTransformer: numeric columns as graph steps, categorical codes by lookup tables ----

_FUNCTION_TRANSFORMER = "sklearn.preprocessing._function_transformer.FunctionTransformer"
_ONE_HOT = "sklearn.preprocessing._encoders.OneHotEncoder"
_ORDINAL = "sklearn.preprocessing._encoders.OrdinalEncoder"
_IMPUTER = "sklearn.impute._base.SimpleImputer"
_PIPELINE = "sklearn.pipeline.Pipeline"
_ENCODERS = (_ONE_HOT, _ORDINAL)
_PROBE_ERRORS = (ValueError, KeyError, IndexError, TypeError)
"""What a fitted encoder raises on a value it refuses (an unseen or missing category)."""


def _is_identity(step: Any) -> bool:
    """``"passthrough"``, or the identity ``FunctionTransformer`` a fitted ColumnTransformer
    puts in ``transformers_`` for ``remainder="passthrough"``."""
    if isinstance(step, str):
        return step == "passthrough"
    return (
        qualified_name(step) == _FUNCTION_TRANSFORMER
        and step.func is None
        and step.inverse_func is None
    )


def _steps_of(transformer: Any) -> list[Any]:
    if qualified_name(transformer) == _PIPELINE:
        return [s for _, s in transformer.steps if s is not None and s != "passthrough"]
    return [transformer]


def _widths(name: str, transformer: Any, n_columns: int) -> list[int]:
    """How many output columns each input column of a categorical transformer gives.

    Only steps that act column by column are accepted: ``SimpleImputer`` (no indicator), then
    at most one ``OneHotEncoder`` (``_n_features_outs``: its categories less the dropped one,
    with infrequent ones merged) or ``OrdinalEncoder`` (one column each), as the last step.
    """
    if _is_identity(transformer):
        return [1] * n_columns
    steps = _steps_of(transformer)
    for i, step in enumerate(steps):
        kind = qualified_name(step)
        if kind == _IMPUTER and not step.add_indicator:
            continue
        if kind in _ENCODERS and i == len(steps) - 1:
            if kind == _ORDINAL:
                return [1] * n_columns
            return [int(w) for w in step._n_features_outs]
        raise ExactConversionUnsupported(
            f"no exact conversion for {type(step).__name__} on the categorical columns of "
            f"ColumnTransformer transformer {name!r} (converted: SimpleImputer, then "
            "OneHotEncoder or OrdinalEncoder)"
        )
    raise ExactConversionUnsupported(
        f"ColumnTransformer transformer {name!r} hands categorical columns on without encoding them"
    )


class _Lookups:
    """Categorical columns of a ColumnTransformer, each a lookup from its code.

    Every encoder skbundle converts maps one input column to its output columns alone, so its
    output is a function of the code: of at most ``len(categories) + 2`` values (UNSEEN, each
    category, missing). The fitted ColumnTransformer itself computes that function, on rows
    decoded exactly as the runtime's input is; the graph looks the answers up. An output
    block of one column is a value table; a wider block must be one-hot (each row 0.0 but for
    at most one 1.0) and is kept as the hot column's index, compared with ``Equal``.
    """

    def __init__(self) -> None:
        self.columns: list[int] = []  # input column of each lookup
        self.missing_slot: list[float] = []  # the code a NaN reads (then + 1 + offset)
        self.offsets: list[float] = []
        self.table: list[float] = []
        self.values: list[tuple[int, int]] = []  # (lookup, CT output position)
        self.hot: list[tuple[int, int, int]] = []  # (lookup, local column, CT output position)

    def add(self, column: int, block: np.ndarray, positions: list[int]) -> None:
        """``block[slot]`` for slots UNSEEN, code 0 .. K-1, missing (a NaN row: refused)."""
        lookup = len(self.columns)
        self.columns.append(column)
        self.missing_slot.append(float(len(block) - 2))
        self.offsets.append(float(len(self.table) + 1))
        if block.shape[1] == 1:
            self.table.extend(block[:, 0].tolist())
            self.values.append((lookup, positions[0]))
            return
        known = ~np.isnan(block).any(axis=1)
        rows = block[known]
        if not (np.isin(rows, (0.0, 1.0)).all() and (rows.sum(axis=1) <= 1).all()):
            raise ExactConversionUnsupported(
                "an encoder whose output block is neither one column nor one-hot"
            )
        hot = np.where(known, np.argmax(np.nan_to_num(block), axis=1), -1.0)
        hot[known & (np.nan_to_num(block).sum(axis=1) == 0)] = -1.0
        self.table.extend(hot.astype(np.float64).tolist())
        for local, position in enumerate(positions):
            self.hot.append((lookup, local, position))

    def emit(self, g: Graph, x: str) -> tuple[str, dict[int, int]]:
        """The looked-up values (m columns) then the h one-hot columns (without the m when
        every block is one-hot), and where each CT output position is in it."""
        m = len(self.columns)
        codes = g.op(
            "Gather", [x, g.const("code_columns", np.array(self.columns))], "codes", axis=1
        )
        missing = g.op("IsNaN", [codes], "code_missing")
        slot = g.op(
            "Where", [missing, g.const("missing_slot", np.array(self.missing_slot)), codes], "slot"
        )
        shifted = g.op("Add", [slot, g.const("table_offset", np.array(self.offsets))], "index")
        index = g.op("Cast", [shifted], "index_int", to=7)  # INT64
        table = g.const("table", np.array(self.table, dtype=np.float64))
        looked = g.op("Gather", [table, index], "looked_up", axis=0)
        where = {position: lookup for lookup, position in self.values}
        if not self.hot:
            return looked, where
        sources = np.array([lookup for lookup, _, _ in self.hot])
        wanted = np.array([float(local) for _, local, _ in self.hot])
        spread = g.op("Gather", [looked, g.const("hot_sources", sources)], "hot_index", axis=1)
        equal = g.op("Equal", [spread, g.const("hot_local", wanted)], "is_hot")
        hot = g.op("Cast", [equal], "one_hot", to=11)  # DOUBLE
        if not self.values:  # only one-hot blocks: the looked-up indices are not output
            return hot, {position: i for i, (_, _, position) in enumerate(self.hot)}
        block = g.op("Concat", [looked, hot], "encoded", axis=1)
        for i, (_, _, position) in enumerate(self.hot):
            where[position] = m + i
        return block, where

    @property
    def width(self) -> int:
        """Columns of what :meth:`emit` returns."""
        if not self.columns:
            return 0
        return len(self.hot) if not self.values else len(self.columns) + len(self.hot)


def _probe_rows(features: Sequence[FeatureSpec]) -> np.ndarray:
    """One row of codes every transformer accepts: each numeric feature at its training mean
    (0 without one), each categorical feature at its first category."""
    return np.array(
        [
            [
                (f.mean if f.mean is not None else 0.0) if f.kind == "numeric" else 0.0
                for f in features
            ]
        ],
        dtype=np.float64,
    )


def _transform(ct: Any, codes: np.ndarray, features: Sequence[FeatureSpec]) -> np.ndarray:
    """The fitted ColumnTransformer on code rows, decoded as the runtime's input is."""
    import warnings

    from scipy import sparse

    frame = Codec(features).decode(codes)
    given: Any = (
        frame
        if getattr(ct, "feature_names_in_", None) is not None
        else (frame.to_numpy(dtype=object))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "unknown categories will be encoded as all zeros"
        out = ct.transform(given)
    if sparse.issparse(out):
        out = out.toarray()
    out = np.asarray(out)
    if out.dtype != np.float64:
        raise ExactConversionUnsupported(
            f"a ColumnTransformer whose output is {out.dtype}, not float64"
        )
    return out


def _code_table(ct: Any, features: Sequence[FeatureSpec], column: int, width: int) -> np.ndarray:
    """The ColumnTransformer's whole output for ``column`` at UNSEEN, each code, missing.

    A value the pipeline refuses (an unseen category with ``handle_unknown="error"``, a
    missing one it cannot encode) gives a row of NaN: the validator refuses it first.
    """
    spec = features[column]
    base = _probe_rows(features)
    n_codes = len(spec.categories or [])
    rows = np.repeat(base, n_codes, axis=0)
    rows[:, column] = np.arange(n_codes, dtype=np.float64)
    known = _transform(ct, rows, features)
    out = []
    for special in (UNSEEN, np.nan):
        row = base.copy()
        row[:, column] = special
        try:
            out.append(_transform(ct, row, features))
        except _PROBE_ERRORS:
            out.append(np.full((1, width), np.nan))
    return np.vstack([out[0], known, out[1]])


def _numeric_steps(g: Graph, name: str, transformer: Any, x: str, width: int) -> tuple[str, int]:
    """The transformer's steps on its ``width`` numeric columns, and the columns they give."""
    if _is_identity(transformer):
        return x, width
    for step in _steps_of(transformer):
        convert_step = PREPROCESSORS.get(qualified_name(step))
        if convert_step is None:
            raise ExactConversionUnsupported(
                f"no exact conversion for {type(step).__name__} in ColumnTransformer "
                f"transformer {name!r}"
            )
        x, width = convert_step(g, step, x), output_width(step, width)
    return x, width


def column_transformer(g: Graph, ct: Any, x: str, features: Sequence[FeatureSpec]) -> str:
    """The fitted ColumnTransformer's output, column for column (``output_indices_``).

    Transformers over numeric features are converted step by step on their columns
    (``Gather``); categorical and boolean features become lookups of their codes
    (:class:`_Lookups`). The pieces are concatenated and put in scikit-learn's order by one
    ``Gather``: copies only, so every value is the one scikit-learn's steps computed.
    """
    width = int(sum(s.stop - s.start for s in ct.output_indices_.values()))
    inputs = ct._transformer_to_input_indices
    pieces: list[str] = []
    order: dict[int, int] = {}  # CT output position -> column of the concatenated pieces
    placed = 0
    lookups = _Lookups()
    for name, transformer, _ in ct.transformers_:
        out = ct.output_indices_[name]
        columns = [int(c) for c in inputs[name]]
        if out.stop == out.start or (isinstance(transformer, str) and transformer == "drop"):
            continue
        categorical = [c for c in columns if features[c].kind != "numeric"]
        if not categorical:
            picked = g.op("Gather", [x, g.const("columns", np.array(columns))], "selected", axis=1)
            piece, given = _numeric_steps(g, name, transformer, picked, len(columns))
            if given != out.stop - out.start:
                raise ExactConversionUnsupported(
                    f"ColumnTransformer transformer {name!r} changes the number of columns"
                )
            pieces.append(piece)
            for i in range(given):
                order[out.start + i] = placed + i
            placed += given
            continue
        if len(categorical) != len(columns) and not _is_identity(transformer):
            numeric = [features[c].name for c in columns if features[c].kind == "numeric"]
            raise ExactConversionUnsupported(
                f"ColumnTransformer transformer {name!r} mixes categorical and numeric features "
                f"({', '.join(numeric)}): only passthrough may"
            )
        widths = _widths(name, transformer, len(columns))
        if sum(widths) != out.stop - out.start:
            raise ExactConversionUnsupported(
                f"ColumnTransformer transformer {name!r}: its encoder's widths do not add up "
                "to its output"
            )
        start = out.start
        for column, w in zip(columns, widths, strict=True):
            positions = list(range(start, start + w))
            start += w
            if features[column].kind == "numeric":  # passthrough of a numeric column
                picked = g.op(
                    "Gather", [x, g.const("column", np.array([column]))], "selected", axis=1
                )
                pieces.append(picked)
                order[positions[0]] = placed
                placed += 1
                continue
            table = _code_table(ct, features, column, width)
            # the transformer's other columns must not move (other transformers may read
            # the same column: they are checked on their own)
            siblings = [p for p in range(out.start, out.stop) if p not in positions]
            others = table[:, siblings]
            if not (np.isnan(others) | (others == others[1:2])).all():
                raise ExactConversionUnsupported(
                    f"ColumnTransformer transformer {name!r}: feature {features[column].name!r} "
                    "changes output columns other than its own"
                )
            lookups.add(column, table[:, positions], positions)
    if lookups.columns:
        block, where = lookups.emit(g, x)
        pieces.append(block)
        for position, index in where.items():
            order[position] = placed + index
    if sorted(order) != list(range(width)):
        raise ExactConversionUnsupported(
            "a ColumnTransformer whose output columns are not all accounted for"
        )
    joined = pieces[0] if len(pieces) == 1 else g.op("Concat", pieces, "joined", axis=1)
    total = placed + lookups.width
    permutation = [order[p] for p in range(width)]
    if permutation == list(range(total)):
        return joined
    return g.op("Gather", [joined, g.const("ct_order", np.array(permutation))], "ct_output", axis=1)
