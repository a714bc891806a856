"""Score with a bundle on a Dask cluster: a lazy Dask DataFrame, or Parquet files to a directory.

Same contract as scoring in one process: every row goes through the bundle's one validator
and runtime on a worker (:func:`skbundle.batch.score_frame`), results are identical row for
row to ``Bundle.predict``, and a validation error names the file (or partition), the row's
number counted from the start of the whole input, and the field.

The model never travels as a pickled object. Workers receive a
:class:`~skbundle.remote.BundleRef` (a path, an fsspec URL, or the bundle's files as bytes)
and verify and load it themselves, once per worker process (:func:`skbundle.remote.load_ref`).

:func:`score_files` writes a directory of Parquet parts under a temporary sibling of the
output directory and renames it into place only when every part is written: a failed or
interrupted job leaves the output as it was. A worker lost mid-job (killed, out of memory)
is survived the way Dask survives it: its parts run again on the other workers.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skbundle.batch import DEFAULT_COLUMNS, ScoreSummary, score_frame
from skbundle.bundle import Bundle
from skbundle.errors import BatchInputError, ClusterJobError
from skbundle.remote import BundleRef, load_ref, make_ref, output_meta

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

PART_ROWS = 250_000
"""Rows per task of :func:`score_files` (whole Parquet row groups, at least one per task)."""
CHUNK_ROWS = 50_000
"""Rows a worker validates and predicts at a time inside a task (bounds its memory)."""


def _score_partition(
    frame: pd.DataFrame,
    ref: BundleRef,
    offsets: Sequence[int],
    columns: Sequence[str],
    keep: Sequence[str],
    ignore_unknown: bool,
    partition_info: dict[str, Any] | None = None,
) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    return score_frame(
        load_ref(ref),
        frame,
        offset=offsets[number],
        source=f"partition {number}",
        columns=columns,
        keep=keep,
        ignore_unknown=ignore_unknown,
    )


def predict(
    bundle: Bundle | str | os.PathLike[str],
    ddf: dd.DataFrame,
    *,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
    ship: str = "bytes",
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    allow_version_mismatch: bool = False,
) -> dd.DataFrame:
    """Score a Dask DataFrame lazily: one output row per input row, as ``score_frame`` gives.

    Parameters
    ----------
    bundle
        A loaded bundle (its directory and runtime are used), a bundle directory or an
        fsspec URL. Verified here, and again by every worker before it loads it.
    ddf
        The rows to score, with (at least) the bundle's features as columns.
    columns, keep, ignore_unknown
        As for :func:`skbundle.batch.score_frame`: the result columns, identifier columns
        carried through, and unknown columns dropped instead of refused.
    ship
        ``"bytes"`` (default) sends the bundle's files with the task graph; ``"path"`` sends
        only its location, which every worker must be able to read.
    trust_pickle, trusted_types, allow_version_mismatch
        Load options, applied on the client and on every worker alike.

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; ``row`` counts from 0 over the whole of ``ddf``. Partition lengths are computed
        once here (a cheap pass) so that each partition knows its first row's number.

    Raises
    ------
    BatchValidationError
        When computed: rows of a partition do not fit the schema (names ``partition N`` and
        the global row number).

    Examples
    --------
    >>> scored = skbundle.dask.predict("models/cancer", dd.read_parquet("rows/"))
    >>> scored.to_parquet("scored/")
    """
    from dask.delayed import delayed

    ref, loaded = make_ref(
        bundle,
        ship=ship,
        trust_pickle=trust_pickle,
        trusted_types=trusted_types,
        allow_version_mismatch=allow_version_mismatch,
    )
    meta = output_meta(loaded, ddf._meta, columns=columns, keep=keep)
    lengths = [int(n) for n in ddf.map_partitions(len).compute()]  # type: ignore[no-untyped-call]
    offsets = [sum(lengths[:i]) for i in range(len(lengths))]
    scored: dd.DataFrame = ddf.map_partitions(  # type: ignore[no-untyped-call]
        _score_partition,
        delayed(ref, pure=True),  # one key in the graph, not a copy per partition
        offsets,
        tuple(columns),
        tuple(keep),
        ignore_unknown,
        meta=meta,
        enforce_metadata=False,
        align_dataframes=False,
    )
    return scored


# -- files ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One task of :func:`score_files`: consecutive row groups of one Parquet file."""

    index: int
    path: str
    row_groups: tuple[int, ...]
    offset: int
    rows: int


@dataclass(frozen=True)
class JobProgress:
    """Where a job is: rows scored (and written) of the total, and since when."""

    done: int
    total: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


