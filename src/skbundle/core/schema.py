"""The feature schema: inferred from training data at save time, enforced on every input.

``Validator.validate`` is the one gate every prediction input passes through, whether it comes
from Python, the CLI or HTTP. It turns a dict, a list of dicts, a DataFrame or a 2-D array into
a float64 array in schema order, or raises ``InputValidationError`` listing every problem.
Values outside the training range are not errors; they become per-record warnings.

The single-record dict path is the serving hot path: it runs in pure Python plus one
``np.array`` call and touches no pandas.

Bounds
------
Input may come from anyone on the network, so no input makes the validator's work grow
faster than the input itself, and no error repeats more of the input than a short preview:

* a record may hold at most ``Validator.max_fields`` fields (``FIELDS_PER_FEATURE`` times the
  number of features, plus ``FIELDS_SLACK``; 184 for 30 features), checked before its fields
  are looked at; a longer record is one problem, also with ``ignore_unknown``;
* problems are collected up to ``MAX_PROBLEMS``; once the cap is passed the thorough paths
  stop walking the input;
* a "did you mean" hint is only searched for an unknown name that could match a feature
  (no longer than 7/3 of the longest feature name: difflib's 0.6 cutoff cannot be met by
  anything longer), and names and values are quoted through :func:`describe`, which reads no
  more of a value than it shows (a string, a 1000-deep list or a 100 000-key object alike).
"""

from __future__ import annotations

import difflib
import math
import operator
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from skbundle.core.codes import UNSEEN, Codec, is_missing, plain_value
from skbundle.core.manifest import Category, FeatureSpec
from skbundle.errors import MISSING, InputProblem, InputValidationError, preview

if TYPE_CHECKING:
    import pandas as pd

MAX_PROBLEMS = 1000
"""The validator stops collecting after this many problems (the error says it stopped)."""
FIELDS_PER_FEATURE = 4
FIELDS_SLACK = 64
"""A record may hold ``FIELDS_PER_FEATURE * n_features + FIELDS_SLACK`` fields: room for
every feature plus ids, timestamps and other columns a client may send alongside (dropped with
``ignore_unknown``), but not for a flood of made-up names."""
DESCRIBE_CHARS = 40
"""The longest preview of a value in a problem; longer ones end with '...'."""
NAME_CHARS = 100
"""The longest unknown field name repeated in a problem; longer ones end with '...'."""

_PLAIN_NUMBERS = frozenset({float, int})
_NUMBER = "a number"
_FINITE = "a finite number"
_NO_MISSING = "a number (this feature had no missing values in training, so none are accepted)"


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def infer_schema(
    frame: pd.DataFrame, known: Mapping[str, Sequence[Category]] | None = None
) -> list[FeatureSpec]:
    """One ``FeatureSpec`` per column of training data, in column order.

    A feature accepts missing values at prediction time only when the training data had some
    in that column: a pipeline never taught to handle them should not silently guess.
    Numeric columns record their range; a boolean column is a ``boolean`` feature; a string
    or pandas ``category`` column is ``categorical``, with the categories seen in training
    (the ``category`` dtype's own, else the sorted values) plus any in ``known`` (the fitted
    encoders' categories, which may hold values the training split lacks). Columns are
    checked by ``skbundle.build.checks.as_frame`` first: only these kinds reach here.
    """
    specs = []
    for name in frame.columns:
        column = frame[name]
        n_missing = int(column.isna().sum())
        kind = feature_kind(column)
        if kind != "numeric":
            specs.append(_categorical_spec(str(name), column, kind, n_missing, known))
            continue
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[~np.isnan(values)]
        has = finite.size > 0
        specs.append(
            FeatureSpec(
                name=str(name),
                dtype=str(column.dtype),
                min=float(finite.min()) if has else None,
                max=float(finite.max()) if has else None,
                mean=_clean(float(finite.mean())) if has else None,
                std=_clean(float(finite.std(ddof=1))) if finite.size > 1 else None,
                missing_allowed=n_missing > 0,
                n_missing=n_missing,
            )
        )
    return specs


def feature_kind(column: pd.Series) -> str:
    """``numeric``, ``boolean`` or ``categorical`` for a training column, by its dtype."""
    dtype = column.dtype
    if dtype.kind == "b" or str(dtype) == "boolean":
        return "boolean"
    if dtype.kind in "fiu":
        return "numeric"
    return "categorical"


