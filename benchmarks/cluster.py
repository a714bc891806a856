"""Cluster scoring: 1 vs 2 Dask workers on a LocalCluster, and Dask's cost over one process.

Generates demo-like rows (the breast-cancer features, resampled with seeded noise) into one
Parquet file of 250k-row groups, builds the demo bundle, then times

* one process: a plain loop of ``score_frame`` over the row groups, on one core (what
  ``skbundle predict --engine local`` does, without the writing);
* ``skbundle.dask.score_files`` on a LocalCluster of 1 and of 2 worker processes (1 thread
  each), Parquet parts written and committed; cluster start-up timed apart.

Prints a Markdown table. Usage::

    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py            # 8M rows
    PYTHONPATH=src .venv/bin/python benchmarks/cluster.py --rows 500000
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import skbundle
from skbundle import demo

try:  # the batch branch's columnar scorer, once merged
    from skbundle.batch import score_frame  # type: ignore[attr-defined]
except ImportError:
    from skbundle._frame_standin import score_frame

GROUP = 250_000
"""Rows per Parquet row group (fewer for a small --rows, so that there are 16 parts or more)."""


def make_rows(n: int, path: Path, seed: int = 0) -> None:
    """``n`` demo-like rows: resampled training rows, each value jittered by 1% of its std."""
    fitted = demo.fit()
    base = pd.concat([fitted.X_train, fitted.X_test], ignore_index=True)
    std = base.std().to_numpy()
    rng = np.random.default_rng(seed)
    writer = None
    group = max(1, min(GROUP, n // 16))
    for start in range(0, n, group):
        size = min(group, n - start)
        picked = base.to_numpy()[rng.integers(0, len(base), size)]
        values = np.abs(picked + rng.normal(0.0, 0.01, picked.shape) * std)
        table = pa.Table.from_pandas(pd.DataFrame(values, columns=base.columns))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=group)
    assert writer is not None
    writer.close()


def single_process(bundle: skbundle.Bundle, path: Path) -> float:
    start = time.perf_counter()
    source = pq.ParquetFile(path)
    offset = 0
    for group in range(source.num_row_groups):
        frame = source.read_row_group(group).to_pandas()
        score_frame(bundle, frame, offset=offset, source=str(path))
        offset += len(frame)
    return time.perf_counter() - start


def on_dask(bundle: skbundle.Bundle, path: Path, out: Path, workers: int) -> tuple[float, float]:
    from distributed import Client, LocalCluster

    from skbundle.dask import score_files

    start = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        scheduler_port=0,
        dashboard_address=None,
    )
    client = Client(cluster)
    # Warm each worker (imports, bundle verified and loaded) so the job measures scoring.
    client.run(lambda: __import__("skbundle.dask"))
    started = time.perf_counter() - start
    try:
        begin = time.perf_counter()
        score_files(bundle, [path], out, client=client, part_rows=1)  # a part per group
        return started, time.perf_counter() - begin
    finally:
        client.close()
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skbundle-bench-cluster-") as tmp:
        root = Path(tmp)
        make_rows(args.rows, root / "rows.parquet")
        if not (root / "bundle" / "bundle.json").exists():
            fitted = demo.fit()
            skbundle.save(
                fitted.pipeline,
                root / "bundle",
                X_train=fitted.X_train,
                y_train=fitted.y_train,
                X_test=fitted.X_test,
                y_test=fitted.y_test,
                name="breast-cancer",
                class_names=fitted.names,
            )
        bundle = skbundle.load(root / "bundle")
        one = single_process(bundle, root / "rows.parquet")
        start1, dask1 = on_dask(bundle, root / "rows.parquet", root / "out1", 1)
        start2, dask2 = on_dask(bundle, root / "rows.parquet", root / "out2", 2)
    n = args.rows
    print(
        f"{n:,} rows, 30 features, breast-cancer bundle ({bundle.runtime.format}), "
        f"{os.cpu_count()} cores; scorer: {score_frame.__module__}.score_frame\n"
    )
    print("| engine | workers | cluster start (s) | job (s) | rows/s | vs one process |")
    print("|---|---|---|---|---|---|")
    print(f"| one process, loop of score_frame | 1 | - | {one:.1f} | {n / one:,.0f} | 1.00x |")
    for workers, started, took in ((1, start1, dask1), (2, start2, dask2)):
        print(
            f"| dask LocalCluster, score_files | {workers} | {started:.1f} | {took:.1f} | "
            f"{n / took:,.0f} | {one / took:.2f}x |"
        )
    print(
        f"\nScaling 1 -> 2 workers: {dask1 / dask2:.2f}x, efficiency {dask1 / dask2 / 2:.0%}. "
        f"Dask overhead at 1 worker: {dask1 / one - 1:+.0%} of the one-process time "
        "(reading, writing Parquet parts, scheduling)."
    )


if __name__ == "__main__":
    main()
