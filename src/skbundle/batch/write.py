"""Writing batch results atomically: one file of a known kind, or a directory of Parquet parts.

Nothing appears at the destination unless the whole run succeeds. A file is written to a
temporary sibling and renamed over the destination at the end (``core.atomic.write_file``);
a directory of parts is built in a temporary sibling directory and published with one rename
(``core.atomic.write_directory``), with a ``_SUCCESS`` file inside, the marker Spark and
Hadoop leave and that Parquet readers skip. A directory is only ever replaced when it is
empty or holds that marker (an earlier run's output): a wrong path cannot delete other files.

Each chunk's bytes (CSV, JSON) or Arrow table (Parquet) are prepared by :meth:`Writer.prepare`
in a scoring thread; :meth:`Writer.write` only appends them, in input order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import orjson

from skbundle.batch.frame import Encoded, FrameScorer
from skbundle.batch.read import FILE_KINDS
from skbundle.core import atomic
from skbundle.errors import BatchInputError, BatchOptionError

T = TypeVar("T")

PARTS = "parts"
"""The kind of a destination that is a directory of Parquet parts."""
PART_ROWS = 1_000_000
"""Rows per Parquet part of a directory output (each chunk is one row group of a part)."""
SUCCESS = "_SUCCESS"
"""The empty file that marks a directory output as complete and as ours to replace."""


def output_kind(path: Path) -> str:
    kind = FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise BatchInputError(
            str(path), f"unknown output type {path.suffix!r}", f"Use one of {sorted(FILE_KINDS)}."
        )
    return kind


@dataclass(frozen=True)
class Destination:
    """Where results go: a file of a kind, or a directory of Parquet parts (kind ``parts``)."""

    path: Path
    kind: str


def destination(output: str | Path, *, kind: str | None = None) -> Destination:
    """A path with a known extension is a file of that kind; an existing directory, a path
    ending with ``/`` or a name without an extension is a directory of Parquet parts.

    Raises
    ------
    BatchInputError
        An unknown extension.
    BatchOptionError
        A directory that exists, is not empty and is not an earlier output (no ``_SUCCESS``).
    """
    path = Path(output)
    if kind is not None:
        return Destination(path, kind)
    if str(output).endswith("/") or path.is_dir() or (path.suffix == "" and not path.exists()):
        if path.is_dir() and not (path / SUCCESS).is_file() and any(path.iterdir()):
            raise BatchOptionError(
                "output",
                str(path),
                f"a directory that is not empty and is not the output of a batch run (it has "
                f"no {SUCCESS} file), so it will not be replaced",
                "Pass a new or empty directory, or a file name ending in .parquet, .csv, "
                ".json or .jsonl.",
            )
        return Destination(path, PARTS)
    return Destination(path, output_kind(path))


class Writer:
    """Results of one run, appended chunk by chunk in input order (module docstring)."""

    def __init__(
        self,
        kind: str,
        *,
        fh: IO[bytes] | None = None,
        directory: Path | None = None,
        part_rows: int = PART_ROWS,
    ) -> None:
        self.kind = kind
        self.fh = fh
        self.directory = directory
        self.part_rows = part_rows
        self.rows = 0
        self.parts = 0
        self._parquet: Any = None
        self._schema: Any = None
        self._part_rows = 0

    # -- in a scoring thread -----------------------------------------------------------------
    def prepare(
        self, scorer: FrameScorer, encoded: Encoded, output: np.ndarray, offset: int
    ) -> Any:
        """What :meth:`write` appends for one chunk (of at least one row): bytes, a CSV header
        with its bytes, or an Arrow table."""
        if self.kind in ("json", "jsonl"):
            results = scorer.results(encoded, output)
            if self.kind == "jsonl":
                return b"".join(orjson.dumps(r, default=str) + b"\n" for r in results)
            return b",\n".join(orjson.dumps(r, default=str) for r in results)
        table = scorer.table(encoded, output, offset)
        if self.kind == "csv":
            header = table.iloc[:0].to_csv(index=False).encode()
            body: str = table.to_csv(index=False, header=False)
            return header, body.encode()
        import pyarrow as pa

        return pa.Table.from_pandas(table, preserve_index=False)

    # -- in the writing thread, in order -----------------------------------------------------
    def write(self, payload: Any, rows: int, source: str) -> None:
        first = self.rows == 0
        self.rows += rows
        if self.kind not in ("parquet", PARTS):
            assert self.fh is not None
            if self.kind == "json":
                self.fh.write(b"[\n" if first else b",\n")
            elif self.kind == "csv":
                header, payload = payload
                if first:
                    self.fh.write(header)
            self.fh.write(payload)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            self._schema = payload.schema
        elif payload.schema != self._schema:
            try:
                payload = payload.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise BatchInputError(
                    source,
                    f"its output columns have other types than earlier rows' ({exc})",
                    "Give the kept columns one type in every file.",
                ) from None
        if self.kind == PARTS and self._parquet is not None and self._part_rows >= self.part_rows:
            self._parquet.close()
            self._parquet = None
        if self._parquet is None:
            if self.kind == PARTS:
                assert self.directory is not None
                sink: Any = self.directory / f"part-{self.parts:05d}.parquet"
                self.parts += 1
            else:
                sink = self.fh
            self._parquet = pq.ParquetWriter(sink, self._schema)
            self._part_rows = 0
        self._parquet.write_table(payload)
        self._part_rows += rows

    def close(self) -> None:
        if self.kind == "json":
            assert self.fh is not None
            self.fh.write(b"[]\n" if self.rows == 0 else b"\n]\n")
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


def publish(target: Destination, run: Callable[[Writer], T], *, part_rows: int = PART_ROWS) -> T:
    """Run ``run(writer)`` into a temporary sibling of the destination; publish it only when
    ``run`` returns (see the module docstring)."""
    if target.kind != PARTS:
        with atomic.write_file(target.path) as fh:
            writer = Writer(target.kind, fh=fh)
            with _closing_on_error(writer):
                result = run(writer)
            writer.close()
        return result

    def build(tmp: Path) -> T:
        writer = Writer(PARTS, directory=tmp, part_rows=part_rows)
        with _closing_on_error(writer):
            result = run(writer)
        writer.close()
        (tmp / SUCCESS).write_bytes(b"")
        return result

    return atomic.write_directory(target.path, build, overwrite=True, marker=SUCCESS)


@contextlib.contextmanager
def _closing_on_error(writer: Writer) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        raise
