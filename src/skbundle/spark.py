"""Score with a bundle on Spark: ``mapInPandas`` with an explicit output schema.

The same contract as one process and as :mod:`skbundle.dask`: each Python worker of an
executor verifies and loads the bundle once (:func:`skbundle.remote.load_ref`, cached per
process and keyed by the manifest's SHA-256), scores Arrow batches with
:func:`skbundle.batch.score_frame`, and results are identical row for row to
``Bundle.predict``. The bundle travels as a broadcast of its files (verified again on the
executor) or as a path or URL every executor can read; never as a pickled model.

Row numbers count over the whole DataFrame: the rows of each Spark partition are counted
first (in the JVM, no Python), and each partition starts from the sum of those before it.
That needs the DataFrame's partitioning to be the same both times, which holds for a read
of files or a cached DataFrame (not after a non-deterministic shuffle: cache it first).

A validation error on an executor reaches the driver as pyspark's ``PythonException`` whose
text holds skbundle's message (``BatchValidationError: Input from partition 3 does not fit...``):
Spark does not carry Python exception classes back.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from skbundle.batch import DEFAULT_COLUMNS, score_frame
from skbundle.bundle import Bundle
from skbundle.remote import BundleRef, load_ref, make_ref, output_meta

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType


def _spark_type(dtype: Any) -> DataType:
    from pyspark.sql import types as T

    kind = getattr(dtype, "kind", "O")
    if kind == "b":
        return T.BooleanType()
    if kind in "iu":
        return T.LongType()
    if kind == "f":
        return T.DoubleType()
    return T.StringType()


def output_schema(meta: pd.DataFrame, source: StructType, keep: Sequence[str]) -> StructType:
    """The Spark schema of the output: ``row``, the kept columns as the input has them, then
    the bundle's result columns typed from the output frame ``meta``."""
    from pyspark.sql import types as T

    fields = []
    for name in meta.columns:
        if name in keep:
            fields.append(source[name])
        else:
            fields.append(T.StructField(name, _spark_type(meta[name].dtype), nullable=True))
    return T.StructType(fields)


def _score_batches(
    batches: Iterator[pd.DataFrame],
    *,
    shipped: Any,
    offsets: Sequence[int],
    columns: Sequence[str],
    keep: Sequence[str],
    ignore_unknown: bool,
) -> Iterator[pd.DataFrame]:
    """Runs in an executor's Python worker: the batches of one partition, in order."""
    from pyspark import TaskContext

    context = TaskContext.get()
    number = context.partitionId() if context is not None else 0
    ref: BundleRef = shipped.value if hasattr(shipped, "value") else shipped
    bundle = load_ref(ref)
    offset = offsets[number]
    for frame in batches:
        yield score_frame(
            bundle,
            frame,
            offset=offset,
            source=f"partition {number}",
            columns=columns,
            keep=keep,
            ignore_unknown=ignore_unknown,
        )
        offset += len(frame)


def _count_rows(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Runs in an executor: the number of rows of this partition, with its number."""
    import pandas as pd
    from pyspark import TaskContext

    context = TaskContext.get()
    number = context.partitionId() if context is not None else 0
    rows = sum(len(frame) for frame in batches)
    yield pd.DataFrame({"p": [number], "n": [rows]})


def predict(
    df: DataFrame,
    bundle: Bundle | str | os.PathLike[str],
    *,
    columns: Sequence[str] = DEFAULT_COLUMNS,
    keep: Sequence[str] = (),
    ignore_unknown: bool = False,
    ship: str = "bytes",
    trust_pickle: bool = False,
    trusted_types: Sequence[str] = (),
    allow_version_mismatch: bool = False,
) -> DataFrame:
    """Score a Spark DataFrame: one output row per input row, as ``score_frame`` gives.

    Parameters
    ----------
    df
        The rows, with (at least) the bundle's features as columns; others are not sent to
        Python unless named in ``keep``.
    bundle
        A loaded bundle, a bundle directory or an fsspec URL; verified here, and again on
        every executor before it is loaded there.
    columns, keep, ignore_unknown
        As for :func:`skbundle.batch.score_frame`.
    ship
        ``"bytes"`` (default): a broadcast of the bundle's files; ``"path"``: its location,
        which every executor must be able to read.
    trust_pickle, trusted_types, allow_version_mismatch
        Load options, the same on the driver and on every executor.

    Returns
    -------
    pyspark.sql.DataFrame
        Lazy, ``row`` counting from 0 over ``df``; the rows of each partition are counted
        once here, in the JVM.

    Examples
    --------
    >>> scored = skbundle.spark.predict(spark.read.parquet("rows/"), "models/cancer")
    >>> scored.write.parquet("scored/")
    """
    ref, loaded = make_ref(
        bundle,
        ship=ship,
        trust_pickle=trust_pickle,
        trusted_types=trusted_types,
        allow_version_mismatch=allow_version_mismatch,
    )
    names = set(loaded.feature_names)
    wanted = [c for c in df.columns if c in names or c in keep]
    if ignore_unknown:
        wanted = list(df.columns)
    projected = df.select(*[df[c] for c in wanted])
    import pandas as pd

    # The kept columns' Spark types come from df.schema; pandas only needs their names here.
    kept = pd.DataFrame({name: pd.Series([], dtype=object) for name in keep})
    meta = output_meta(loaded, kept, columns=columns, keep=keep)
    schema = output_schema(meta, df.schema, keep)
    partitions = projected.rdd.getNumPartitions()
    # Counted through the same plan as the scoring below, so partition numbers agree (a
    # groupBy(spark_partition_id()) can be folded to one partition by Spark's optimizer).
    counting = projected.select(projected[wanted[0]]) if wanted else projected
    counts = {
        int(row["p"]): int(row["n"])
        for row in counting.mapInPandas(_count_rows, schema="p long, n long").collect()
    }
    offsets, running = [], 0
    for p in range(partitions):
        offsets.append(running)
        running += int(counts.get(p, 0))
    session = df.sparkSession
    shipped: Any = session.sparkContext.broadcast(ref) if ref.archive is not None else ref
    scorer = functools.partial(
        _score_batches,
        shipped=shipped,
        offsets=offsets,
        columns=tuple(columns),
        keep=tuple(keep),
        ignore_unknown=ignore_unknown,
    )
    return projected.mapInPandas(scorer, schema=schema)
