"""Bundle.predict vs the raw pipeline, single row and 100 rows, measured side by side.

Target (issue 2): validation adds less than 10% to the scikit-learn runtime's single-row time.

Every method runs in the same process on the same data, interleaved round by round (so that
machine noise hits all of them alike); each figure is the median over rounds of the mean time
per call within a round.

    .venv/bin/python benchmarks/predict_latency.py [--rounds 30] [--calls 50] [--runtime joblib]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import skbundle
from skbundle import demo


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - start) / calls / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--runtime", default="joblib")
    args = parser.parse_args()

    fitted = demo.fit()
    pipeline, X_test = fitted.pipeline, fitted.X_test
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "b"
        fitted.save(path)
        bundle = skbundle.load(path, runtime=args.runtime, trust_pickle=True)

    row_frame = X_test.iloc[[0]]
    row_dict = X_test.iloc[0].to_dict()
    row_array = bundle.validate(row_dict).X
    batch_frame = X_test.iloc[:100]
    batch_dicts = batch_frame.to_dict(orient="records")
    batch_array = bundle.validate(batch_frame).X
    runtime = bundle._predictor  # the runtime alone: what validation is compared against

    assert np.array_equal(bundle.predict_proba(row_dict), pipeline.predict_proba(row_frame))
    assert np.array_equal(bundle.predict_proba(batch_dicts), pipeline.predict_proba(batch_frame))

    methods: dict[str, Callable[[], object]] = {
        "1 row: pipeline.predict_proba(DataFrame)": lambda: pipeline.predict_proba(row_frame),
        "1 row: runtime alone (validated array)": lambda: runtime.predict_output(row_array),
        "1 row: validation alone (dict)": lambda: bundle.validate(row_dict),
        "1 row: Bundle.predict(dict)": lambda: bundle.predict(row_dict),
        "100 rows: pipeline.predict_proba(DataFrame)": lambda: pipeline.predict_proba(batch_frame),
        "100 rows: runtime alone (validated array)": lambda: runtime.predict_output(batch_array),
        "100 rows: Bundle.predict(list of dicts)": lambda: bundle.predict(batch_dicts),
        "100 rows: Bundle.predict(DataFrame)": lambda: bundle.predict(batch_frame),
    }
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for fn in methods.values():  # warm-up
        per_call_us(fn, 5)
    for _ in range(args.rounds):
        for name, fn in methods.items():
            calls = args.calls if name.startswith("1 row") else max(args.calls // 10, 3)
            samples[name].append(per_call_us(fn, calls))
    median = {name: statistics.median(values) for name, values in samples.items()}

    print(
        f"# predict_latency: runtime={bundle.runtime.format}, {args.rounds} rounds, "
        f"python {platform.python_version()}, {platform.machine()}"
    )
    print()
    print("| method | median per call (us) |")
    print("|---|---:|")
    for name, value in median.items():
        print(f"| {name} | {value:,.1f} |")
    single_runtime = median["1 row: runtime alone (validated array)"]
    single_bundle = median["1 row: Bundle.predict(dict)"]
    validation = median["1 row: validation alone (dict)"]
    print()
    print(
        f"- validation alone adds {validation:.1f} us = "
        f"{validation / single_runtime:.2%} of the runtime's single-row time (target < 10%)"
    )
    print(
        f"- Bundle.predict(dict) end to end vs runtime alone: "
        f"{(single_bundle - single_runtime) / single_runtime:+.2%}"
    )
    print(
        f"- Bundle.predict(dict) vs pipeline.predict_proba(DataFrame): "
        f"{median['1 row: pipeline.predict_proba(DataFrame)'] / single_bundle:.2f}x faster"
    )
    raw_batch = median["100 rows: pipeline.predict_proba(DataFrame)"]
    ours_batch = median["100 rows: Bundle.predict(list of dicts)"]
    print(
        f"- 100 rows, Bundle.predict(list of dicts) vs pipeline.predict_proba(DataFrame): "
        f"{raw_batch / ours_batch:.2f}x"
    )


if __name__ == "__main__":
    main()