def _parquet_files(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for spec in inputs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
            if not found:
                raise BatchInputError(
                    str(path), "no .parquet files in it", "Point at Parquet files."
                )
            files.extend(found)
        elif not path.is_file():
            raise BatchInputError(str(path), "no such file or directory", "Check the path.")
        elif path.suffix.lower() not in (".parquet", ".pq"):
            raise BatchInputError(
                str(path),
                f"the cluster engine reads Parquet, not {path.suffix!r}",
                "Convert it first (e.g. pandas.read_csv(...).to_parquet(...)), or use the "
                "local engine.",
            )
        else:
            files.append(path)
    return files


def plan_parts(files: Sequence[Path], part_rows: int = PART_ROWS) -> list[Part]:
    """Split Parquet files into tasks of whole row groups, with each task's first row number
    counted over all files in order (read from the files' footers only)."""
    import pyarrow.parquet as pq

    parts: list[Part] = []
    offset = 0
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        groups: list[int] = []
        rows = 0
        for g in range(metadata.num_row_groups):
            groups.append(g)
            rows += metadata.row_group(g).num_rows
            if rows >= part_rows:
                parts.append(Part(len(parts), str(path), tuple(groups), offset, rows))
                offset, groups, rows = offset + rows, [], 0
        if groups or metadata.num_row_groups == 0:
            parts.append(Part(len(parts), str(path), tuple(groups), offset, rows))
            offset += rows
    return parts


def _part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


@dataclass(frozen=True)
class PartResult:
    """What one task scored: counts for the job's summary."""

    index: int
    rows: int
    with_warnings: int
    by_class: dict[Any, int]
    low: float
    high: float
    total: float


def _score_part(
    part: Part,
    ref: BundleRef,
    staging: str,
    columns: Sequence[str],
    keep: Sequence[str],
    ignore_unknown: bool,
    chunk_rows: int,
) -> PartResult:
    """Runs on a worker: score one part and write it under ``staging`` (tmp file + rename)."""
    import math

    import pyarrow as pa
    import pyarrow.parquet as pq

    bundle = load_ref(ref)
    wanted = [*bundle.feature_names, *(k for k in keep if k not in bundle.feature_names)]
    source = pq.ParquetFile(part.path)
    present = [c for c in wanted if c in source.schema_arrow.names]
    tables = []
    offset = part.offset
    regression = bundle.manifest.output == "values"
    counts: dict[Any, int] = {}
    warned = 0
    low, high, total = math.inf, -math.inf, 0.0
    for group in part.row_groups:
        frame = source.read_row_group(group, columns=present).to_pandas()
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start : start + chunk_rows]
            scored = score_frame(
                bundle,
                chunk,
                offset=offset,
                source=part.path,
                columns=columns,
                keep=keep,
                ignore_unknown=ignore_unknown,
            )
            offset += len(chunk)
            prediction = scored["prediction"]
            if regression:
                low = min(low, float(prediction.min()))
                high = max(high, float(prediction.max()))
                total += float(prediction.sum())
            else:
                for label, n in prediction.value_counts(sort=False).items():
                    counts[label] = counts.get(label, 0) + int(n)
            if "warnings" in scored:
                warned += int((scored["warnings"] != "").sum())
            tables.append(pa.Table.from_pandas(scored, preserve_index=False))
    final = Path(staging) / _part_name(part.index)
    temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}")
    # No mkdir: if the job was abandoned and its staging directory removed, this part fails
    # instead of writing into a directory nobody will commit or clean up.
    if tables:
        pq.write_table(pa.concat_tables(tables), temporary)
    else:  # an empty part still has the output's columns
        table = pa.Table.from_pandas(
            output_meta(
                bundle, source.schema_arrow.empty_table().to_pandas(), columns=columns, keep=keep
            ),
            preserve_index=False,
        )
        pq.write_table(table, temporary)
    os.replace(temporary, final)
    return PartResult(part.index, part.rows, warned, counts, low, high, total)


def _remove(path: Path) -> None:
    for _ in range(5):  # a task still running may add a file while the tree is removed
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.2)
    shutil.rmtree(path, ignore_errors=True)


def _commit(staging: Path, output: Path, parts: int, overwrite: bool) -> None:
    expected = {_part_name(i) for i in range(parts)}
    for entry in staging.iterdir():  # half-written files of tasks that ran twice
        if entry.name not in expected:
            entry.unlink()
    missing = expected - {p.name for p in staging.iterdir()}
    if missing:
        raise ClusterJobError(
            str(output),
            f"{len(missing)} parts were reported written but are missing",
            "Workers must share the output's filesystem; nothing was committed.",
        )
    if output.exists():
        if not overwrite:
            raise ClusterJobError(
                str(output), "it appeared while the job ran", "Nothing was committed; rerun."
            )
        old = output.with_name(f".{output.name}.old-{uuid.uuid4().hex}")
        os.rename(output, old)
        os.rename(staging, output)
        shutil.rmtree(old)
    else:
        os.rename(staging, output)