def _categorical_spec(
    name: str,
    column: pd.Series,
    kind: str,
    n_missing: int,
    known: Mapping[str, Sequence[Category]] | None,
) -> FeatureSpec:
    if kind == "boolean":
        categories: list[Category] = [False, True]
    elif str(column.dtype) == "category":
        categories = [plain_value(v) for v in column.cat.categories.tolist()]
    else:
        categories = sorted({plain_value(v) for v in column.dropna().tolist()}, key=_order)
    for value in (known or {}).get(name, ()):
        value = plain_value(value)
        if value not in categories and type(value) is type(categories[0] if categories else value):
            categories.append(value)
    missing_as: Literal["nan", "none"] | None = None
    if n_missing and column.dtype == object:
        missing_as = "none" if any(v is None for v in column.tolist()) else "nan"
    elif n_missing:
        missing_as = "nan"
    return FeatureSpec(
        name=name,
        dtype=str(column.dtype),
        min=None,
        max=None,
        mean=None,
        std=None,
        missing_allowed=n_missing > 0,
        n_missing=n_missing,
        kind=kind,  # type: ignore[arg-type]
        categories=categories,
        missing_as=missing_as,
    )


def _order(value: object) -> tuple[str, object]:
    return (type(value).__name__, value)


@dataclass(frozen=True)
class Validated:
    """Input that passed validation: a float64 array in schema order, and per-record warnings."""

    X: np.ndarray
    warnings: list[list[str]]


class Collector:
    """Gathers problems up to a cap, so that one bad million-row file cannot exhaust memory."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.problems: list[InputProblem] = []
        self.truncated = False
        self.notes: dict[int, list[str]] = {}
        """Per record (as numbered in the input), warnings found while checking values."""

    def note(self, record: int, text: str) -> None:
        self.notes.setdefault(record, []).append(text)

    def add(self, record: int | None, field: str | None, problem: str, expected: str) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.truncated = True
            return
        where = None if record is None else record + self.offset
        self.problems.append(InputProblem(where, field, problem, expected))


def _is_frame(value: object) -> bool:
    """Whether ``value`` is a DataFrame, without importing pandas: if pandas was never
    imported, nothing can be a DataFrame (a server that never sees one never pays for it)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, pd.DataFrame)


