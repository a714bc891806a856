"""Logging served predictions for drift monitoring, and reading the log back.

Why JSON lines, not SQLite
--------------------------
The log is append-only, written by one process and read in bulk later. JSON lines makes the
write an ``O_APPEND`` of bytes with no transaction, index or lock (SQLite would pay a
transaction per batch and take a file lock that a concurrent reader can block); the file can
be tailed, grepped, shipped by any log collector and rotated by renaming, exactly like a
``RotatingFileHandler`` log; and the drift reader streams it in constant memory with the same
JSON parser the batch reader uses. What SQLite would give (queries by time) is covered by
timestamps in a fixed-width ISO format, which compare correctly as strings.

The hot path
------------
``PredictionLogger.log(X, out)`` only puts a reference to the two arrays on a bounded
in-memory queue (no copy, no serialization, no I/O); a background thread serializes and
appends them. If the writer ever falls behind by ``queue_size`` batches, new batches are
dropped and counted (``dropped``) rather than slowing requests down or growing memory.
Callers must not modify arrays after logging them (the server creates new arrays per request).

Format: one header line per file (``{"skbundle_prediction_log": 1, "bundle": ..., "features":
[...], "classes": [...], "output": ...}``) then one line per logged request: ``{"t": "<UTC ISO
time>", "x": [[inputs in schema order, null = missing], ...], "p": [[runtime output], ...]}``
(one inner list per row). The inputs are the validated row: a categorical feature's value is
its code (see :mod:`skbundle.core.codes`). The output is the runtime's layout for the
bundle's ``output`` (see :mod:`skbundle.core.runtime`): probabilities in class order; a
class index then the decision scores (labels); one predicted value (values). ``output`` in
the header (absent in logs of skbundle 0.1.0, which held probabilities) lets a reader refuse
a log of another kind of model. A line per request, not per row, lets orjson write the arrays
directly: serializing is the logger's main cost, and it runs in the server's process.

Size bound: when the file would exceed ``max_bytes`` it is renamed to ``FILE.1`` (older
backups shift to ``FILE.2`` ... up to ``backups``; the oldest is deleted), so the log never
holds more than about ``(backups + 1) * max_bytes``. Use one log file per server process.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from skbundle.batch import bounded_lines
from skbundle.errors import InputProblem, MonitoringError

LOG_FORMAT = 1
HEADER_KEY = "skbundle_prediction_log"
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_BACKUPS = 5
_STOP = object()
LINGER_SECONDS = 0.05
"""How long the writer waits after the first queued batch before writing what has arrived."""
_DRAIN = 100_000


@dataclass(frozen=True)
class _Switch:
    """Queued by :meth:`PredictionLogger.switch`: the next batches go to a file with this header."""

    header: bytes


def timestamp(seconds: float) -> str:
    """The log's time format: UTC, millisecond precision, fixed width (sorts as text)."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class PredictionLogger:
    """Append served inputs and runtime output to a size-bounded JSON-lines log, off the hot path.

    Parameters
    ----------
    path
        The log file; created (with its folder) if needed, appended to otherwise.
    max_bytes
        Rotate when the file would grow past this size.
    backups
        Rotated files kept (``FILE.1`` newest ... ``FILE.<backups>`` oldest); 0 keeps none.
    features, classes, bundle, output
        Written in each file's header, so a reader can check the log matches its bundle.
    queue_size
        Batches that may wait for the writer before new ones are dropped.

    Examples
    --------
    >>> logger = PredictionLogger("logs/predictions.jsonl", features=b.feature_names,
    ...                           classes=b.classes, bundle=f"{b.name} {b.version}")
    >>> logger.log(X, proba)   # in the request handler: O(1)
    >>> logger.close()         # at shutdown: writes what is queued
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        features: Sequence[str] = (),
        classes: Sequence[str] = (),
        bundle: str = "",
        output: str = "",
        queue_size: int = 10_000,
    ) -> None:
        if max_bytes < 1024:
            raise MonitoringError(
                "Prediction log max_bytes", f"expected at least 1024, got {max_bytes}"
            )
        if backups < 0:
            raise MonitoringError("Prediction log backups", f"expected 0 or more, got {backups}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.header = _header(bundle, features, classes, output)
        self.written = 0
        self.dropped = 0
        self.rotations = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self._open()
        self._thread = threading.Thread(target=self._run, name="skbundle-predlog", daemon=True)
        self._thread.start()

    @classmethod
    def for_bundle(
        cls, path: str | os.PathLike[str], bundle: Any, **options: Any
    ) -> PredictionLogger:
        """A logger whose header names ``bundle``'s features, classes, output, name and version.

        Examples
        --------
        >>> logger = PredictionLogger.for_bundle("logs/predictions.jsonl", bundle)
        >>> app = create_app(bundle, on_prediction=logger.log)
        """
        return cls(
            path,
            features=bundle.feature_names,
            classes=bundle.classes,
            bundle=f"{bundle.name} {bundle.version}",
            output=bundle.manifest.output,
            **options,
        )

    def switch(self, bundle: Any) -> None:
        """Log what comes next into a new file whose header names ``bundle`` (a server swapped
        versions): the current file is rotated as a full one is, so each file's header names
        the bundle that made its rows. Batches queued before are written to the old file."""
        if self._closed:
            return
        header = _header(
            f"{bundle.name} {bundle.version}",
            bundle.feature_names,
            bundle.classes,
            bundle.manifest.output,
        )
        self._queue.put(_Switch(header))

    # -- the hot path ---------------------------------------------------------------------
    def log(self, X: np.ndarray, proba: np.ndarray) -> None:
        """Queue one batch of validated inputs and their runtime output; never blocks."""
        if self._closed:
            return
        try:
            # orjson serializes C-contiguous arrays only (a view of a batch would kill the writer)
            self._queue.put_nowait(
                (time.time(), np.ascontiguousarray(X), np.ascontiguousarray(proba))
            )
        except queue.Full:
            with self._lock:
                self.dropped += len(X)

    # -- the writer thread ----------------------------------------------------------------
    def _open(self) -> Any:
        fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the logger's life
        if fh.tell() == 0:
            fh.write(self.header)
        return fh

    def _rotate(self) -> None:
        self._fh.close()
        if self.backups == 0:
            self.path.unlink()
        else:
            oldest = self.path.with_name(f"{self.path.name}.{self.backups}")
            with contextlib.suppress(FileNotFoundError):
                oldest.unlink()
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    src.rename(self.path.with_name(f"{self.path.name}.{i + 1}"))
            self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        self.rotations += 1
        self._fh = self._open()

    @staticmethod
    def _serialize(seconds: float, X: np.ndarray, proba: np.ndarray) -> bytes:
        return (
            orjson.dumps(
                {"t": timestamp(seconds), "x": X, "p": proba}, option=orjson.OPT_SERIALIZE_NUMPY
            )
            + b"\n"
        )

    def _write(self, items: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
        data = b"".join(self._serialize(*item) for item in items)
        if self._fh.tell() + len(data) > self.max_bytes and self._fh.tell() > len(self.header):
            self._rotate()
        self._fh.write(data)
        self._fh.flush()
        self.written += sum(len(item[1]) for item in items)

    def _run(self) -> None:
        stop = False
        while not stop:
            items = [self._queue.get()]
            if items[0] is not _STOP:
                # Linger, then drain what arrived: the thread wakes a few times a second
                # instead of once per request, so it seldom takes the GIL from the server.
                time.sleep(LINGER_SECONDS)
            while len(items) < _DRAIN:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            batch: list[Any] = []
            for item in [*items, None]:
                if item is _STOP:
                    continue
                if item is not None and not isinstance(item, _Switch):
                    batch.append(item)
                    continue
                self._write_or_count(batch)
                batch = []
                if isinstance(item, _Switch):
                    self._write_or_count(item)
            for _ in items:
                self._queue.task_done()

    def _write_or_count(self, work: list[Any] | _Switch) -> None:
        """Write a batch (or start the next file); on an error, or once stopped, count it."""
        try:
            if isinstance(work, _Switch):
                if self.error is None:
                    self._start_file(work.header)
            elif work and self.error is None:
                self._write(work)
            elif work:  # the log stopped on an error: what it no longer writes is counted
                with self._lock:
                    self.dropped += sum(len(X) for _, X, _ in work)
        except Exception as exc:  # the thread's boundary: a full disk (or a bug) must not
            self.error = exc  # take the server down, nor leave flush() waiting forever
            if not isinstance(work, _Switch):
                with self._lock:
                    self.dropped += sum(len(X) for _, X, _ in work)

    def _start_file(self, header: bytes) -> None:
        if self._fh.tell() > len(self.header):
            self.header = header
            self._rotate()
        else:  # nothing logged under the old header: it is replaced
            self.header = header
            self._fh.truncate(0)
            self._fh.seek(0)
            self._fh.write(header)
            self._fh.flush()

    def flush(self) -> None:
        """Wait until every queued batch is written."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._fh.close()

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading ---------------------------------------------------------------------------------
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: float | None = None) -> str:
    """``--since``: an ISO date/time (UTC unless it says otherwise) or an age like 30m, 24h, 7d.

    Returns the moment in the log's own time format, for comparison as text.

    Raises
    ------
    MonitoringError
        The text is neither.
    """
    spec = text.strip()
    match = _RELATIVE.match(spec)
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return timestamp((now if now is not None else time.time()) - delta.total_seconds())
    try:
        moment = datetime.fromisoformat(spec.replace("Z", "+00:00"))
    except ValueError:
        raise MonitoringError(
            "--since",
            f"expected an ISO date/time (2026-11-25 or 2026-11-25T03:00) or an age (30m, 24h, "
            f"7d), got {text!r}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return timestamp(moment.timestamp())


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """The log and its backups, oldest first."""
    base = Path(path)
    backups = []
    for candidate in base.parent.glob(f"{base.name}.*"):
        suffix = candidate.name[len(base.name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), candidate))
    files = [p for _, p in sorted(backups, reverse=True)]
    if base.exists():
        files.append(base)
    return files


