"""Reading batch input: JSON, JSON lines, CSV or Parquet, one file, a glob or a directory, in
chunks of bounded size.

Memory stays bounded by the chunk size whatever the input size (except a plain JSON document,
which has to be parsed whole). Parquet is read batch by batch with only the columns scoring
needs (:func:`read_chunks`); CSV through pandas' chunked reader behind a bound on the length of
one record; JSON lines line by line behind a bound on the length of one line.
"""

from __future__ import annotations

import glob
import sys
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from skbundle.errors import BatchInputError, InputProblem, InputValidationError

DEFAULT_CHUNK = 10_000
MAX_CSV_RECORD_BYTES = 1 << 20
"""The longest CSV record (one row, quoted line breaks included) read before giving up.

pandas' C parser holds a quoted field whole, however long: one unclosed quote would make
the rest of a file one cell in memory. 1 MiB holds a row of some 50,000 numeric features.
"""

MAX_JSON_LINE_BYTES = 64 << 20
"""The longest JSON-lines record read before it is refused (not held in memory)."""


def bounded_lines(fh: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None]]:
    """``(number, line)`` of a binary file; ``line`` is None for a line longer than ``limit``
    bytes, which is read through to its end without being kept."""
    number = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = fh.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, line


# Readable and writable file kinds, by extension: the same set both ways.
FILE_KINDS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class Source:
    """Where records come from: a file of a known kind, standard input, or inline JSON."""

    kind: str
    path: Path | None = None
    text: str | None = None

    @property
    def label(self) -> str:
        if self.path is not None:
            return str(self.path)
        return "standard input" if self.kind == "stdin" else "inline JSON"


def open_source(spec: str, *, stdin: IO[str] | None = None) -> Source:
    """Interpret INPUT as the CLI takes it: ``-``, inline JSON, or a path by its extension."""
    if spec == "-":
        stream = stdin if stdin is not None else sys.stdin
        return Source("json", text=stream.read())
    stripped = spec.lstrip()
    if stripped.startswith(("{", "[")):
        return Source("json", text=spec)
    path = Path(spec)
    if not path.exists():
        raise BatchInputError(
            spec,
            "no such file, and it is not inline JSON",
            "Pass a .json, .jsonl, .csv or .parquet file, inline JSON, or - for standard input.",
        )
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise BatchInputError(
            spec,
            f"unknown file type {path.suffix!r}",
            f"Use one of {sorted(FILE_KINDS)}.",
        )
    return Source(kind, path=path)


def count_records(source: Source) -> int | None:
    """The number of records, when it can be known cheaply (for a progress bar)."""
    if source.path is None:
        return None
    if source.kind == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(source.path).metadata.num_rows)
    if source.kind in ("csv", "jsonl"):
        with open(source.path, "rb") as fh:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        return max(lines - (1 if source.kind == "csv" else 0), 0)
    return None