def _client(workers: int | None, scheduler: str | None) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s"), None  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise ClusterJobError(
                scheduler,
                f"cannot reach the Dask scheduler ({exc})",
                "Check the address (tcp://HOST:8786) and that the scheduler is running.",
            ) from exc
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        scheduler_port=0,
        dashboard_address=None,
    )
    return Client(cluster), cluster  # type: ignore[no-untyped-call]


def score_files(
    bundle: Bundle | str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
    ship: str = "auto",
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    allow_version_mismatch: bool = False,
    overwrite: bool = False,
    part_rows: int = PART_ROWS,
    chunk_rows: int = CHUNK_ROWS,
    on_progress: Callable[[JobProgress], None] | None = None,
) -> ScoreSummary:
    """Score Parquet files on a Dask cluster into a directory of Parquet parts, atomically.

    Parameters
    ----------
    bundle
        A loaded bundle, a bundle directory or an fsspec URL (see :func:`predict`).
    inputs
        Parquet files, or directories of them; rows are numbered over all of them in order.
    output_dir
        The directory to create: ``part-00000.parquet``... in row order, each with the
        columns of ``score_frame``. Must be on a filesystem every worker can write.
    workers
        Worker processes (one thread each) of a ``LocalCluster`` started for this job and
        closed after it; default one per core.
    scheduler
        Join a running cluster instead (``tcp://HOST:8786``).
    client
        Use this ``distributed.Client`` instead (tests, notebooks); it is left open.
    ship
        ``"bytes"``: the bundle's files go to the workers with the job, and are verified
        there; ``"path"``: workers read the bundle from its path or URL. ``"auto"``: path for
        a local cluster, bytes when joining one.
    overwrite
        Replace an existing ``output_dir`` (only once the new one is complete).
    on_progress
        Called on the client after each part with a :class:`JobProgress`.

    Returns
    -------
    ScoreSummary
        Rows, predictions per class (or a regressor's range), rows with warnings.

    Raises
    ------
    BatchValidationError
        Rows do not fit the schema: names the file, the row number over all inputs, the
        field. Nothing is written.
    ClusterJobError
        The scheduler cannot be reached, the output exists, or parts went missing.
    BundleIntegrityError, UntrustedArtifactError
        On the client or on a worker: the bundle fails verification there.
    """
    output = Path(output_dir)
    if output.exists() and not overwrite:
        raise ClusterJobError(
            str(output), "the output directory exists", "Remove it or pass overwrite=True."
        )
    parts = plan_parts(_parquet_files(inputs), part_rows)
    total_rows = sum(p.rows for p in parts)
    own = client is None
    cluster = None
    if own:
        client, cluster = _client(workers, scheduler)
    if ship == "auto":
        ship = "path" if scheduler is None and own else "bytes"
    staging = output.parent / f".{output.name}.skbundle-tmp-{uuid.uuid4().hex}"
    try:
        ref, loaded = make_ref(
            bundle,
            ship=ship,
            trust_pickle=trust_pickle,
            trusted_types=trusted_types,
            allow_version_mismatch=allow_version_mismatch,
        )
        output.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        shared = client.scatter(ref, broadcast=True, hash=False)
        futures = client.map(
            _score_part,
            parts,
            ref=shared,
            staging=str(staging),
            columns=tuple(columns),
            keep=tuple(keep),
            ignore_unknown=ignore_unknown,
            chunk_rows=chunk_rows,
            pure=False,
        )
        results = _gather(futures, total_rows, on_progress)
        _commit(staging, output, len(parts), overwrite)
    except BaseException:
        _remove(staging)  # _gather cancelled what was still to run
        raise
    finally:
        if own:
            client.close()
            if cluster is not None:
                cluster.close()
    return _summary(loaded, results, output)


def _gather(
    futures: list[Any], total: int, on_progress: Callable[[JobProgress], None] | None
) -> list[PartResult]:
    from distributed import as_completed

    start = time.perf_counter()
    done = 0
    results: list[PartResult] = []
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            result: PartResult = future.result()
            results.append(result)
            done += result.rows
            if on_progress is not None:
                on_progress(JobProgress(done, total, time.perf_counter() - start))
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


def _summary(bundle: Bundle, results: list[PartResult], output: Path) -> ScoreSummary:
    summary = ScoreSummary(output=str(output))
    low, high, total = float("inf"), float("-inf"), 0.0
    for result in sorted(results, key=lambda r: r.index):
        summary.rows += result.rows
        summary.with_warnings += result.with_warnings
        for label, n in result.by_class.items():
            summary.by_class[label] = summary.by_class.get(label, 0) + n
        low, high, total = min(low, result.low), max(high, result.high), total + result.total
    if bundle.manifest.output == "values" and summary.rows:
        summary.values = (low, total / summary.rows, high)
    return summary
