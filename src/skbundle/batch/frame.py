"""Scoring a frame column by column: frame -> code matrix -> runtime -> output columns.

:func:`score_frame` is the unit every batch engine shares (this package's parallel scorer,
Dask partitions, Spark batches). It validates a whole column at a time instead of a record at
a time, and gives exactly what the record path gives:

* the same float64 code matrix (numeric columns through ``to_numpy``; categorical and boolean
  columns through each distinct value, checked once by the validator's own
  :meth:`~skbundle.core.schema.Validator.check_cell`, then spread to its rows; a column of
  mixed Python types, where equal-looking values of different types must not be merged, cell
  by cell through the same check);
* the same problems (record number counted over the whole input, field, what was wrong, what
  was expected), in record order then schema order, capped as the validator caps them;
* the same warnings, in the same order per row;
* and so, on the same rows, the same runtime output and the same table as
  ``[flatten(r, i) for i, r in enumerate(bundle.predict(records))]``, bit for bit.

Output columns are named as :func:`flatten` names them: ``row``, the kept columns, then per
requested column ``prediction``, ``confidence``, ``p_<class>``..., ``decision`` or
``decision_<class>``..., ``interval_low`` and ``interval_high``, ``warnings``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from skbundle.bundle import Bundle, prediction_labels
from skbundle.core.codes import plain_value
from skbundle.core.schema import MAX_PROBLEMS, Collector, Validated
from skbundle.errors import (
    BatchOptionError,
    BatchValidationError,
    InputProblem,
    InputValidationError,
)

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_COLUMNS = ("prediction", "confidence", "probabilities", "decision", "interval", "warnings")
"""Every output column group, in the order :func:`flatten` writes them. With the default, the
groups that do not apply to the model are left out; named explicitly, one that does not apply
is an error."""

_APPLIES = {
    "probabilities": frozenset({"prediction", "confidence", "probabilities", "warnings"}),
    "labels": frozenset({"prediction", "decision", "warnings"}),
    "values": frozenset({"prediction", "interval", "warnings"}),
}
# Object columns whose values all have one Python type (pandas' own C scan says which):
# only then may equal values be merged (1, True and 1.0 hash alike).
_ONE_TYPE = frozenset({"string", "boolean", "integer", "floating", "empty"})
_KEEP_EXPECTED = "the column named by keep= (CLI: --keep)"


def flatten(result: dict[str, Any], row: int) -> dict[str, Any]:
    """One result as a flat table row: the prediction, then what the model gives with it
    (confidence and one ``p_<class>`` column per class; ``decision`` or one ``decision_<class>``
    column per class; a regressor's ``interval_low`` and ``interval_high``), then warnings."""
    flat: dict[str, Any] = {"row": row, "prediction": result["prediction"]}
    if "confidence" in result:
        flat["confidence"] = result["confidence"]
    for name, p in result.get("probabilities", {}).items():
        flat[f"p_{name}"] = p
    decision = result.get("decision")
    if isinstance(decision, dict):
        for name, score in decision.items():
            flat[f"decision_{name}"] = score
    elif decision is not None:
        flat["decision"] = decision
    if "interval" in result:
        flat["interval_low"], flat["interval_high"] = result["interval"]
    flat["warnings"] = "; ".join(result["warnings"])
    return flat


@dataclass
class Encoded:
    """A chunk checked and encoded: the code matrix, its warnings, and the kept columns."""

    X: np.ndarray
    common: list[str] = field(default_factory=list)
    """Warnings every row has (unknown columns ignored), listed first."""
    notes: dict[int, list[str]] = field(default_factory=dict)
    """Per row (0-based in the chunk), the other warnings, in the record path's order."""
    kept: dict[str, Any] = field(default_factory=dict)
    """Kept column -> its values (a Series with a fresh index, or a list)."""

    def __len__(self) -> int:
        return len(self.X)

    def warning_lists(self) -> list[list[str]]:
        return [self.common + self.notes.get(i, []) for i in range(len(self.X))]

    def warning_texts(self) -> np.ndarray:
        base = "; ".join(self.common)
        texts = np.full(len(self.X), base, dtype=object)
        for i, notes in self.notes.items():
            texts[i] = "; ".join(self.common + notes)
        return texts


def _label_array(labels: Sequence[Any]) -> np.ndarray:
    """The prediction labels as an array whose dtype pandas infers as it would from the
    Python values (ints -> int64, strings -> str), so a column of them matches flatten's."""
    kinds = {type(v) for v in labels}
    if len(kinds) == 1 and kinds <= {int, str, bool, float}:
        return np.asarray(labels)
    return np.asarray(labels, dtype=object)


class FrameScorer:
    """Everything :func:`score_frame` needs that does not depend on the rows, checked once.

    Raises
    ------
    BatchOptionError
        An unknown output column, one named explicitly that does not apply to the model, or a
        kept column whose name is also an output column's.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        columns: Sequence[str] = DEFAULT_COLUMNS,
        keep: Sequence[str] = (),
        ignore_unknown: bool = False,
    ) -> None:
        manifest = bundle.manifest
        self.bundle = bundle
        self.validator = bundle.validator
        self.output = manifest.output
        self.classes = list(manifest.classes)
        self.labels = _label_array(prediction_labels(manifest))
        self.half_width = None if manifest.interval is None else manifest.interval.half_width
        self.ignore_unknown = ignore_unknown
        self.explicit = tuple(columns) != DEFAULT_COLUMNS
        self.columns = self._resolve(columns)
        self.keep = tuple(dict.fromkeys(keep))
        self._check_keep()

    # -- options ----------------------------------------------------------------------
    def _resolve(self, columns: Sequence[str]) -> tuple[str, ...]:
        applies = set(_APPLIES[self.output])
        if self.half_width is None:
            applies.discard("interval")
        chosen = []
        for name in dict.fromkeys(columns):
            if name not in DEFAULT_COLUMNS:
                raise BatchOptionError(
                    "output column",
                    name,
                    "there is no such output column",
                    f"Use some of {', '.join(DEFAULT_COLUMNS)} (CLI: --columns a,b,c).",
                )
            if name in applies:
                chosen.append(name)
            elif self.explicit:
                raise BatchOptionError(
                    "output column",
                    name,
                    f"it does not apply to the bundle {self.bundle.name!r} ({self._what()})",
                    f"Use some of {', '.join(c for c in DEFAULT_COLUMNS if c in applies)}.",
                )
        if not chosen:
            raise BatchOptionError(
                "output column", ",".join(columns), "no column was chosen", "Name at least one."
            )
        return tuple(chosen)

    def _what(self) -> str:
        if self.output == "values":
            interval = "with" if self.half_width is not None else "without"
            return f"a regressor {interval} an interval"
        if self.output == "labels":
            return "a classifier without probabilities: labels and decision scores"
        return "a classifier with probabilities"

    def output_names(self, n_decision: int | None = None) -> list[str]:
        """The output columns, ``row`` first, then the kept ones."""
        names = ["row", *self.keep]
        for column in self.columns:
            if column == "probabilities":
                names.extend(f"p_{c}" for c in self.classes)
            elif column == "decision":
                n = len(self.classes) if n_decision is None else n_decision
                if n == 1 or len(self.classes) == 2:
                    names.append("decision")
                else:
                    names.extend(f"decision_{c}" for c in self.classes)
            elif column == "interval":
                names.extend(["interval_low", "interval_high"])
            else:
                names.append(column)
        return names

    def _check_keep(self) -> None:
        taken = set(self.output_names()[1 + len(self.keep) :])
        taken.update({"row", "decision"} | {f"decision_{c}" for c in self.classes})
        for name in self.keep:
            if name in taken:
                raise BatchOptionError(
                    "kept column",
                    name,
                    "an output column has that name",
                    "Rename the column in the input, or keep another.",
                )

    # -- rows -> codes ----------------------------------------------------------------
    def _fail(self, problems: list[InputProblem], source: str, *, truncated: bool = False) -> None:
        raise BatchValidationError(self.bundle.name, problems, source=source, truncated=truncated)

    def encode(
        self,
        frame: pd.DataFrame | Any,
        *,
        offset: int = 0,
        source: str = "",
        ignored: Sequence[str] = (),
    ) -> Encoded:
        """Check and encode a DataFrame or a pyarrow RecordBatch (whose numeric columns go
        to numpy without pandas); ``ignored`` names columns of the input that were not
        read (with ``ignore_unknown``), for the rows' warnings.

        Raises
        ------
        BatchValidationError
            Every problem found, numbered from ``offset``, naming ``source``.
        """
        v = self.validator
        arrow = _is_arrow(frame)
        table: Any = frame  # a RecordBatch when ``arrow``
        columns = _arrow_columns(frame) if arrow else list(frame.columns)
        if len(set(columns)) != len(columns):
            dupes = sorted({str(c) for c in columns if columns.count(c) > 1})
            self._fail(
                [
                    InputProblem(
                        None, None, f"got duplicate columns {dupes[:5]}", "each column once"
                    )
                ],
                source,
            )
        present = set(columns)
        found = Collector(offset)
        for j, name in enumerate(v.names):
            if name not in present and not v.features[j].missing_allowed:
                found.add(None, name, "column is missing", v.expected(j))
        for name in self.keep:
            if name not in present:
                found.add(None, name, "column to keep is missing", _KEEP_EXPECTED)
        wanted = set(v.names) | set(self.keep)
        extra = [c for c in columns if c not in wanted]
        if extra and not self.ignore_unknown:
            for key in sorted(extra, key=str):
                v.unknown_field(key, None, found)
                if found.truncated:
                    break
        if found.problems:
            self._fail(found.problems, source, truncated=found.truncated)
        n = len(frame)
        # Columns are filled as rows of the transpose, then turned into the C-ordered matrix
        # runtimes take in one copy: writing a column of a row-major matrix strides through
        # memory, ten times slower (1.6 against 0.13 us a row for 30 columns).
        columns_first = np.empty((len(v.names), n), dtype=np.float64)
        collectors = []
        for j, name in enumerate(v.names):
            column_found = Collector(offset)
            collectors.append(column_found)
            if name not in present:
                columns_first[j] = math.nan
            else:
                columns_first[j] = (
                    self._arrow_column(table.column(name), j, column_found)
                    if arrow
                    else self._column(frame[name], j, column_found)
                )
        self._raise_merged(collectors, source)
        X = np.ascontiguousarray(columns_first.T)
        encoded = Encoded(X)
        skipped = [*extra, *ignored]
        if skipped:
            encoded.common.append(f"ignored unknown fields: {sorted(map(str, skipped))[:5]}")
        for found_j in collectors:
            for record, texts in found_j.notes.items():
                encoded.notes.setdefault(record - offset, []).extend(texts)
        if encoded.notes:  # unseen categories of several columns: in schema order per row
            encoded.notes = {i: encoded.notes[i] for i in sorted(encoded.notes)}
        for i, text in v.range_notes(X):
            encoded.notes.setdefault(i, []).append(text)
        encoded.kept = {
            k: table.column(k).to_pandas() if arrow else frame[k].reset_index(drop=True)
            for k in self.keep
        }
        return encoded

    def _raise_merged(self, collectors: list[Collector], source: str) -> None:
        """One problem list from the per-column ones, in record then schema order, capped."""
        if not any(c.problems for c in collectors):
            return
        ranked = sorted(
            ((p.record or 0, j, k), p)
            for j, c in enumerate(collectors)
            for k, p in enumerate(c.problems)
        )
        problems = [p for _, p in ranked]
        truncated = len(problems) > MAX_PROBLEMS or any(c.truncated for c in collectors)
        self._fail(problems[:MAX_PROBLEMS], source, truncated=truncated)

    def _column(self, column: pd.Series, j: int, found: Collector) -> np.ndarray:
        import pandas as pd

        v = self.validator
        kind = column.dtype.kind
        if v.codec.maps[j] is not None:
            if kind == "O" and pd.api.types.infer_dtype(column, skipna=True) not in _ONE_TYPE:
                return self._cells(column, j, found)
            return self._by_value(column, j, found)
        if kind in "fiu":
            return self._numbers(column.to_numpy(dtype=np.float64, na_value=np.nan), j, found)
        return self._cells(column, j, found)

    def _numbers(self, values: np.ndarray, j: int, found: Collector) -> np.ndarray:
        """A numeric column's floats, with the record path's problem for each bad cell."""
        v = self.validator
        missing_ok = v.features[j].missing_allowed
        bad = np.isinf(values) if missing_ok else ~np.isfinite(values)
        for i in np.flatnonzero(bad).tolist():
            v.check_cell(float(values[i]), j, i, found)  # the record path's message
            if found.truncated:
                break
        return values

    def _arrow_column(self, column: Any, j: int, found: Collector) -> np.ndarray:
        """A column of a pyarrow RecordBatch: numbers straight to numpy (pandas would copy them
        into a block first, a third of the cost of scoring outside the runtime); anything else
        through pandas, as a DataFrame's column."""
        import pyarrow as pa

        kind = column.type
        if self.validator.codec.maps[j] is None and (
            pa.types.is_floating(kind) or pa.types.is_integer(kind)
        ):
            values = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            return self._numbers(values, j, found)
        return self._column(column.to_pandas(), j, found)

    def _cells(self, column: pd.Series, j: int, found: Collector) -> np.ndarray:
        """Cell by cell, through the record path's check (mixed or unexpected types)."""
        check = self.validator.check_cell
        out = np.full(len(column), math.nan)
        for i, value in enumerate(column.tolist()):
            out[i] = check(None if _missing(value) else value, j, i, found)
            if found.truncated:
                break
        return out

    def _by_value(self, column: pd.Series, j: int, found: Collector) -> np.ndarray:
        """Each distinct value checked once, its code (or problem, or note) spread to its rows."""
        import pandas as pd

        index, uniques = pd.factorize(column, use_na_sentinel=True)
        values = [plain_value(u) for u in list(uniques)]
        values.append(None)  # the missing value, at index -1
        codes = np.empty(len(values), dtype=np.float64)
        problems: dict[int, InputProblem] = {}
        notes: dict[int, str] = {}
        for k, value in enumerate(values):
            probe = Collector(0)
            codes[k] = self.validator.check_cell(value, j, 0, probe)
            if probe.problems:
                problems[k] = probe.problems[0]
            elif probe.notes:
                notes[k] = probe.notes[0][0]
        index = np.where(index < 0, len(values) - 1, index)
        for outcome, emit in ((problems, True), (notes, False)):
            if not outcome:
                continue
            rows = np.flatnonzero(np.isin(index, list(outcome)))
            for i in rows[: MAX_PROBLEMS + 1].tolist() if emit else rows.tolist():
                if emit:
                    p = problems[int(index[i])]
                    found.add(i, p.field, p.problem, p.expected)
                else:
                    found.note(i + found.offset, notes[int(index[i])])
        return codes[index]

    def encode_records(self, records: object, *, offset: int = 0, source: str = "") -> Encoded:
        """Check and encode records (JSON): the validator's record path, kept fields apart."""
        rows = [records] if isinstance(records, dict) else records
        kept: dict[str, Any] = {}
        if self.keep and isinstance(rows, list):
            keep = set(self.keep)
            problems = [
                InputProblem(offset + i, k, "field to keep is missing", _KEEP_EXPECTED)
                for i, r in enumerate(rows)
                if isinstance(r, dict)
                for k in self.keep
                if k not in r
            ]
            if problems:
                self._fail(problems[:MAX_PROBLEMS], source, truncated=len(problems) > MAX_PROBLEMS)
            kept = {k: [r.get(k) if isinstance(r, dict) else None for r in rows] for k in self.keep}
            rows = [
                {f: x for f, x in r.items() if f not in keep} if isinstance(r, dict) else r
                for r in rows
            ]
        try:
            checked = self.validator.validate(
                rows, ignore_unknown=self.ignore_unknown, offset=offset
            )
        except InputValidationError as exc:
            self._fail(exc.problems, source, truncated=exc.truncated)
            raise  # pragma: no cover - _fail raises
        notes = {i: w for i, w in enumerate(checked.warnings) if w}
        return Encoded(checked.X, notes=notes, kept=kept)

    # -- codes -> output ----------------------------------------------------------------
    def predict(self, encoded: Encoded) -> np.ndarray:
        """The runtime's output for the encoded rows (see :mod:`skbundle.core.runtime`)."""
        return self.bundle.predict_validated(Validated(encoded.X, []))

    def table(self, encoded: Encoded, output: np.ndarray, offset: int) -> pd.DataFrame:
        """The output table (see the module docstring)."""
        import pandas as pd

        n = len(encoded)
        data: dict[str, Any] = {"row": np.arange(offset, offset + n, dtype=np.int64)}
        for name in self.keep:
            data[name] = encoded.kept[name]
        best = None if self.output != "probabilities" else output.argmax(axis=1)
        for column in self.columns:
            if column == "prediction":
                if self.output == "values":
                    data["prediction"] = output[:, 0]
                else:
                    index = best if best is not None else output[:, 0].astype(np.int64)
                    data["prediction"] = self.labels[index]
            elif column == "confidence":
                assert best is not None
                data["confidence"] = np.take_along_axis(output, best[:, None], axis=1)[:, 0]
            elif column == "probabilities":
                for k, name in enumerate(self.classes):
                    data[f"p_{name}"] = output[:, k]
            elif column == "decision":
                scores = self._decision(output)
                if scores.shape[1] == 1:
                    data["decision"] = scores[:, 0]
                elif scores.shape[1] > 1:
                    for k, name in enumerate(self.classes):
                        data[f"decision_{name}"] = scores[:, k]
            elif column == "interval":
                assert self.half_width is not None
                data["interval_low"] = output[:, 0] - self.half_width
                data["interval_high"] = output[:, 0] + self.half_width
            else:
                data["warnings"] = encoded.warning_texts()
        table: pd.DataFrame = pd.DataFrame(data)
        return table

    def _decision(self, output: np.ndarray) -> np.ndarray:
        scores = output[:, 1:]
        if scores.shape[1] == 0 and self.explicit:
            raise BatchOptionError(
                "output column",
                "decision",
                f"the model of the bundle {self.bundle.name!r} has no decision_function",
                "Leave decision out of the columns.",
            )
        return scores

    def results(self, encoded: Encoded, output: np.ndarray) -> list[dict[str, Any]]:
        """Result objects as ``Bundle.predict`` gives them, kept fields first, only the chosen
        keys (the JSON outputs)."""
        results = self.bundle.results(output, encoded.warning_lists())
        if "decision" in self.columns:
            self._decision(output)
        chosen = set(self.columns)
        kept = {k: list(v) for k, v in encoded.kept.items()}
        out = []
        for i, result in enumerate(results):
            row = {k: _plain(v[i]) for k, v in kept.items()}
            row.update((k, x) for k, x in result.items() if k in chosen)
            out.append(row)
        return out

    # -- the whole unit -------------------------------------------------------------------
    def score(self, frame: pd.DataFrame, *, offset: int = 0, source: str = "") -> pd.DataFrame:
        """:func:`score_frame` with the options checked at construction."""
        import pandas as pd

        if len(frame) == 0:
            self.encode(frame, offset=offset, source=source)  # the column checks still hold
            empty: pd.DataFrame = pd.DataFrame(
                {name: pd.Series([], dtype=object) for name in self.output_names()}
            ).astype({"row": np.int64})
            return empty
        encoded = self.encode(frame, offset=offset, source=source)
        return self.table(encoded, self.predict(encoded), offset)


def _is_arrow(frame: object) -> bool:
    """Whether ``frame`` is a pyarrow RecordBatch or Table (by its methods: pyarrow may not
    even be imported)."""
    return hasattr(frame, "schema") and hasattr(frame, "column") and not hasattr(frame, "iloc")


def _arrow_columns(batch: Any) -> list[str]:
    """A record batch's columns, less the index pandas stored in it (``to_pandas`` would make
    it the index, not a column)."""
    meta = batch.schema.pandas_metadata or {}
    index = {c for c in meta.get("index_columns", []) if isinstance(c, str)}
    return [name for name in batch.schema.names if name not in index]


def _missing(value: object) -> bool:
    """None, NaN, or pandas' NA or NaT: a missing cell (never an error of its own)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    name = type(value).__name__
    return name in ("NAType", "NaTType")


def _plain(value: object) -> object:
    return plain_value(value)


def score_frame(
    bundle: Bundle,
    frame: pd.DataFrame,
    *,
    offset: int = 0,
    source: str = "",
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
) -> pd.DataFrame:
    """Validate and predict a DataFrame column by column; return the output table.

    Parameters
    ----------
    bundle
        A loaded bundle.
    frame
        At least the schema's columns, by name (plus the ``keep`` columns). Other columns are
        refused unless ``ignore_unknown``.
    offset
        The global row number of the frame's first row: output ``row`` values and record
        numbers in errors count from it.
    source
        Where the rows come from (a file), named by errors.
    columns
        Output column groups, from :data:`DEFAULT_COLUMNS`.
    keep
        Input columns carried through to the output unchanged (identifiers), after ``row``.
    ignore_unknown
        Drop columns that are neither features nor kept (each row's warnings say so).

    Returns
    -------
    pandas.DataFrame
        ``row``, the kept columns, then the chosen output columns (module docstring); the same
        table, bit for bit, as ``flatten`` of ``bundle.predict(records)`` on the same rows.
        An empty frame gives an empty table.

    Raises
    ------
    BatchValidationError
        The frame does not fit the schema (an ``InputValidationError``); every problem names
        the global record number and the field, and the message names ``source``.
    BatchOptionError
        An unknown output column, one named explicitly that does not apply to the model, or a
        kept column named like an output column.

    Examples
    --------
    >>> score_frame(bundle, frame, columns=["prediction", "probabilities"], keep=["id"])
       row   id prediction  p_malignant  p_benign
    0    0  A17     benign         0.03      0.97
    """
    scorer = FrameScorer(bundle, columns=columns, keep=keep, ignore_unknown=ignore_unknown)
    return scorer.score(frame, offset=offset, source=source)
