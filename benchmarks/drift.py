"""Drift over 1,000,000 rows x 30 features: the time from file to report (target: <= 5 s).

The rows are the breast-cancer data resampled with 1% jitter (so every value is new), written
once to Parquet and CSV in a temporary folder; the bundle is the demo pipeline. Each
configuration is run three times and the best time is reported, side by side, in one run.

Run:  .venv/bin/python benchmarks/drift.py [--rows 1000000] [--csv]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

import skbundle
from skbundle import batch, demo
from skbundle.monitor.drift import drift_source

TARGET_SECONDS = 5.0


def make_rows(n: int, seed: int = 0) -> pd.DataFrame:
    X, _, _ = demo.load_data()
    rng = np.random.default_rng(seed)
    rows = X.to_numpy()[rng.integers(0, len(X), n)]
    rows *= 1 + 0.01 * rng.standard_normal(rows.shape)
    return pd.DataFrame(rows, columns=X.columns)


def best_of(runs: int, fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", action="store_true", help="also time a CSV input")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="skbundle-bench-drift-") as tmp:
        root = Path(tmp)
        fitted = demo.fit()
        fitted.save(root / "bundle")
        bundle = skbundle.load(root / "bundle", trust_pickle=True)
        frame = make_rows(args.rows)
        parquet = root / "new.parquet"
        frame.to_parquet(parquet, index=False, row_group_size=100_000)
        print(f"rows: {len(frame):,} x {frame.shape[1]} features; cpus: {os.cpu_count()}")
        print(f"parquet: {parquet.stat().st_size / 1e6:.1f} MB")
        inputs = [("parquet", parquet)]
        if args.csv:
            csv = root / "new.csv"
            frame.to_csv(csv, index=False)
            print(f"csv: {csv.stat().st_size / 1e6:.1f} MB")
            inputs.append(("csv", csv))
        del frame

        for kind, path in inputs:
            source = batch.open_source(str(path))
            read_only, _ = best_of(
                args.runs,
                lambda s=source: sum(len(c) for c, _ in batch.iter_chunks(s, 100_000)),
            )
            seconds, report = best_of(args.runs, lambda s=source: drift_source(bundle, s))
            tracemalloc.start()
            drift_source(bundle, source)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            verdict = report.verdict  # type: ignore[attr-defined]
            status = "PASS" if seconds <= TARGET_SECONDS else "FAIL"
            print(
                f"{kind:8s} best of {args.runs}: {seconds:6.2f} s  "
                f"({args.rows / seconds / 1e6:.2f} M rows/s, peak traced memory "
                f"{peak / 1e6:.0f} MB, verdict {verdict})  target <= {TARGET_SECONDS:.0f} s: "
                f"{status}; reading the file alone: {read_only:.2f} s"
            )


if __name__ == "__main__":
    main()
