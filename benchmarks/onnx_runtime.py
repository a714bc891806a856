"""Trust and fidelity benchmarks: ONNX prediction latency, its ratio to scikit-learn, load time.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/onnx_runtime.py

It fits the demo pipeline (breast cancer, StandardScaler -> RandomForest(100)), saves it as a
bundle in a temporary folder, then measures, side by side in one process:

- ``Bundle.predict(record)`` on one dict record with the ONNX runtime, validation included;
- the fitted pipeline's own ``predict_proba`` on a one-row DataFrame;
- ``skbundle.load(path)`` (auto -> ONNX), every file's SHA-256 verified.

The two predictions alternate in rounds so that both see the same machine load. Targets
(issue 3): predict p50 <= 25 us and >= 200x faster than predict_proba; load <= 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import skbundle
from skbundle import demo


def _percentiles(ns: list[int]) -> dict[str, float]:
    us = np.array(ns, dtype=np.float64) / 1000.0
    return {
        "p50": float(np.percentile(us, 50)),
        "p90": float(np.percentile(us, 90)),
        "p99": float(np.percentile(us, 99)),
    }


def _time_calls(fn: Any, arg: Any, n: int) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        start = clock()
        fn(arg)
        out.append(clock() - start)
    return out


def run(rounds: int, per_round_fast: int, per_round_slow: int, loads: int) -> dict[str, Any]:
    fitted = demo.fit()
    pipeline, X_test = fitted.pipeline, fitted.X_test
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "breast-cancer"
        fitted.save(path)
        bundle = skbundle.load(path)
        assert bundle.runtime.format == "onnx", bundle.runtime
        record = X_test.iloc[0].to_dict()
        row = X_test.iloc[[0]]
        # Same answer from both, bit for bit, before anything is timed.
        got = list(bundle.predict(record)[0]["probabilities"].values())
        assert got == pipeline.predict_proba(row)[0].tolist()
        for _ in range(200):  # warm up both paths
            bundle.predict(record)
        pipeline.predict_proba(row)
        fast: list[int] = []
        slow: list[int] = []
        for _ in range(rounds):
            fast += _time_calls(bundle.predict, record, per_round_fast)
            slow += _time_calls(pipeline.predict_proba, row, per_round_slow)
        # Where the time of one call goes (profile before optimising).
        checked = bundle.validator.validate(record)
        predictor = bundle._predictor
        proba = predictor.predict_output(checked.X)
        parts = {
            "validate(dict)": _time_calls(bundle.validator.validate, record, 5000),
            "onnxruntime call": _time_calls(predictor.predict_output, checked.X, 5000),
            "result dicts": _time_calls(lambda w: bundle.results(proba, w), checked.warnings, 5000),
        }
        load_ms = []
        for _ in range(loads):
            start = time.perf_counter_ns()
            skbundle.load(path)
            load_ms.append((time.perf_counter_ns() - start) / 1e6)
    fast_p = _percentiles(fast)
    slow_p = _percentiles(slow)
    return {
        "predict_onnx_us": fast_p,
        "predict_proba_sklearn_us": slow_p,
        "ratio_p50": slow_p["p50"] / fast_p["p50"],
        "n_fast": len(fast),
        "n_slow": len(slow),
        "load_ms": {"p50": statistics.median(load_ms), "min": min(load_ms)},
        "n_loads": loads,
        "parts_us": {k: _percentiles(v)["p50"] for k, v in parts.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--fast", type=int, default=2000, help="ONNX calls per round")
    parser.add_argument("--slow", type=int, default=30, help="predict_proba calls per round")
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    r = run(args.rounds, args.fast, args.slow, args.loads)
    f, s = r["predict_onnx_us"], r["predict_proba_sklearn_us"]
    print("| measurement | p50 | p90 | p99 | target |")
    print("|---|---|---|---|---|")
    print(
        f"| Bundle.predict(dict), ONNX, {r['n_fast']} calls | {f['p50']:.1f} us | "
        f"{f['p90']:.1f} us | {f['p99']:.1f} us | p50 <= 25 us |"
    )
    print(
        f"| pipeline.predict_proba(1-row DataFrame), {r['n_slow']} calls | {s['p50']:.0f} us | "
        f"{s['p90']:.0f} us | {s['p99']:.0f} us | |"
    )
    print(f"| ratio of p50s | {r['ratio_p50']:.0f}x | | | >= 200x |")
    print(
        f"| skbundle.load() -> ONNX, hashes verified, {r['n_loads']} loads | "
        f"{r['load_ms']['p50']:.1f} ms | | | <= 100 ms (min {r['load_ms']['min']:.1f} ms) |"
    )
    print()
    print("one Bundle.predict(dict) call, by part (p50 of 5000 calls each):")
    for name, us in r["parts_us"].items():
        print(f"- {name}: {us:.1f} us")


if __name__ == "__main__":
    main()