def _parse_json(text: str | bytes, label: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BatchInputError(
            label,
            f"not valid JSON ({exc})",
            "Send one object (a record) or an array of objects or of arrays.",
        ) from exc


def iter_chunks(
    source: Source,
    chunk_size: int = DEFAULT_CHUNK,
    *,
    bad_lines: list[InputProblem] | None = None,
    text_columns: frozenset[str] = frozenset(),
) -> Generator[tuple[Any, int], None, None]:
    """Yield ``(records, offset)``: records in any shape the validator accepts.

    A JSON-lines line that does not parse ends the run with an ``InputValidationError``;
    with ``bad_lines`` given, it is recorded there and skipped instead (drift reports it).
    ``text_columns`` name CSV columns read as text whatever they look like (categorical
    features whose categories are strings, e.g. a postcode).
    """
    if source.kind == "json":
        text = source.text if source.text is not None else source.path.read_bytes()  # type: ignore[union-attr]
        data = _parse_json(text, source.label)
        if isinstance(data, list):
            for start in range(0, max(len(data), 1), chunk_size):
                yield data[start : start + chunk_size], start
        else:
            yield data, 0
    elif source.kind == "jsonl":
        assert source.path is not None
        yield from jsonl_chunks(source.path, chunk_size, source.label, bad_lines=bad_lines)
    elif source.kind == "csv":
        assert source.path is not None
        yield from csv_chunks(source.path, chunk_size, source.label, text_columns=text_columns)
    elif source.kind == "parquet":
        import pyarrow.parquet as pq

        offset = 0
        for batch in pq.ParquetFile(source.path).iter_batches(batch_size=chunk_size):
            frame = batch.to_pandas()
            yield frame, offset
            offset += len(frame)
    else:  # pragma: no cover - open_source only makes the kinds above
        raise BatchInputError(source.label, f"unknown kind {source.kind}", "")


class _BoundedRecords:
    """A binary file whose ``read`` raises BatchInputError once a CSV record passes ``limit``.

    A record ends at a line break outside quotes. Doubled quotes inside a quoted field keep
    the count of quote characters even, so the parity of quotes since the record's start
    says whether a line break ends it. A block with no quote, outside a quoted field, costs
    three byte scans in C; only blocks with quotes are walked line by line.
    """

    def __init__(self, fh: IO[bytes], limit: int, label: str) -> None:
        self.fh = fh
        self.limit = limit
        self.label = label
        self.length = 0  # bytes of the current record so far
        self.quoted = False  # inside a quoted field
        self.line = 1  # line number where the current record starts
        self.lines = 1  # line number of the current position

    def read(self, size: int = -1) -> bytes:
        # Blocks no longer than the limit: then a record inside a block is short enough.
        block = self.fh.read(min(size if size and size > 0 else 1 << 18, max(self.limit, 1)))
        if not self.quoted and b'"' not in block:
            self._plain(block)
        else:
            self._walk(block)
        return block

    def _grow(self, n: int) -> None:
        self.length += n
        if self.length > self.limit:
            raise BatchInputError(
                self.label,
                f"the record starting on line {self.line} is longer than {self.limit} bytes "
                "(a quoted field that is never closed, or a runaway row)",
                "Check the quotes from that line on; a CSV row must be shorter than that.",
            )

    def _plain(self, block: bytes) -> None:
        first = block.find(b"\n")
        if first == -1:
            self._grow(len(block))
            return
        # Records inside the block are no longer than the block, so within the limit.
        self._grow(first)
        self.lines += block.count(b"\n")
        self.line = self.lines
        self.length = len(block) - block.rfind(b"\n") - 1
        self._grow(0)

    def _walk(self, block: bytes) -> None:
        pos = 0
        while pos < len(block):
            end = block.find(b"\n", pos)
            stop = len(block) if end == -1 else end
            if block.count(b'"', pos, stop) % 2:
                self.quoted = not self.quoted
            self._grow(stop - pos)
            if end == -1:
                return
            self.lines += 1
            if self.quoted:
                self._grow(1)
            else:
                self.length = 0
                self.line = self.lines
            pos = end + 1


def csv_chunks(
    path: Path,
    chunk_size: int,
    label: str,
    *,
    max_record_bytes: int = MAX_CSV_RECORD_BYTES,
    text_columns: frozenset[str] = frozenset(),
) -> Generator[tuple[Any, int], None, None]:
    """CSV rows in chunks of ``chunk_size``, numbers recovered (see :func:`numbers_from_text`).

    Raises
    ------
    BatchInputError
        A record is longer than ``max_record_bytes`` (an unclosed quote, a runaway row), or
        the file is not CSV pandas can read (a quote open at the end, a row with too many
        fields, no header).
    """
    import pandas as pd

    offset = 0
    with open(path, "rb") as fh:
        bounded = _BoundedRecords(fh, max_record_bytes, label)
        try:
            text = dict.fromkeys(text_columns, str)
            with pd.read_csv(bounded, chunksize=chunk_size, dtype=text or None) as reader:  # type: ignore[call-overload]
                for frame in reader:
                    yield numbers_from_text(frame, skip=text_columns), offset
                    offset += len(frame)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            raise BatchInputError(
                label,
                f"not valid CSV ({detail})",
                "Write one header line, then one row per line with as many fields.",
            ) from None


def numbers_from_text(frame: Any, skip: frozenset[str] = frozenset()) -> Any:
    """CSV cells are text: parse numeric-looking cells of mixed columns as numbers.

    pandas types each chunk's column as a whole, so one bad cell turns a whole column into
    strings; here the numbers are recovered and only the cells that are not numbers stay text,
    for the validator to report one by one. Columns in ``skip`` stay text.
    """
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind != "O" or name in skip:
            continue
        parsed = pd.to_numeric(column, errors="coerce")
        bad = parsed.isna() & column.notna()
        if bad.any():
            mixed = parsed.astype(object)
            mixed[bad] = column[bad]
            frame[name] = mixed
        else:
            frame[name] = parsed
    return frame


def jsonl_chunks(
    path: Path,
    chunk_size: int,
    label: str,
    *,
    bad_lines: list[InputProblem] | None = None,
    max_line_bytes: int = MAX_JSON_LINE_BYTES,
) -> Generator[tuple[list[object], int], None, None]:
    """JSON lines in chunks of ``chunk_size`` records, with the offset of each chunk.

    A line that is not valid JSON (or longer than ``max_line_bytes``, which is never held in
    memory) raises ``InputValidationError`` naming its line number, or, when ``bad_lines`` is
    given, is appended there (as a problem of no record) and skipped.
    """
    chunk: list[object] = []
    offset = 0
    with open(path, "rb") as fh:
        for number, line in bounded_lines(fh, max_line_bytes):
            if line is not None and not line.strip():
                continue
            try:
                if line is None:
                    raise ValueError(f"longer than {max_line_bytes} bytes")
                chunk.append(orjson.loads(line))
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
                problem = InputProblem(
                    None if bad_lines is not None else offset + len(chunk),
                    None,
                    f"line {number} is not valid JSON ({exc})",
                    "one JSON object per line",
                )
                if bad_lines is None:
                    raise InputValidationError(label, [problem]) from exc
                bad_lines.append(problem)
                continue
            if len(chunk) == chunk_size:
                yield chunk, offset
                offset += len(chunk)
                chunk = []
    if chunk or offset == 0:
        yield chunk, offset


# -- many files --------------------------------------------------------------------------
_GLOB = frozenset("*?[")


def _listed(name: str) -> bool:
    """Whether a file found in a directory or by a pattern is input: not hidden, and not a
    marker such as Spark's ``_SUCCESS`` or a ``_metadata`` summary."""
    return not name.startswith((".", "_"))


def open_inputs(spec: str, *, stdin: IO[str] | None = None) -> list[Source]:
    """INPUT as the CLI takes it: ``-``, inline JSON, a file, a directory, or a glob pattern.

    A directory stands for the files directly inside it, a pattern (``data/*.parquet``, with
    ``*``, ``?`` or ``[...]``, when no file has that very name) for the files it matches; both
    in name order, skipping hidden names and names starting with ``_`` (``_SUCCESS``). Every
    file must be of a known kind; files of different kinds may be mixed.

    Raises
    ------
    BatchInputError
        Nothing matches, the directory holds no input file or holds a directory, or a file is
        of an unknown kind.
    """
    if spec == "-" or spec.lstrip().startswith(("{", "[")):
        return [open_source(spec, stdin=stdin)]
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if _listed(p.name))
        empty = "the directory holds no input file"
    elif not path.exists() and _GLOB & set(spec):
        found = sorted(Path(p) for p in glob.glob(spec) if _listed(Path(p).name))
        empty = "no file matches the pattern"
    else:
        return [open_source(spec, stdin=stdin)]
    if not found:
        raise BatchInputError(
            spec, empty, f"Put .csv, .jsonl, .json or .parquet files there ({sorted(FILE_KINDS)})."
        )
    for item in found:
        if item.is_dir():
            raise BatchInputError(
                str(item),
                "a directory inside the input",
                "skbundle reads the files directly inside the directory; pass a pattern such "
                "as 'data/*/*.parquet' to read nested ones.",
            )
    return [open_source(str(p)) for p in found]


