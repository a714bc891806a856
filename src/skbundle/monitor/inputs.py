"""From records to counts: labels split off, rows validated (bad ones set aside), chunks
read ahead and predicted in parallel with counting.

Used by :mod:`skbundle.monitor.drift`; kept apart so that the statistics stay readable.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from skbundle.core.codes import UNSEEN
from skbundle.core.schema import Validated, Validator
from skbundle.errors import InputProblem, InputValidationError, MonitoringError
from skbundle.monitor.accumulate import DriftAccumulator

T = TypeVar("T")
PREDICT_THREADS = 2
"""Chunks predicted at once: scikit-learn and ONNX Runtime release the GIL while predicting."""
_DONE = object()


class QuietValidator(Validator):
    """The bundle's validator, minus the per-cell "outside the training range" messages.

    Drift measures distributions; it does not return per-record results, so formatting a
    message for every out-of-range cell (millions of strings on a drifted file) is waste.
    Every check that accepts or rejects a value is the validator's own.
    """

    def _range_warnings(self, X: np.ndarray, notes: list[list[str]]) -> list[list[str]]:
        return notes


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` items ahead.

    Exceptions raised by ``items`` are re-raised here. When the consumer stops early, the
    producer is told to stop and the underlying generator is closed (closing its file).
    """
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            buffer.put((_DONE, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="skbundle-drift-read", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get(timeout=0.1)
            except queue.Empty:
                continue
        thread.join()


def label_index(
    labels: Sequence[Any], class_values: Sequence[Any], classes: Sequence[str], column: str
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Map labels (class values or names) to class indices; also the unknown ones by position."""
    lookup: dict[str, int] = {}
    for i, (value, name) in enumerate(zip(class_values, classes, strict=True)):
        lookup[str(value)] = i
        lookup[str(name)] = i
    out = np.full(len(labels), -1, dtype=np.int64)
    unknown: list[tuple[int, str]] = []
    for i, raw in enumerate(labels):
        value = raw.item() if isinstance(raw, np.generic) else raw
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        index = lookup.get(str(value)) if value is not None else None
        if index is None or (isinstance(value, float) and math.isnan(value)):
            unknown.append((i, repr(value)))
        else:
            out[i] = index
    return out, unknown


def target_values(labels: Sequence[Any]) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """A regressor's true targets as floats; also the unusable ones (not a finite number)."""
    out = np.full(len(labels), np.nan, dtype=np.float64)
    unknown: list[tuple[int, str]] = []
    for i, raw in enumerate(labels):
        value = raw.item() if isinstance(raw, np.generic) else raw
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[i] = float(value)
        else:
            unknown.append((i, repr(value)))
    return out, unknown


def take(records: Any, keep: np.ndarray) -> Any:
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        return records.iloc[keep]
    if isinstance(records, np.ndarray):
        return records[keep]
    return [records[i] for i in keep.tolist()]


def length(records: Any) -> int:
    if isinstance(records, dict):
        return 1
    return len(records)


def as_array_if_plain(records: Any, names: Sequence[str], ignore_unknown: bool) -> Any:
    """A frame of exactly the features, all numeric, as a float array in schema order.

    The validator's array path applies the same checks (missing values, infinity, ranges)
    without building per-row Python lists, which dominates its DataFrame path at scale.
    """
    import pandas as pd

    if not isinstance(records, pd.DataFrame) or len(records) == 0:
        return records
    columns = list(records.columns)
    if len(set(columns)) != len(columns) or not set(names) <= set(columns):
        return records
    if len(columns) != len(names) and not ignore_unknown:
        return records
    if any(records[name].dtype.kind not in "fiu" for name in names):
        return records
    return records[list(names)].to_numpy(dtype=np.float64, na_value=np.nan)


def validate_rows(
    validator: Validator, records: Any, offset: int, *, ignore_unknown: bool = False
) -> tuple[np.ndarray, np.ndarray, list[InputProblem]]:
    """Validate a chunk, setting invalid rows aside: ``(X, kept positions, problems)``.

    Raises
    ------
    InputValidationError
        A problem concerns the input as a whole (a missing column, a wrong shape): no row of
        it can be used.
    """
    if isinstance(records, dict):
        records = [records]
    records = as_array_if_plain(records, validator.names, ignore_unknown)
    positions = np.arange(length(records))
    problems: list[InputProblem] = []
    current = records
    while positions.size:
        try:
            checked = validator.validate(current, offset=0, ignore_unknown=ignore_unknown)
        except InputValidationError as exc:
            if any(p.record is None for p in exc.problems):
                raise
            bad = sorted({p.record for p in exc.problems if p.record is not None})
            problems.extend(
                InputProblem(int(positions[p.record]) + offset, p.field, p.problem, p.expected)
                for p in exc.problems
                if p.record is not None
            )
            keep = np.setdiff1d(np.arange(positions.size), bad)
            positions = positions[keep]
            current = take(current, keep)
            continue
        return checked.X, positions, problems
    return np.empty((0, len(validator.names))), positions, problems


MAX_CODE_PROBLEMS = 100
"""Problems described per chunk of logged codes (every bad row is counted)."""


def validate_codes(
    validator: Validator, X: np.ndarray, offset: int
) -> tuple[np.ndarray, np.ndarray, list[InputProblem]]:
    """Check rows that are already codes (a prediction log): ``(X, kept positions, problems)``.

    A numeric column holds a finite number (NaN where the feature allows missing values); a
    categorical or boolean one a code: an index into its categories, NaN where missing values
    are allowed, ``UNSEEN`` (-1) where the pipeline accepts unknown categories. On a schema of
    numeric features only this is exactly the validator's own check of an array.
    """
    if validator.codec.plain:
        return validate_rows(validator, X, offset)
    bad = np.zeros(X.shape[0], dtype=bool)
    problems: list[InputProblem] = []
    for j, spec in enumerate(validator.features):
        column = X[:, j]
        missing = np.isnan(column)
        with np.errstate(invalid="ignore"):
            if spec.kind == "numeric":
                wrong = np.isinf(column)
                what, expected = "got {}", "a finite number"
            else:
                k = len(spec.categories or [])
                wrong = ~missing & ~(
                    ((column >= 0) & (column < k) & (column == np.floor(column)))
                    | ((column == UNSEEN) & (spec.unknown == "accept"))
                )
                what = "got code {}, not a category code"
                expected = f"an index into the {k} categories of the feature" + (
                    ", or -1 (unseen)" if spec.unknown == "accept" else ""
                )
        if not spec.missing_allowed:
            wrong |= missing
        for i in np.flatnonzero(wrong).tolist():
            if len(problems) >= MAX_CODE_PROBLEMS:
                break
            value = float(column[i])
            if math.isnan(value):
                problem = "got a missing value (null or NaN)"
                wanted = f"{expected} (no missing values in training, so none are accepted)"
            else:
                problem, wanted = what.format(f"{value:g}"), expected
            problems.append(InputProblem(i + offset, spec.name, problem, wanted))
        bad |= wrong
    kept = np.flatnonzero(~bad)
    return (X if not bad.any() else X[kept]), kept, problems


def split_labels(records: Any, column: str) -> tuple[Any, list[Any]]:
    """Take the labels column out of a chunk before validation."""
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        if column not in records.columns:
            raise MonitoringError(
                f"Labels column {column!r}",
                f"not found in the input (columns: {sorted(map(str, records.columns))[:8]})",
                "Pass --labels with the name of the column that holds the true classes.",
            )
        return records.drop(columns=[column]), records[column].tolist()
    rows = [records] if isinstance(records, dict) else records
    if rows and not all(isinstance(r, dict) for r in rows):
        raise MonitoringError(
            f"Labels column {column!r}",
            "the input is not a list of objects, so it has no named columns",
            "Use CSV, Parquet or JSON objects with a field for the labels.",
        )
    labels = [r.get(column) for r in rows]
    return [{k: v for k, v in r.items() if k != column} for r in rows], labels


def consume(
    bundle: Any,
    chunks: Iterable[tuple[Any, int]],
    accumulator: DriftAccumulator,
    *,
    labels: str | None = None,
    y: Sequence[Any] | None = None,
    ignore_unknown: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Validate, predict and count every chunk; labels from a column or from ``y``.

    Three stages overlap, because each spends its time in code that releases the GIL: the
    next chunk is read in a background thread, and the model predicts chunks in
    ``PREDICT_THREADS`` worker threads while this thread counts feature values.
    """
    validator = QuietValidator(bundle.manifest.features, bundle=bundle.name)
    manifest = bundle.manifest
    done = 0
    pending: deque[tuple[Future[np.ndarray], np.ndarray | None]] = deque()
    with ThreadPoolExecutor(
        max_workers=PREDICT_THREADS, thread_name_prefix="skbundle-drift"
    ) as pool:
        for records, offset in prefetch(chunks):
            y_raw: Sequence[Any] | None = None
            if labels is not None:
                records, y_raw = split_labels(records, labels)
            elif y is not None:
                y_raw = y[offset : offset + length(records)]
            n = length(records)
            X, kept, problems = validate_rows(
                validator, records, offset, ignore_unknown=ignore_unknown
            )
            y_index = None
            if y_raw is not None:
                y_kept = [y_raw[i] for i in kept.tolist()]
                if manifest.output == "values":
                    y_index, unknown = target_values(y_kept)
                    problem, expected = "target {} is not a number", "a finite number"
                else:
                    y_index, unknown = label_index(
                        y_kept, manifest.class_values, manifest.classes, labels or "y"
                    )
                    problem, expected = "unknown label {}", f"one of the classes {manifest.classes}"
                if unknown:
                    problems.extend(
                        InputProblem(
                            int(kept[i]) + offset, labels or "y", problem.format(value), expected
                        )
                        for i, value in unknown
                    )
                    good = np.ones(len(y_kept), dtype=bool)
                    good[[i for i, _ in unknown]] = False
                    X, kept, y_index = X[good], kept[good], y_index[good]
            if problems:
                accumulator.reject(problems, n - len(kept))
            if X.shape[0]:
                pending.append((pool.submit(bundle.predict_validated, Validated(X, [])), y_index))
                accumulator.add_features(X)
            # Counted in submission order; PREDICT_THREADS chunks keep predicting meanwhile.
            while len(pending) > PREDICT_THREADS:
                future, y_done = pending.popleft()
                accumulator.add_predictions(future.result(), y_done)
            done += n
            if on_progress is not None:
                on_progress(done)
        while pending:
            future, y_done = pending.popleft()
            accumulator.add_predictions(future.result(), y_done)
