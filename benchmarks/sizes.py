"""Sizes of the demo bundle's artifacts, and how skops compares with compressed joblib.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/sizes.py

Fits the demo pipeline, saves the bundle into a temporary folder, and prints each artifact's
size, the size of the same pipeline in the other encodings for comparison (joblib without
compression, skops without compression), and the time ``skbundle.load`` takes per runtime.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import joblib
import skops.io as sio

import skbundle
from skbundle import demo


def _load_ms(path: Path, runtime: str, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        skbundle.load(path, runtime=runtime, trust_pickle=True)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


def main() -> None:
    fitted = demo.fit()
    pipeline = fitted.pipeline
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "breast-cancer"
        manifest = fitted.save(path)
        sizes = {a.path: a.bytes for a in manifest.artifacts}
        loads = {fmt: _load_ms(path, fmt) for fmt in ("onnx", "skops", "joblib")}
    raw = io.BytesIO()
    joblib.dump(pipeline, raw, compress=0)
    skops_raw = len(sio.dumps(pipeline, compression=zipfile.ZIP_STORED))
    joblib_z = sizes["model.joblib"]
    print("| artifact | bytes | KiB | load() median, hashes verified |")
    print("|---|---:|---:|---:|")
    for name, fmt in (("model.joblib", "joblib"), ("model.skops", "skops"), ("model.onnx", "onnx")):
        print(f"| {name} | {sizes[name]:,} | {sizes[name] / 1024:.1f} | {loads[fmt]:.1f} ms |")
    print(f"| requirements.txt | {sizes['requirements.txt']:,} | | |")
    print(
        f"| (joblib, uncompressed) | {len(raw.getvalue()):,} | {len(raw.getvalue()) / 1024:.1f} | |"
    )
    print(f"| (skops, uncompressed) | {skops_raw:,} | {skops_raw / 1024:.1f} | |")
    print()
    print(
        f"skops (deflated) is {sizes['model.skops'] / joblib_z:.1f}x the size of joblib "
        f"(zlib level 3); uncompressed, skops is {skops_raw / len(raw.getvalue()):.1f}x joblib."
    )


if __name__ == "__main__":
    main()
