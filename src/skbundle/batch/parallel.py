"""Scoring files on every core of one machine: a bounded pipeline.

::

    reader thread ──> N scoring threads ──> writer (the calling thread), in input order

The reader reads chunk after chunk (Parquet batches of the needed columns, CSV or JSON-lines
chunks); each chunk is scored in a thread of a pool (decode, validate column by column,
predict, build the output table and its bytes); the calling thread writes the results in
input order. onnxruntime and scikit-learn release the GIL while predicting, so N threads keep
N cores busy; each ONNX call runs on its own thread only (the session is single-threaded, see
``formats.onnx_format.session_options``), so a row's tree sums keep their order and the
output is the same for any number of jobs.

Memory is bounded by the chunk size, not the input: a chunk is read only once one of
``depth`` slots is free, and a slot is freed only when its chunk's results are written, so at
most ``depth`` chunks (read, being scored, or scored and waiting for their turn) exist at
once. The first failure in input order (a bad row, an unreadable file) stops the reader,
cancels the chunks not yet started, and is raised; nothing reaches the destination.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from skbundle.batch.frame import DEFAULT_COLUMNS, FrameScorer
from skbundle.batch.read import (
    DEFAULT_CHUNK,
    Chunk,
    Source,
    count_all,
    open_inputs,
    read_chunks,
)
from skbundle.batch.write import PART_ROWS, Writer, destination, publish
from skbundle.bundle import Bundle, prediction_labels
from skbundle.errors import BatchOptionError

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """The cores this process may run on (its affinity, else the machine's count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class ScoreSummary:
    """What a batch run did."""

    rows: int = 0
    with_warnings: int = 0
    by_class: dict[Any, int] = field(default_factory=dict)
    """Predictions per class (a classifier)."""
    values: tuple[float, float, float] | None = None
    """Smallest, mean and largest prediction (a regressor)."""
    output: str | None = None
    files: int = 0
    """Input files read."""
    parts: int = 0
    """Parquet parts written (a directory output)."""
    jobs: int = 1
    peak_in_flight: int = 0
    """The most chunks that existed at once (at most ``depth``): what bounds memory."""


@dataclass
class _Stats:
    rows: int
    with_warnings: int
    counts: np.ndarray | None = None
    low: float = math.inf
    high: float = -math.inf
    total: float = 0.0


@dataclass
class _Failed:
    error: BaseException


class Pipeline:
    """reader -> ``jobs`` scorers -> ordered writer, with at most ``depth`` chunks alive."""

    def __init__(self, *, jobs: int, depth: int) -> None:
        if jobs < 1:
            raise BatchOptionError("jobs", str(jobs), "fewer than one", "Use 1 or more.")
        self.jobs = jobs
        self.depth = max(depth, 1)
        self.peak = 0
        self._alive = 0
        self._lock = threading.Lock()

    def run(
        self,
        items: Iterable[T],
        score: Callable[[T], R],
        write: Callable[[R], None],
    ) -> None:
        slots = threading.Semaphore(self.depth)
        stop = threading.Event()
        pending: queue.Queue[Future[R] | _Failed | None] = queue.Queue()
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="skbundle-score")
        iterator = iter(items)

        def read() -> None:
            try:
                while not stop.is_set():
                    while not slots.acquire(timeout=0.05):
                        if stop.is_set():
                            return
                    try:
                        item = next(iterator)
                    except StopIteration:
                        return
                    with self._lock:
                        self._alive += 1
                        self.peak = max(self.peak, self._alive)
                    pending.put(pool.submit(score, item))
            except BaseException as exc:  # handed to the writer, who raises it in order
                pending.put(_Failed(exc))
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()  # the generator's files
                pending.put(None)

        reader = threading.Thread(target=read, name="skbundle-read", daemon=True)
        reader.start()
        try:
            while True:
                entry = pending.get()
                if entry is None:
                    break
                if isinstance(entry, _Failed):
                    raise entry.error
                result = entry.result()
                write(result)
                with self._lock:
                    self._alive -= 1
                slots.release()
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            reader.join()


