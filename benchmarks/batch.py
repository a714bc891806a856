"""Batch scoring on one machine: `skbundle predict` Parquet -> Parquet against the runtime alone.

Generates demo-like rows (the breast-cancer schema, rows resampled from the real data with 1%
multiplicative noise, seeded) into Parquet files of 2M and 8M rows, then measures in one run:

(a) the floor: the bundle's onnxruntime session alone, on one thread, on float64 matrices in
    memory, chunk by chunk as skbundle calls it (``OnnxPredictor.predict_output``), measured
    before and after the end-to-end runs (the machine may be shared: the mean is reported);
(b) end to end: ``skbundle predict BUNDLE in.parquet -o out.parquet`` in a child process
    (wall time, and peak RSS from ``/usr/bin/time -v``), with --jobs 1 and every core;
(c) the old path (the ``skbundle`` of another source tree, e.g. main's, given with
    ``--old-src``), at 2M rows only.

Prints a Markdown table. Usage::

    python benchmarks/batch.py [--rows 2000000,8000000] [--old-src /work/main/src]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 42
ROW_GROUP = 100_000
FLOOR_ROWS = 500_000
CHUNK = 10_000
SRC = Path(__file__).resolve().parents[1] / "src"


def make_bundle(root: Path) -> Path:
    import skbundle
    from skbundle import demo

    fitted = demo.fit()
    path = root / "breast-cancer"
    skbundle.save(
        fitted.pipeline,
        path,
        X_train=fitted.X_train,
        y_train=fitted.y_train,
        X_test=fitted.X_test,
        y_test=fitted.y_test,
        name="breast-cancer",
        class_names=fitted.names,
    )
    return path


def demo_rows(n: int, seed: int = SEED) -> np.ndarray:
    from skbundle import demo

    X, _, _ = demo.load_data()
    rng = np.random.default_rng(seed)
    base = X.to_numpy()
    return base[rng.integers(0, len(base), n)] * (1 + rng.normal(0, 0.01, (n, base.shape[1])))


def write_parquet(path: Path, n: int) -> None:
    """``n`` demo-like rows, written 500k at a time (the generator's memory stays small)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from skbundle import demo

    names = list(demo.load_data()[0].columns)
    schema = pa.schema([(c, pa.float64()) for c in names])
    with pq.ParquetWriter(path, schema) as writer:
        for k, start in enumerate(range(0, n, 500_000)):
            block = demo_rows(min(500_000, n - start), SEED + k)
            table = pa.Table.from_arrays(
                [pa.array(block[:, j]) for j in range(len(names))], schema=schema
            )
            writer.write_table(table, row_group_size=ROW_GROUP)


def floor_rate(bundle_path: Path) -> float:
    """Rows/s of the ONNX session alone, one thread, chunks of CHUNK rows in memory."""
    import skbundle

    bundle = skbundle.load(bundle_path, runtime="onnx")
    predictor = bundle._predictor  # the runtime as Bundle.predict calls it
    X = np.ascontiguousarray(demo_rows(FLOOR_ROWS, SEED + 99))
    predictor.predict_output(X[:CHUNK])  # warm up
    start = time.perf_counter()
    for s in range(0, len(X), CHUNK):
        predictor.predict_output(X[s : s + CHUNK])
    return len(X) / (time.perf_counter() - start)


def run_cli(src: Path, bundle: Path, source: Path, out: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of ``skbundle predict`` from the source tree ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    main = "import sys; from skbundle.cli import main; sys.argv[0] = 'skbundle'; main()"
    command = [
        sys.executable,
        "-c",
        main,
        "predict",
        str(bundle),
        str(source),
        "-o",
        str(out),
        *extra,
    ]
    timer = shutil.which("time") or "/usr/bin/time"
    start = time.perf_counter()
    done = subprocess.run([timer, "-v", *command], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return wall, int(match.group(1)) // 1024 if match else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000000,8000000")
    parser.add_argument("--old-src", default="", help="a source tree whose skbundle is (c)")
    parser.add_argument("--workdir", default="", help="keep the files here (default: temp)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",")]
    root = Path(args.workdir or tempfile.mkdtemp(prefix="skbundle-batch-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    bundle = root / "breast-cancer"
    if not (bundle / "bundle.json").exists():
        make_bundle(root)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    rows_md = []
    floors = []

    def measured(what: str, n: int, src: Path, source: Path, *extra: str) -> None:
        # The floor is measured right before and after each run: on a shared machine the
        # load changes from minute to minute, and the ratio is what the targets are about.
        before = floor_rate(bundle)
        out = root / "out.parquet"
        wall, rss = run_cli(src, bundle, source, out, *extra)
        after = floor_rate(bundle)
        floors.extend([before, after])
        out.unlink()
        rows_md.append((what, n, n / wall, wall, rss, (before + after) / 2))

    for n in sizes:
        source = root / f"in-{n}.parquet"
        if not source.exists():
            write_parquet(source, n)
        # One job on the first size only (the parallel speed-up); every core on all sizes.
        for jobs in sorted({1, cores}) if n == sizes[0] else [cores]:
            measured(f"(b) skbundle predict --jobs {jobs}", n, SRC, source, "--jobs", str(jobs))
        if args.old_src and n == sizes[0]:
            measured("(c) old path (one core)", n, Path(args.old_src), source)
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"floor measurements (rows/s): {', '.join(f'{f:,.0f}' for f in floors)}\n")
    print("| what | rows | rows/s | floor (a) around it, rows/s | x floor | wall s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for what, n, rate, wall, rss, floor in rows_md:
        print(
            f"| {what} | {n:,} | {rate:,.0f} | {floor:,.0f} | {rate / floor:.2f} | {wall:.1f} "
            f"| {rss} |"
        )
    print(
        f"\n(a) is the bundle's ONNX session alone on one thread, {FLOOR_ROWS:,} rows in "
        f"memory in chunks of {CHUNK:,}."
    )


if __name__ == "__main__":
    main()
