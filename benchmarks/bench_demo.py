"""Readiness benchmark: run ``skbundle bench`` on the demo bundle and print the tables as Markdown.

The command itself is the measurement tool; this script builds the demo bundle (breast cancer,
StandardScaler -> RandomForest(100)), runs ``skbundle bench --trust-pickle`` on it as a user
would, then reads the stored figures back from bundle.json and prints them for RESULTS.md.

Usage: .venv/bin/python benchmarks/bench_demo.py [--n 1000] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="single-row calls per runtime")
    parser.add_argument("--out", type=Path, default=None, help="folder for the demo bundle")
    args = parser.parse_args()

    from skbundle import demo
    from skbundle.core.manifest import read_manifest

    with tempfile.TemporaryDirectory(prefix="skbundle-bench-") as tmp:
        out = args.out or Path(tmp)
        report = demo.run(out, repeat=1, readiness=False)
        path = report.bundle_path
        cli = Path(sys.executable).parent / "skbundle"
        start = time.perf_counter()
        subprocess.run(
            [str(cli), "bench", str(path), "--n", str(args.n), "--trust-pickle"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        bench_s = time.perf_counter() - start
        start = time.perf_counter()
        check = subprocess.run(
            [str(cli), "check", str(path), "--trust-pickle", "--json"],
            check=False,
            capture_output=True,
        )
        check_s = time.perf_counter() - start
        manifest = read_manifest(path)

    bench = manifest.benchmarks or {}
    machine = bench["machine"]
    print(
        f"Measured {bench['measured_at']} on {machine['platform']} ({machine['cpus']} CPUs), "
        f"Python {machine['python']}; n={bench['n']} single-row calls.\n"
    )
    print("| runtime | load (ms) | RSS added (MiB) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in bench["runtimes"].items():
        s = r["single"]
        print(
            f"| {name} | {r['load_ms']:.1f} | {r['rss_added_mb']:.1f} | {s['p50_ms']:.3f} | "
            f"{s['p90_ms']:.3f} | {s['p99_ms']:.3f} | {s['max_ms']:.3f} |"
        )
    print("\n| runtime | batch size | latency (ms) | rows/s |")
    print("|---|---:|---:|---:|")
    for name, r in bench["runtimes"].items():
        for b in r["batches"]:
            print(f"| {name} | {b['size']} | {b['latency_ms']:.2f} | {b['rows_per_s']:,.0f} |")
    print("\n| artifact | bytes |")
    print("|---|---:|")
    for artifact, size in bench["artifacts"].items():
        print(f"| {artifact} | {size:,} |")
    for name, r in bench["runtimes"].items():
        single = r["batches"][0]["rows_per_s"]
        big = r["batches"][-1]
        print(
            f"\n- {name}: a batch of {big['size']} scores {big['rows_per_s'] / single:.0f}x the "
            "rows per second of one-row calls (same run)"
        )
    print(f"- `skbundle bench --n {args.n}` took {bench_s:.1f} s end to end")
    print(
        f"- `skbundle check --trust-pickle` took {check_s:.1f} s (exit {check.returncode}; "
        "the load probe runs only where skbundle.serve is installed)"
    )


if __name__ == "__main__":
    main()
