"""What prediction logging costs the serving hot path, measured side by side in one run.

For a one-row request (the common case) it times, per call:
  * the request's own work: validate a dict and predict with the demo bundle;
  * PredictionLogger.log() on that request's arrays (what the handler adds);
and then how many rows per second the background writer sustains, and the bytes per row.

Run:  .venv/bin/python benchmarks/predlog.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import skbundle
from skbundle import demo
from skbundle.monitor.predlog import PredictionLogger


def per_call_us(fn, calls: int) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="skbundle-bench-predlog-") as tmp:
        root = Path(tmp)
        fitted = demo.fit()
        fitted.save(root / "bundle")
        bundle = skbundle.load(root / "bundle", trust_pickle=True)
        record = fitted.X_test.iloc[0].to_dict()
        checked = bundle.validate(record)
        proba = bundle.predict_validated(checked)

        def request() -> None:
            bundle.predict_validated(bundle.validate(record))

        request_us = per_call_us(request, max(args.calls // 20, 200))
        logger = PredictionLogger(
            root / "log" / "predictions.jsonl",
            features=bundle.feature_names,
            classes=bundle.classes,
            queue_size=args.calls * 4,
        )
        log_us = per_call_us(lambda: logger.log(checked.X, proba), args.calls)
        start = time.perf_counter()
        logger.flush()
        drain = time.perf_counter() - start

        # Sustained writer throughput, for one-row requests and for 100-row batches.
        throughput = {}
        for rows_per_call in (1, 100):
            batch_X = np.repeat(checked.X, rows_per_call, axis=0)
            batch_p = np.repeat(proba, rows_per_call, axis=0)
            calls = args.calls // rows_per_call
            start = time.perf_counter()
            for _ in range(calls):
                logger.log(batch_X, batch_p)
            logger.flush()
            throughput[rows_per_call] = calls * rows_per_call / (time.perf_counter() - start)
        logger.close()
        size = (root / "log" / "predictions.jsonl").stat().st_size
        print(f"one-row request, validate + predict:   {request_us:8.1f} us/call")
        print(
            f"PredictionLogger.log() on the hot path: {log_us:8.2f} us/call "
            f"({log_us / request_us:.2%} of the request)"
        )
        print(f"dropped: {logger.dropped} rows; queue drained {drain * 1e3:.0f} ms after the loop")
        for rows_per_call, rate in throughput.items():
            print(
                f"background writer, {rows_per_call:3d}-row calls: {rate:10,.0f} rows/s "
                f"({1e6 / rate:.1f} us of writer time per row)"
            )
        print(f"{size / logger.written:.0f} bytes/row on disk ({logger.written:,} rows written)")


if __name__ == "__main__":
    main()
