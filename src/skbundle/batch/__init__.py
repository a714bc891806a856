"""Batch scoring on one machine: files in, predictions out, on every core, atomically.

- :mod:`~skbundle.batch.read`: sources (a file, a directory, a glob; CSV, JSON lines, JSON,
  Parquet) read in chunks of bounded size, Parquet with only the columns scoring needs;
- :mod:`~skbundle.batch.frame`: :func:`score_frame`, one DataFrame validated column by column
  and predicted, bit for bit what ``Bundle.predict`` gives on the same rows (the unit Dask and
  Spark partitions are scored with, too);
- :mod:`~skbundle.batch.write`: one output file or a directory of Parquet parts, published
  only when every row is scored;
- :mod:`~skbundle.batch.parallel`: :func:`score_files`, the bounded reader -> N scorers ->
  ordered writer pipeline.
"""

from __future__ import annotations

from skbundle.batch.frame import DEFAULT_COLUMNS, FrameScorer, flatten, score_frame
from skbundle.batch.parallel import (
    Pipeline,
    ScoreSummary,
    available_cores,
    score,
    score_files,
    total_rows,
)
from skbundle.batch.read import (
    DEFAULT_CHUNK,
    FILE_KINDS,
    MAX_CSV_RECORD_BYTES,
    MAX_JSON_LINE_BYTES,
    Chunk,
    Source,
    bounded_lines,
    count_all,
    count_records,
    csv_chunks,
    iter_chunks,
    jsonl_chunks,
    numbers_from_text,
    open_inputs,
    open_source,
    read_chunks,
)
from skbundle.batch.write import PART_ROWS, SUCCESS, Destination, destination, output_kind

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_COLUMNS",
    "FILE_KINDS",
    "MAX_CSV_RECORD_BYTES",
    "MAX_JSON_LINE_BYTES",
    "PART_ROWS",
    "SUCCESS",
    "Chunk",
    "Destination",
    "FrameScorer",
    "Pipeline",
    "ScoreSummary",
    "Source",
    "available_cores",
    "bounded_lines",
    "count_all",
    "count_records",
    "csv_chunks",
    "destination",
    "flatten",
    "iter_chunks",
    "jsonl_chunks",
    "numbers_from_text",
    "open_inputs",
    "open_source",
    "output_kind",
    "read_chunks",
    "score",
    "score_files",
    "score_frame",
    "total_rows",
]