def describe(value: object, limit: int = DESCRIBE_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters (ending in '...'), in time bounded by ``limit``
    for JSON lists and objects however large or deep (where ``repr`` would walk all of them, or
    fail past the recursion limit)."""
    text = _repr_prefix(value, limit + 1)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _repr_prefix(value: object, room: int) -> str:
    """The first ``room`` characters of ``repr(value)`` (all of it when shorter)."""
    parts: list[str] = []

    def emit(text: str) -> bool:
        nonlocal room
        parts.append(text[:room])
        room -= len(text)
        return room > 0

    def walk(item: object) -> bool:
        # Exact type checks: a subclass may have its own repr.
        if type(item) is list:
            if not emit("["):
                return False
            for k, element in enumerate(item):
                if (k and not emit(", ")) or not walk(element):
                    return False
            return emit("]")
        if type(item) is dict:
            if not emit("{"):
                return False
            for k, (key, element) in enumerate(item.items()):
                if (k and not emit(", ")) or not walk(key) or not emit(": "):
                    return False
                if not walk(element):
                    return False
            return emit("}")
        try:
            # A string's repr is linear (its quotes depend on all of it): the input bounds it.
            return emit(repr(item))
        except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
            bits = item.bit_length() if isinstance(item, int) else "many"
            return emit(f"<an integer of {bits} bits>")

    walk(value)
    return "".join(parts)


class Validator:
    """Checks prediction input against a feature schema.

    Parameters
    ----------
    features
        The bundle's feature schema, in the order the pipeline expects.
    bundle
        The bundle's name, used in error messages.
    """

    def __init__(self, features: Sequence[FeatureSpec], *, bundle: str) -> None:
        self.features = list(features)
        self.bundle = bundle
        self.names: tuple[str, ...] = tuple(f.name for f in features)
        self._n = len(self.names)
        self._position = {name: i for i, name in enumerate(self.names)}
        inf = math.inf
        self.codec = Codec(features)
        self._maps = self.codec.maps
        self._types = self.codec.types
        self._lo = tuple(-inf if f.min is None else f.min for f in features)
        self._hi = tuple(inf if f.max is None else f.max for f in features)
        self._lo_arr = np.array(self._lo, dtype=np.float64)
        self._hi_arr = np.array(self._hi, dtype=np.float64)
        self._missing_ok = tuple(f.missing_allowed for f in features)
        self._bounds = tuple(zip(self._lo, self._hi, strict=True))
        # itemgetter pulls a record's values in schema order in one C call (a tuple, also
        # for a single feature, so that every record gives a row).
        self._row = operator.itemgetter(*self.names, *self.names[:1])
        self.max_fields = FIELDS_PER_FEATURE * self._n + FIELDS_SLACK
        """The most fields a record may hold (see the module docstring's Bounds)."""
        # difflib's ratio is 2M/(len(a)+len(b)) with M <= the shorter length, so it cannot
        # reach the 0.6 cutoff for a name longer than 7/3 of every feature name.
        self._hint_chars = (7 * max(map(len, self.names), default=0)) // 3
        if not self.codec.plain:
            self._fast_record = self._fast_mixed_record  # type: ignore[method-assign]

    # -- entry point ---------------------------------------------------------------------
    def validate(
        self, records: object, *, ignore_unknown: bool = False, offset: int = 0
    ) -> Validated:
        """Validate any accepted input shape; see the module docstring.

        Parameters
        ----------
        records
            A dict (one record), a list of dicts, a pandas DataFrame, or a 2-D array or list of
            lists with values in schema order.
        ignore_unknown
            Drop fields that are not in the schema (each result says so) instead of refusing.
        offset
            Added to record numbers in messages, for input scored in chunks.

        Raises
        ------
        InputValidationError
            Listing every problem found, each with record, field, problem and expectation.
        """
        if type(records) is dict:
            fast = self._fast_record(records)
            if fast is not None:
                return fast
            return self._from_dicts([records], ignore_unknown, offset)
        if isinstance(records, Mapping):
            return self._from_dicts([records], ignore_unknown, offset)
        if _is_frame(records):
            return self._from_frame(records, ignore_unknown, offset)  # type: ignore[arg-type]
        if isinstance(records, np.ndarray):
            return self._from_array(records, offset)
        if isinstance(records, (list, tuple)):
            if records and type(records[0]) is dict:
                fast_batch = self._fast_records(records)
                if fast_batch is not None:
                    return fast_batch
            return self._from_list(records, ignore_unknown, offset)
        self._fail_whole(
            f"got {type(records).__name__}",
            "a dict (one record), a list of dicts, a DataFrame, or a 2-D array / list of lists",
            offset,
        )
        raise AssertionError("unreachable")  # pragma: no cover

    def example(self) -> dict[str, Any]:
        """A typical record: each numeric feature at its training mean (0 where unknown), each
        categorical one at its first category."""
        return {
            f.name: (f.categories or [""])[0]
            if f.kind != "numeric"
            else round(f.mean, 6)
            if f.mean is not None
            else 0.0
            for f in self.features
        }

    def expected(self, j: int) -> str:
        """What feature ``j`` accepts, for a problem's 'expected' text."""
        spec = self.features[j]
        if spec.kind == "boolean":
            return "true or false"
        if spec.kind == "categorical":
            known = spec.categories or []
            return f"one of the {len(known)} categories {preview(known)}"
        return _NUMBER

    # -- the hot path --------------------------------------------------------------------
    def _fast_record(self, record: dict[str, Any]) -> Validated | None:
        """One well-formed, in-range record; None sends it to the thorough path."""
        if len(record) != self._n:
            return None
        try:
            row = [record[name] for name in self.names]
        except KeyError:
            return None
        for value, (lo, hi), nan_ok in zip(row, self._bounds, self._missing_ok, strict=True):
            kind = type(value)
            if kind is not float and kind is not int:
                return None
            # NaN and infinity fail the range test; a NaN where the feature may be missing
            # stays on this path, anything else goes to the thorough one.
            if not lo <= value <= hi and not (nan_ok and value != value):
                return None
        return Validated(np.array([row], dtype=np.float64), [[]])

    def _fast_mixed_record(self, record: dict[str, Any]) -> Validated | None:
        """One well-formed record of a schema with categorical features: known categories and
        in-range numbers; None sends it to the thorough path."""
        if len(record) != self._n:
            return None
        try:
            row = [record[name] for name in self.names]
        except KeyError:
            return None
        for j, value in enumerate(row):
            mapping = self._maps[j]
            if mapping is not None:
                if type(value) is not self._types[j]:
                    return None
                code = mapping.get(value)  # type: ignore[call-overload]
                if code is None:
                    return None
                row[j] = code
                continue
            kind = type(value)
            if kind is not float and kind is not int:
                return None
            lo, hi = self._bounds[j]
            if not lo <= value <= hi and not (self._missing_ok[j] and value != value):
                return None
        return Validated(np.array([row], dtype=np.float64), [[]])

    def _fast_records(self, records: Sequence[object]) -> Validated | None:
        """Well-formed dicts of plain numbers (the batch hot path), checked in bulk; None sends
        them to the thorough path, which finds and names every problem."""
        if not self.codec.plain:
            return None
        n = self._n
        get = self._row
        try:
            rows = [get(r)[:n] for r in records if type(r) is dict and len(r) == n]
        except KeyError:
            return None
        if len(rows) != len(records):
            return None
        # Only JSON numbers: a bool is an int to numpy, and numpy would parse "1.5".
        if not _PLAIN_NUMBERS.issuperset(map(type, chain.from_iterable(rows))):
            return None
        try:
            X = np.array(rows, dtype=np.float64)
        except OverflowError:
            return None
        if not np.isfinite(X).all():
            return None
        return Validated(X, self._range_warnings(X, [[] for _ in rows]))

    # -- thorough paths ------------------------------------------------------------------
    def _fail_whole(self, problem: str, expected: str, offset: int) -> None:
        raise InputValidationError(self.bundle, [InputProblem(None, None, problem, expected)])

    def _finish(
        self, X: np.ndarray, found: Collector, notes: list[list[str]] | None = None
    ) -> Validated:
        """Raise what was found, or return ``X`` with its notes (none per row by default, made
        only now: a million bad rows must not cost a million lists)."""
        if found.problems:
            raise InputValidationError(self.bundle, found.problems, truncated=found.truncated)
        rows = notes if notes is not None else [[] for _ in range(len(X))]
        for record, texts in found.notes.items():
            rows[record - found.offset].extend(texts)
        return Validated(X, self._range_warnings(X, rows))

    def _check_value(self, value: object, j: int, i: int, found: Collector) -> float:
        if self._maps[j] is not None:
            return self._check_category(value, j, i, found)
        name = self.names[j]
        kind = type(value)
        if kind is float or kind is int:
            try:
                number = float(value)  # type: ignore[arg-type]
            except OverflowError:
                found.add(i, name, f"got {describe(value)}, too large for a float", _FINITE)
                return math.nan
        elif value is None:
            number = math.nan
        elif isinstance(value, (bool, np.bool_)):
            found.add(i, name, f"got a boolean {bool(value)}", _NUMBER)
            return math.nan
        elif isinstance(value, (int, float, np.integer, np.floating)):
            number = float(value)
        elif isinstance(value, (str, bytes)):
            found.add(i, name, f"got a string {describe(value)}", f"{_NUMBER}, not a string")
            return math.nan
        else:
            found.add(i, name, f"got {type(value).__name__} {describe(value)}", _NUMBER)
            return math.nan
        if math.isnan(number):
            if not self._missing_ok[j]:
                found.add(i, name, "got a missing value (null or NaN)", _NO_MISSING)
            return math.nan
        if math.isinf(number):
            found.add(i, name, f"got {number}", _FINITE)
        return number

    def _check_category(self, value: object, j: int, i: int, found: Collector) -> float:
        """The code of a categorical or boolean value (NaN when missing); see ``core.codes``."""
        spec = self.features[j]
        name = self.names[j]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if not self._missing_ok[j]:
                found.add(
                    i,
                    name,
                    "got a missing value (null or NaN)",
                    f"{self.expected(j)} (this feature had no missing values in training, so "
                    "none are accepted)",
                )
            return math.nan
        if isinstance(value, np.generic):
            value = value.item()
        wanted = self._types[j]
        if type(value) is not wanted:
            got = "a boolean" if isinstance(value, bool) else f"{type(value).__name__}"
            found.add(i, name, f"got {got} {describe(value)}", self.expected(j))
            return math.nan
        code = self._maps[j].get(value)  # type: ignore[union-attr, call-overload]
        if code is not None:
            return float(code)
        if spec.unknown == "accept":
            found.note(
                i + found.offset,
                f"{name!r} = {describe(value)} is a category never seen in training; the "
                "pipeline handles it as unknown",
            )
            return UNSEEN
        found.add(
            i,
            name,
            f"got {describe(value)}, a category never seen in training (the pipeline refuses "
            "unknown categories)",
            self.expected(j),
        )
        return math.nan

    def _unknown(self, key: object, i: int | None, found: Collector) -> None:
        hint = ""
        if isinstance(key, str) and len(key) <= self._hint_chars:
            close = difflib.get_close_matches(key, self.names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        name = str(key)
        found.add(
            i,
            name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 3] + "...",
            f"unknown feature{hint}",
            f"only the bundle's {self._n} features; pass ignore_unknown=True "
            "(CLI: --ignore-unknown) to drop extra fields",
        )

    def _from_dicts(
        self, records: Sequence[object], ignore_unknown: bool, offset: int
    ) -> Validated:
        found = Collector(offset)
        X = np.empty((len(records), self._n), dtype=np.float64)
        notes: list[list[str]] = [[] for _ in records]
        for i, record in enumerate(records):
            if found.truncated:  # past the cap: the rest of the input is not looked at
                break
            if not isinstance(record, Mapping):
                found.add(
                    i,
                    None,
                    f"is {type(record).__name__}, not an object",
                    "an object mapping feature names to numbers",
                )
                continue
            if len(record) > self.max_fields:
                # Before any set or sort of its keys: a record of 400 000 made-up names costs
                # no more than one of 31.
                found.add(
                    i,
                    None,
                    f"has {len(record)} fields",
                    f"at most {self.max_fields} ({FIELDS_PER_FEATURE} per feature of the "
                    f"bundle's {self._n}, plus {FIELDS_SLACK}); send only the features",
                )
                continue
            for j, name in enumerate(self.names):
                if name in record:
                    X[i, j] = self._check_value(record[name], j, i, found)
                elif self._missing_ok[j]:
                    X[i, j] = math.nan
                else:
                    found.add(i, name, MISSING, self.expected(j))
            extra = [key for key in record if key not in self._position]
            if extra and ignore_unknown:
                notes[i].append(f"ignored unknown fields: {sorted(map(str, extra))[:5]}")
            elif extra:
                for key in sorted(extra, key=str):
                    self._unknown(key, i, found)
                    if found.truncated:
                        break
        return self._finish(X, found, notes)

    def _from_list(self, records: Sequence[object], ignore_unknown: bool, offset: int) -> Validated:
        if len(records) == 0:
            self._fail_whole("got no records", "at least one record", offset)
        first = records[0]
        if isinstance(first, Mapping):
            fast = self._fast_records(records)
            if fast is not None:
                return fast
            return self._from_dicts(records, ignore_unknown, offset)
        if isinstance(first, (list, tuple, np.ndarray)):
            return self._from_rows(records, offset)
        if isinstance(first, (int, float)) and not isinstance(first, bool):
            self._fail_whole(
                "got a flat list of numbers",
                f"a list of records; wrap one record's {self._n} values as [[...]]",
                offset,
            )
        return self._from_dicts(records, ignore_unknown, offset)

    def _from_rows(self, rows: Sequence[object], offset: int) -> Validated:
        found = Collector(offset)
        X = np.empty((len(rows), self._n), dtype=np.float64)
        for i, row in enumerate(rows):
            if found.truncated:  # past the cap: the rest of the input is not looked at
                break
            if not isinstance(row, (list, tuple, np.ndarray)):
                found.add(
                    i,
                    None,
                    f"is {type(row).__name__}, not a list of values",
                    f"a list of {self._n} numbers in schema order",
                )
                continue
            if len(row) != self._n:
                found.add(
                    i,
                    None,
                    f"has {len(row)} values",
                    f"{self._n} values in schema order (see 'skbundle inspect')",
                )
                continue
            for j, value in enumerate(row):
                X[i, j] = self._check_value(value, j, i, found)
        return self._finish(X, found)

    def _from_array(self, array: np.ndarray, offset: int) -> Validated:
        if array.ndim != 2:
            self._fail_whole(
                f"got a {array.ndim}-D array of shape {array.shape}",
                f"a 2-D array of shape (n_records, {self._n}); reshape one record with "
                "array.reshape(1, -1)",
                offset,
            )
        if array.shape[0] == 0:
            self._fail_whole("got no records", "at least one record", offset)
        if array.shape[1] != self._n:
            self._fail_whole(
                f"got {array.shape[1]} columns",
                f"{self._n} columns in schema order (see 'skbundle inspect')",
                offset,
            )
        if array.dtype.kind in "fiu" and self.codec.plain:
            X = np.ascontiguousarray(array, dtype=np.float64)
            found = Collector(offset)
            self._check_numeric_block(X, found)
            return self._finish(X, found)
        return self._from_rows(array.tolist() if array.dtype.kind != "O" else list(array), offset)

    def _check_numeric_block(
        self, X: np.ndarray, found: Collector, cols: Sequence[int] = ()
    ) -> None:
        """NaN and infinity checks on float columns, vectorized; one problem per bad cell."""
        bad = ~np.isfinite(X)
        if not bad.any():
            return
        for i, j in zip(*np.nonzero(bad), strict=True):
            value = X[i, j]
            if math.isnan(value):
                if not self._missing_ok[j]:
                    found.add(
                        int(i), self.names[j], "got a missing value (null or NaN)", _NO_MISSING
                    )
            else:
                found.add(int(i), self.names[j], f"got {float(value)}", _FINITE)
            if found.truncated:
                return

    def _from_frame(self, frame: pd.DataFrame, ignore_unknown: bool, offset: int) -> Validated:
        found = Collector(offset)
        if len(frame) == 0:
            self._fail_whole("got a DataFrame with no rows", "at least one record", offset)
        columns = list(frame.columns)
        if len(set(columns)) != len(columns):
            dupes = sorted({str(c) for c in columns if columns.count(c) > 1})
            self._fail_whole(
                f"got duplicate columns {dupes[:5]}", "each feature as exactly one column", offset
            )
        for name in self.names:
            if name not in frame.columns and not self._missing_ok[self._position[name]]:
                found.add(None, name, "column is missing", self.expected(self._position[name]))
        extra = [c for c in columns if c not in self._position]
        if extra and not ignore_unknown:
            for key in sorted(extra, key=str):
                self._unknown(key, None, found)
                if found.truncated:
                    break
        if found.problems:
            return self._finish(np.empty((0, self._n)), found, [])
        n = len(frame)
        X = np.empty((n, self._n), dtype=np.float64)
        for j, name in enumerate(self.names):
            if name not in frame.columns:
                X[:, j] = math.nan
                continue
            column = frame[name]
            kind = column.dtype.kind
            if self._maps[j] is not None:
                for i, value in enumerate(column.astype(object).tolist()):
                    X[i, j] = self._check_category(_frame_missing(value), j, i, found)
                    if found.truncated:
                        break
            elif kind in "fiu":
                X[:, j] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            elif kind == "b":
                found.add(None, name, "column holds booleans", _NUMBER)
            else:
                for i, value in enumerate(column.tolist()):
                    if isinstance(value, float) and math.isnan(value):
                        value = None
                    X[i, j] = self._check_value(value, j, i, found)
        if not found.problems:
            self._check_numeric_block(X, found)
        note = [f"ignored unknown fields: {sorted(map(str, extra))[:5]}"] if extra else []
        return self._finish(X, found, [list(note) for _ in range(n)])

    # -- range findings ------------------------------------------------------------------
    def _range_warnings(self, X: np.ndarray, notes: list[list[str]]) -> list[list[str]]:
        for i, text in self.range_notes(X):
            notes[i].append(text)
        return notes

    def range_notes(self, X: np.ndarray) -> list[tuple[int, str]]:
        """``(row, warning)`` for every cell of ``X`` outside its feature's training range, in
        row order, then feature order (the order the warnings of a record are listed in)."""
        with np.errstate(invalid="ignore"):
            outside = (self._lo_arr > X) | (self._hi_arr < X)
        if not outside.any():
            return []
        return [
            (
                int(i),
                f"{self.names[j]!r} = {float(X[i, j]):g} is outside the training range "
                f"[{self._lo[j]:g}, {self._hi[j]:g}]",
            )
            for i, j in zip(*np.nonzero(outside), strict=True)
        ]

    # -- hooks for the columnar batch path (skbundle.batch.frame) -------------------------
    def check_cell(self, value: object, j: int, i: int, found: Collector) -> float:
        """One cell of feature ``j`` in record ``i``, checked as the record path checks it: its
        float (a category's code), with any problem or note added to ``found``."""
        return self._check_value(value, j, i, found)

    def check_block(self, X: np.ndarray, found: Collector) -> None:
        """The NaN and infinity checks of float columns, vectorized (one problem a bad cell)."""
        self._check_numeric_block(X, found)

    def unknown_field(self, key: object, i: int | None, found: Collector) -> None:
        """The problem of a field (or column) that is no feature, with its "did you mean"."""
        self._unknown(key, i, found)


def _frame_missing(value: object) -> object:
    """pandas' missing markers (NaN, NA, NaT) as None; other values unchanged."""
    return None if is_missing(value) else value