def count_all(sources: Sequence[Source]) -> int | None:
    """The number of records of every source, when each can be known cheaply."""
    total = 0
    for source in sources:
        count = count_records(source)
        if count is None:
            return None
        total += count
    return total


@dataclass(frozen=True)
class Chunk:
    """Rows of one source, as read: a pyarrow RecordBatch (Parquet), a DataFrame (CSV), or
    records (JSON), with the global row number of the first one."""

    data: Any
    offset: int
    source: str
    index: int
    """The chunk's place in the whole input: 0, 1, 2..."""
    ignored: tuple[str, ...] = ()
    """Columns of the file left unread (``ignore_unknown``): the rows' warnings name them."""

    def __len__(self) -> int:
        if isinstance(self.data, dict):
            return 1
        return len(self.data) if self.data is not None else 0


def _parquet_error(label: str, exc: Exception) -> BatchInputError:
    detail = " ".join(str(exc).split())[:300]
    return BatchInputError(
        label, f"not a Parquet file pyarrow can read ({detail})", "Check the file is whole."
    )


def parquet_batches(
    path: Path,
    chunk_size: int,
    label: str,
    *,
    wanted: frozenset[str] | None = None,
    ignore_unknown: bool = False,
) -> Generator[tuple[Any, tuple[str, ...]], None, None]:
    """``(record batch, ignored columns)`` of a Parquet file, ``chunk_size`` rows at most.

    pyarrow decodes the pages of one row group's column chunks batch by batch, so memory
    follows ``chunk_size``, not the row group's size. Only the ``wanted`` columns are read
    when ``ignore_unknown`` lets the others be dropped (otherwise every column is read, so
    that an unknown one is reported, as for CSV).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False: with it, pyarrow keeps every row group's buffers it has read
        # ahead, and memory grows with the file (363 MB after 1M rows of 30 columns).
        parquet = pq.ParquetFile(path, pre_buffer=False)
        schema = parquet.schema_arrow
        # pandas' stored index: a column name, or a dict for a RangeIndex it stores as
        # metadata only (the default of DataFrame.to_parquet), which has no column to skip
        stored = (schema.pandas_metadata or {}).get("index_columns", [])
        index = {c for c in stored if isinstance(c, str)}
        names = [n for n in schema.names if n not in index]
    except (pa.ArrowException, OSError) as exc:
        raise _parquet_error(label, exc) from None
    columns: list[str] | None = None
    ignored: tuple[str, ...] = ()
    if wanted is not None and ignore_unknown:
        columns = [n for n in names if n in wanted]
        ignored = tuple(n for n in names if n not in wanted)
    with parquet:
        batches = parquet.iter_batches(batch_size=chunk_size, columns=columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise _parquet_error(label, exc) from None
            yield batch, ignored


def read_chunks(
    sources: Sequence[Source],
    chunk_size: int = DEFAULT_CHUNK,
    *,
    wanted: frozenset[str] | None = None,
    ignore_unknown: bool = False,
    text_columns: frozenset[str] = frozenset(),
) -> Generator[Chunk, None, None]:
    """Every source in turn, in chunks of at most ``chunk_size`` rows, numbered globally.

    ``wanted`` names the columns scoring needs (features and kept columns): with
    ``ignore_unknown``, Parquet files are read with those columns only.
    """
    offset = 0
    index = 0
    for source in sources:
        if source.kind == "parquet":
            assert source.path is not None
            for batch, ignored in parquet_batches(
                source.path,
                chunk_size,
                source.label,
                wanted=wanted,
                ignore_unknown=ignore_unknown,
            ):
                yield Chunk(batch, offset, source.label, index, ignored)
                offset += batch.num_rows
                index += 1
            continue
        for data, _ in iter_chunks(source, chunk_size, text_columns=text_columns):
            chunk = Chunk(data, offset, source.label, index)
            yield chunk
            offset += len(chunk)
            index += 1