def score_files(
    bundle: Bundle,
    inputs: str | Sequence[Source],
    output: str | Path,
    *,
    jobs: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
    kind: str | None = None,
    depth: int | None = None,
    part_rows: int = PART_ROWS,
    on_progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score every row of ``inputs`` on ``jobs`` threads and write the results atomically.

    Parameters
    ----------
    bundle
        A loaded bundle.
    inputs
        A file, a directory or a glob pattern (see :func:`skbundle.batch.open_inputs`), or
        sources already opened.
    output
        A file (its extension gives the kind: .parquet, .csv, .jsonl, .json) or a directory
        of Parquet parts (``part-00000.parquet``..., and ``_SUCCESS``). Nothing is written
        there unless every row is scored.
    jobs
        Scoring threads; default: every core this process may use.
    chunk_size
        Rows per chunk (a Parquet batch, a CSV or JSON-lines chunk).
    columns, keep, ignore_unknown
        As for :func:`skbundle.batch.score_frame`.
    kind
        The output's kind, instead of what its name says.
    depth
        Chunks alive at once (memory is about ``depth x chunk_size`` rows); default
        ``2 x jobs``.
    part_rows
        Rows per Parquet part of a directory output.
    on_progress
        Called (in the calling thread) with the number of rows written so far, after each
        chunk. The library never prints.

    Returns
    -------
    ScoreSummary

    Raises
    ------
    BatchValidationError
        A row does not fit the schema: the first failing chunk in input order, naming its
        file, the global record number and the field. Nothing is written to ``output``.
    BatchInputError
        An input cannot be read, or the output's kind is unknown.
    BatchOptionError
        An unknown or inapplicable output column, a kept column named like an output column,
        ``jobs`` below 1, or an output directory that is not ours to replace.
    """
    sources = open_inputs(inputs) if isinstance(inputs, str) else list(inputs)
    target = destination(output, kind=kind)
    scorer = FrameScorer(bundle, columns=columns, keep=keep, ignore_unknown=ignore_unknown)
    jobs = available_cores() if jobs is None else jobs
    pipeline = Pipeline(jobs=jobs, depth=2 * jobs if depth is None else depth)
    features = bundle.manifest.features
    text_columns = frozenset(
        f.name for f in features if f.categories and isinstance(f.categories[0], str)
    )
    wanted = frozenset(bundle.validator.names) | frozenset(scorer.keep)
    summary = ScoreSummary(output=str(output), files=len(sources), jobs=jobs)
    tally = _Tally(bundle, summary)

    def run(writer: Writer) -> None:
        def score(chunk: Chunk) -> tuple[Any, _Stats, Chunk]:
            return _score_chunk(scorer, writer, chunk, tally)

        def write(result: tuple[Any, _Stats, Chunk]) -> None:
            payload, stats, chunk = result
            if stats.rows:
                writer.write(payload, stats.rows, chunk.source)
            tally.add(stats)
            if on_progress is not None:
                on_progress(summary.rows)

        chunks = read_chunks(
            sources,
            chunk_size,
            wanted=wanted,
            ignore_unknown=ignore_unknown,
            text_columns=text_columns,
        )
        pipeline.run(chunks, score, write)
        summary.parts = writer.parts

    publish(target, run, part_rows=part_rows)
    summary.peak_in_flight = pipeline.peak
    tally.finish()
    return summary


class _Tally:
    """The summary's counts, from each chunk's runtime output (never from the written rows,
    which may leave the prediction out)."""

    def __init__(self, bundle: Bundle, summary: ScoreSummary) -> None:
        self.output = bundle.manifest.output
        self.labels = prediction_labels(bundle.manifest)
        self.summary = summary
        self.counts = np.zeros(len(self.labels), dtype=np.int64)
        self.low, self.high, self.total = math.inf, -math.inf, 0.0

    def stats(self, output: np.ndarray, with_warnings: int) -> _Stats:
        stats = _Stats(len(output), with_warnings)
        if self.output == "values":
            values = output[:, 0]
            stats.low, stats.high = float(values.min()), float(values.max())
            stats.total = float(values.sum())
        else:
            index = output.argmax(axis=1) if self.output == "probabilities" else output[:, 0]
            stats.counts = np.bincount(index.astype(np.int64), minlength=len(self.labels))
        return stats

    def add(self, stats: _Stats) -> None:
        self.summary.rows += stats.rows
        self.summary.with_warnings += stats.with_warnings
        if stats.counts is not None:
            self.counts += stats.counts
        self.low, self.high = min(self.low, stats.low), max(self.high, stats.high)
        self.total += stats.total

    def finish(self) -> None:
        if self.output == "values":
            if self.summary.rows:
                self.summary.values = (self.low, self.total / self.summary.rows, self.high)
            return
        self.summary.by_class = {
            label: int(n) for label, n in zip(self.labels, self.counts.tolist(), strict=True) if n
        }


def _score_chunk(
    scorer: FrameScorer, writer: Writer, chunk: Chunk, tally: _Tally
) -> tuple[Any, _Stats, Chunk]:
    """One chunk, in a scoring thread: encode, predict, and prepare what the writer appends."""
    data = chunk.data
    if hasattr(data, "columns"):  # a DataFrame or a pyarrow RecordBatch
        encoded = scorer.encode(
            data, offset=chunk.offset, source=chunk.source, ignored=chunk.ignored
        )
    else:
        encoded = scorer.encode_records(data, offset=chunk.offset, source=chunk.source)
    if len(encoded) == 0:
        return None, _Stats(0, 0), chunk
    output = scorer.predict(encoded)
    payload = writer.prepare(scorer, encoded, output, chunk.offset)
    with_warnings = len(encoded) if encoded.common else len(encoded.notes)
    return payload, tally.stats(output, with_warnings), chunk


def score(
    bundle: Bundle,
    source: Source,
    output: Path,
    *,
    kind: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    ignore_unknown: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Predict every record of one ``source`` into ``output``, atomically, on one scoring
    thread: :func:`score_files` as the first release called it."""
    return score_files(
        bundle,
        [source],
        output,
        jobs=1,
        chunk_size=chunk_size,
        ignore_unknown=ignore_unknown,
        kind=kind,
        on_progress=on_progress,
    )


def total_rows(inputs: str | Sequence[Source]) -> int | None:
    """Rows of every input when known cheaply (Parquet metadata; lines of CSV, JSON lines)."""
    sources = open_inputs(inputs) if isinstance(inputs, str) else list(inputs)
    return count_all(sources)