MAX_LOG_LINE_BYTES = 256 * 1024 * 1024
"""The longest log line read; a longer one is skipped unread (a request's line is far shorter:
the server caps a request body at 10 MB by default)."""
MAX_LOG_PROBLEMS = 100
"""Problems kept by a :class:`LogReader` (every one is counted)."""
_NUMBER_OR_NULL: frozenset[type] = frozenset({int, float, type(None)})
_NUMBER: frozenset[type] = frozenset({int, float})
_LIST = {list}


@dataclass
class LogReader:
    """Streams a prediction log (with its backups) as ``(X, output)`` chunks.

    Nothing in a log is taken on trust: a line that is not valid JSON (a write cut short by a
    crash), not an object of the logger's shape, or too long is skipped; a row whose inputs
    are not numbers or null, whose width is not the bundle's, or whose output does not fit
    ``output`` is set aside: probabilities are one number in [0, 1] per class; labels are a
    class index (an integer below the number of classes) then the decision scores (none, one
    for two classes, or one per class: the first row read fixes the width); values are one
    number. ``rows`` counts the rows yielded, ``skipped`` the lines
    skipped, ``invalid`` the rows set aside (a skipped line counts its rows when it shows
    them, else one), and ``problems`` says why (the first ``MAX_LOG_PROBLEMS``). A header
    that names other features, classes or output than the bundle's, or is malformed, stops
    the run: the log belongs to another model.
    """

    path: Path
    features: Sequence[str]
    classes: Sequence[str]
    since: str | None = None
    chunk_size: int = 10_000
    max_line_bytes: int = MAX_LOG_LINE_BYTES
    output: str = "probabilities"
    rows: int = 0
    skipped: int = 0
    invalid: int = 0
    problems: list[InputProblem] = field(default_factory=list)
    _width: int | None = field(default=None, repr=False)

    def widths(self) -> frozenset[int]:
        """The output widths a row may have."""
        n = len(self.classes)
        if self.output == "values":
            return frozenset({1})
        if self.output == "labels":
            if self._width is not None:
                return frozenset({self._width})
            return frozenset({1, 2} if n == 2 else {1, 1 + n})
        return frozenset({n})

    def _output_ok(self, p: list[list[Any]]) -> bool:
        """The values of well-shaped output rows are in range (probabilities, class index)."""
        if self.output == "probabilities":
            return bool(min(map(min, p)) >= 0.0 and max(map(max, p)) <= 1.0)
        if self.output == "labels":
            n = len(self.classes)
            return all(0 <= r[0] < n and float(r[0]).is_integer() for r in p)
        return True

    def files(self) -> list[Path]:
        files = log_files(self.path)
        if not files:
            raise MonitoringError(
                f"Prediction log {self.path}",
                "no such file (and no rotated backups of it)",
                "Pass the file given to 'skbundle serve --log-predictions'.",
            )
        return files

    def _check_header(self, header: dict[str, Any], source: Path) -> None:
        logged_output = header.get("output") or ""
        if not isinstance(logged_output, str) or (logged_output and logged_output != self.output):
            raise MonitoringError(
                f"Prediction log {source}",
                f"it was written for a model whose output is {logged_output!r}, this bundle's "
                f"is {self.output!r}",
                "Compute drift with the bundle that served these predictions.",
            )
        for key, expected in (("features", self.features), ("classes", self.classes)):
            logged = header.get(key) or []
            if not isinstance(logged, list) or not all(isinstance(v, str) for v in logged):
                raise MonitoringError(
                    f"Prediction log {source}",
                    f"its header is malformed: {key!r} is not a list of names",
                    "Pass a log written by 'skbundle serve --log-predictions'.",
                )
            if logged and logged != list(expected):
                raise MonitoringError(
                    f"Prediction log {source}",
                    f"it was written for other {key} ({len(logged)} logged, "
                    f"{len(expected)} in this bundle; first difference: "
                    f"{_first_difference(logged, expected)})",
                    "Compute drift with the bundle that served these predictions.",
                )

    def _reject(
        self, where: tuple[Path, int, int | None], problem: str, expected: str, rows: int = 1
    ) -> None:
        """Count ``rows`` set aside at ``(file, line, row in line or None)``."""
        self.invalid += rows
        if len(self.problems) < MAX_LOG_PROBLEMS:
            source, number, row = where
            at = f"{source} line {number}" + (f", row {row}" if row is not None else "")
            self.problems.append(InputProblem(None, None, f"{at}: {problem}", expected))

    def _skip(
        self, where: tuple[Path, int, int | None], problem: str, expected: str, rows: int = 1
    ) -> None:
        self.skipped += 1
        self._reject(where, problem, expected, rows)

    def _entry(
        self, entry: dict[str, Any], source: Path, number: int
    ) -> tuple[list[list[Any]], list[list[Any]]] | None:
        """The rows of one request line worth keeping, or None when there are none."""
        x, p, t = entry.get("x"), entry.get("p"), entry.get("t")
        # The shape the logger writes, checked with C-level scans: the common case.
        if (
            type(t) is str
            and type(x) is list
            and type(p) is list
            and x
            and len(x) == len(p)
            and _all_rows(x, len(self.features), _NUMBER_OR_NULL)
            and type(p[0]) is list
            and len(p[0]) in self.widths()
            and _all_rows(p, len(p[0]), _NUMBER)
            and self._output_ok(p)
        ):
            kept: tuple[list[list[Any]], list[list[Any]]] | None = (
                None if self.since is not None and t < self.since else (x, p)
            )
        else:
            kept = self._checked(x, p, t, (source, number, None))
        if kept and kept[1] and self._width is None:
            self._width = len(kept[1][0])
        return kept

    def _checked(
        self, x: object, p: object, t: object, where: tuple[Path, int, int | None]
    ) -> tuple[list[list[Any]], list[list[Any]]] | None:
        """A line off the fast path: find what is wrong, keep the good rows, count the rest."""
        n_features = len(self.features)
        what = "probabilities" if self.output == "probabilities" else "outputs"
        shown = len(x) if isinstance(x, list) and x else 1
        expected = (
            f'{{"t": "<UTC time>", "x": [[inputs]...], "p": [[{what}]...]}}, '
            "as many rows in x as in p"
        )
        if not isinstance(t, str):
            self._skip(where, f"the time 't' is {_kind(t)}, not text", expected, shown)
            return None
        if self.since is not None and t < self.since:
            return None
        if not isinstance(x, list) or not x:
            self._skip(where, f"'x' is {_kind(x)}, not a list of rows", expected, shown)
            return None
        if not isinstance(p, list) or not p:
            self._skip(where, f"'p' is {_kind(p)}, not a list of rows", expected, shown)
            return None
        if len(x) != len(p):
            self._skip(where, f"{len(x)} rows of inputs but {len(p)} of {what}", expected, shown)
            return None
        xs: list[list[Any]] = []
        ps: list[list[Any]] = []
        for i, (row, out) in enumerate(zip(x, p, strict=True)):
            widths = self.widths()
            width = len(out) if isinstance(out, list) and len(out) in widths else min(widths)
            problem = _row_problem(row, n_features, _NUMBER_OR_NULL, "inputs") or _row_problem(
                out, width, _NUMBER, what
            )
            if problem is None and not self._output_ok([out]):
                problem = self._range_problem(out)
            if problem is None:
                xs.append(row)
                ps.append(out)
                if self._width is None:
                    self._width = width
            else:
                self._reject((where[0], where[1], i), problem, self._expected_row())
        return xs, ps

    def _range_problem(self, out: list[Any]) -> str:
        if self.output == "labels":
            return f"a class index that is not one of 0..{len(self.classes) - 1}: {_short(out)}"
        return f"a probability outside [0, 1]: {_short(out)}"

    def _expected_row(self) -> str:
        inputs = f"{len(self.features)} inputs (numbers or null)"
        if self.output == "values":
            return f"{inputs} and 1 predicted value"
        if self.output == "labels":
            widths = " or ".join(map(str, sorted(self.widths())))
            return f"{inputs} and {widths} outputs (a class index, then decision scores)"
        return f"{inputs} and {len(self.classes)} probabilities in [0, 1]"

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        xs: list[list[float | None]] = []
        ps: list[list[float]] = []
        for source in self.files():
            with open(source, "rb") as fh:
                for number, line in bounded_lines(fh, self.max_line_bytes):
                    if line is None:
                        self._skip(
                            (source, number, None),
                            f"longer than {self.max_line_bytes} bytes, not read",
                            "one logged request per line",
                        )
                        continue
                    try:
                        entry = orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        if line.strip():
                            self._skip(
                                (source, number, None),
                                f"not valid JSON ({exc})",
                                "one JSON object per line",
                            )
                        continue
                    if type(entry) is not dict:
                        self._skip(
                            (source, number, None),
                            f"{_kind(entry)}, not an object",
                            "a JSON object",
                        )
                        continue
                    if HEADER_KEY in entry:
                        self._check_header(entry, source)
                        continue
                    kept = self._entry(entry, source, number)
                    if kept is None:
                        continue
                    xs.extend(kept[0])
                    ps.extend(kept[1])
                    if len(xs) >= self.chunk_size:
                        yield self._arrays(xs, ps)
                        xs, ps = [], []
        if xs:
            yield self._arrays(xs, ps)

    def _arrays(
        self, xs: list[list[float | None]], ps: list[list[float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        self.rows += len(xs)
        X = np.array(xs, dtype=np.float64)  # None -> nan
        return X, np.array(ps, dtype=np.float64)


def _all_rows(rows: list[Any], width: int, kinds: frozenset[type]) -> bool:
    """Every row a list of ``width`` values of exactly these types (bool is not a number)."""
    # map() and set() run in C: this is the per-line cost of reading a log.
    if set(map(type, rows)) != _LIST or set(map(len, rows)) != {width}:
        return False
    return set(map(type, chain.from_iterable(rows))) <= kinds


def _row_problem(row: object, width: int, kinds: frozenset[type], what: str) -> str | None:
    if type(row) is not list:
        return f"the {what} are {_kind(row)}, not a list"
    if len(row) != width:
        return f"{len(row)} {what}, not {width}"
    for j, value in enumerate(row):
        if type(value) not in kinds:
            return f"{what} value {j} is {_kind(value)}"
    return None


def _kind(value: object) -> str:
    """What a JSON value is, for a message: its type and a short preview."""
    if value is None:
        return "missing (null)"
    return f"{type(value).__name__} {_short(value)}"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _first_difference(a: Sequence[Any], b: Sequence[Any]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"position {i}: {x!r} vs {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def _header(bundle: str, features: Sequence[str], classes: Sequence[str], output: str) -> bytes:
    return (
        orjson.dumps(
            {
                HEADER_KEY: LOG_FORMAT,
                "bundle": bundle,
                "features": list(features),
                "classes": list(classes),
                "output": output,
            }
        )
        + b"\n"
    )
